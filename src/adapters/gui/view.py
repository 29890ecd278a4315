"""The view port: everything the presenter asks of a window, and what the window reports back.

The Tk window implements :class:`ChatView`; tests use a recording fake. The view is passive: it
shows what it is given and reports what the person did to a :class:`ViewListener` (the
presenter), deciding nothing itself beyond layout and scrolling. What it is given (rows,
headings, notices) is plain data, defined in :mod:`view_data` and re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from chinwag.adapters.gui.view_data import (
    Chat,
    DataForm,
    DataKind,
    DoctorRow,
    DoctorView,
    FileAction,
    FileRow,
    GroupHeading,
    GroupRow,
    KeyChangeNotice,
    MemberRow,
    MessageRow,
    PersonRow,
    SafetyNumberView,
    SearchResultRow,
    StatusLevel,
)

__all__ = [
    "Chat",
    "ChatView",
    "DataForm",
    "DataKind",
    "DataListener",
    "DoctorRow",
    "DoctorView",
    "FileAction",
    "FileListener",
    "FileRow",
    "GroupHeading",
    "GroupRow",
    "KeyChangeNotice",
    "MemberRow",
    "MessageRow",
    "PersonRow",
    "SafetyNumberView",
    "SearchResultRow",
    "StatusLevel",
    "ViewListener",
]


class ViewListener(Protocol):
    """What the person did; the view calls these on the Tk thread."""

    def sign_in_requested(self, username: str, registry: str) -> None: ...
    def conversation_selected(self, peer: Chat) -> None:
        """Open the conversation with a person (their name) or of a group (its id)."""
        ...

    def send_requested(self, text: str) -> None: ...
    def older_requested(self) -> None:
        """The person scrolled to the top of the open conversation."""
        ...

    def search_requested(self, text: str) -> None: ...
    def search_result_selected(self, result: SearchResultRow) -> None: ...
    def verify_requested(self, peer: str) -> None:
        """Show the safety number with ``peer`` (the verify dialog)."""
        ...

    def mark_verified_requested(self, peer: str, number: str) -> None:
        """The person typed the number ``peer`` reads out and asked to mark them verified."""
        ...

    def verify_closed(self, peer: str) -> None: ...
    def accept_key_requested(self, peer: str) -> None:
        """Accept the new key ``peer`` shows (the one the banner names)."""
        ...

    def new_chat_requested(self, name: str) -> None:
        """The new chat dialog asks to talk to ``name``."""
        ...

    def new_chat_search_requested(self, text: str) -> None:
        """Find who is online whose name starts with ``text``: the new chat dialog asks when
        it opens and when the person pauses typing."""
        ...

    def next_conversation_requested(self, step: int) -> None:
        """Open the next (1) or previous (-1) person of the list."""
        ...

    def new_group_requested(self, name: str, members: Sequence[str]) -> None:
        """The new group dialog asks for a group called ``name`` with these people."""
        ...

    def group_add_requested(self, group: UUID, names: Sequence[str]) -> None:
        """Add these people to ``group`` (the add dialog)."""
        ...

    def group_remove_requested(self, group: UUID, member: str) -> None: ...
    def group_admin_requested(self, group: UUID, member: str) -> None:
        """Make ``member`` an admin of ``group``."""
        ...

    def group_rename_requested(self, group: UUID, name: str) -> None: ...
    def group_leave_requested(self, group: UUID) -> None:
        """The person confirmed leaving ``group``."""
        ...

    def focus_changed(self, focused: bool) -> None:
        """The window gained or lost the keyboard focus (the person can see it, or not); also
        said once when the window first shows, as it is then."""
        ...

    def bottom_reached(self) -> None:
        """The newest message of the open conversation came into view: the person scrolled
        down to it or clicked the "new messages" hint."""
        ...

    def notifications_toggled(self, enabled: bool) -> None:
        """The person turned desktop notifications on or off."""
        ...

    def doctor_requested(self) -> None:
        """Open the connection doctor (Chat ▸ Connection doctor…), or check again in it."""
        ...

    def doctor_closed(self) -> None:
        """The connection doctor's window was closed."""
        ...

    def close_requested(self) -> None:
        """Quit: the close button, the menu's Quit, Ctrl+Q (or Ctrl-C in the terminal)."""
        ...


class FileListener(Protocol):
    """What the person did to files (the attach button, Ctrl+O, a file row's buttons). Apart
    from :class:`ViewListener` so a window can be built without it (it then offers no files)."""

    def files_chosen(self, paths: Sequence[str]) -> None:
        """Send these files to the open conversation (picked in the file dialog)."""
        ...

    def file_accept_requested(self, transfer: UUID, directory: str | None) -> None:
        """Accept an offered file, into ``directory`` (picked with "Save to…") or, ``None``,
        the downloads folder."""
        ...

    def file_decline_requested(self, transfer: UUID) -> None: ...
    def file_cancel_requested(self, transfer: UUID) -> None: ...
    def file_open_requested(self, transfer: UUID) -> None:
        """Open a received (or sent) file with the desktop's application for it."""
        ...

    def file_show_requested(self, transfer: UUID) -> None:
        """Show the file in its folder (the file manager)."""
        ...


class DataListener(Protocol):
    """What the person did about their data: Chat ▸ Back up…, Export conversation…, Restore…
    and "Restore from backup…" on the sign-in card. Apart from :class:`ViewListener` so a
    window can be built without it (it then offers none of them)."""

    def backup_requested(self) -> None: ...

    def backup_submitted(self, path: str, passphrase: str, again: str) -> None:
        """The backup dialog asks to write the backup to ``path`` with this passphrase
        (``again``: the same one typed a second time)."""
        ...

    def restore_requested(self) -> None:
        """ "Restore from backup…" on the sign-in card, or Chat ▸ Restore…"""
        ...

    def restore_submitted(self, path: str, passphrase: str) -> None: ...
    def replace_answered(self, replace: bool) -> None:
        """The person's answer to :meth:`ChatView.ask_replace`."""
        ...

    def data_closed(self) -> None:
        """The backup or restore dialog was closed."""
        ...

    def export_requested(self, chat: Chat | None) -> None:
        """Chat ▸ Export conversation…, for the conversation shown (``None``: none is)."""
        ...

    def export_chosen(self, path: str) -> None:
        """The file picked to export to (after :meth:`ChatView.choose_export_file`)."""
        ...


class ChatView(Protocol):
    """What the presenter shows. Every call comes on the Tk thread."""

    # -- signing in ---------------------------------------------------------------------------
    def show_sign_in(self, username: str, registry: str) -> None:
        """Show (or keep showing) the sign-in dialog, prefilled."""
        ...

    def set_sign_in_busy(self, busy: bool) -> None:
        """While busy the dialog cannot be submitted again and says it is signing in."""
        ...

    def show_sign_in_error(self, text: str) -> None:
        """Say why signing in failed; the dialog stays open so the person can fix or retry."""
        ...

    def show_main(self, user: str) -> None:
        """Close the dialog and show the main window for ``user``."""
        ...

    # -- the side list ------------------------------------------------------------------------
    def set_people(self, people: Sequence[PersonRow | GroupRow]) -> None:
        """Replace the list of people (online ones and earlier conversations) and groups, with
        unread counts."""
        ...

    # -- the open conversation ----------------------------------------------------------------
    def open_conversation(
        self, peer: str, messages: Sequence[MessageRow], more_before: bool
    ) -> None:
        """Show the conversation with ``peer``: ``messages`` oldest first, scrolled to the bottom.
        ``more_before`` says whether older messages can still be loaded."""
        ...

    def open_group(
        self, group: GroupHeading, messages: Sequence[MessageRow], more_before: bool
    ) -> None:
        """Show the conversation of ``group``, as :meth:`open_conversation` does a person's,
        headed by its name, its members and what the user may do there."""
        ...

    def show_group(self, group: GroupHeading) -> None:
        """The open group changed (members, name, admins, the user left): show it so."""
        ...

    def append_messages(self, messages: Sequence[MessageRow]) -> None:
        """Add new messages at the bottom. If the person is at the bottom, or has just sent one
        of them, follow them; if they have scrolled up, stay where they are and show a "new
        messages" hint instead."""
        ...

    def prepend_messages(self, messages: Sequence[MessageRow], more_before: bool) -> None:
        """Add an older page at the top, keeping what the person is looking at in place."""
        ...

    def update_message(self, message: MessageRow) -> None:
        """Show a shown message's new delivery state (its mark, and the reason of a failure)."""
        ...

    def update_file(self, row: FileRow) -> None:
        """A shown file row's transfer moved or made progress: update that row in place (its
        status, progress bar and buttons); nothing if it is not shown."""
        ...

    def set_divider(self, before: UUID | None) -> None:
        """Put the "new messages" divider above the shown message ``before``; None removes it.
        If the view was at the bottom, it stays there unless that would scroll the divider
        out of sight: then the divider goes to the top and the "new messages" hint shows."""
        ...

    def newest_visible(self) -> bool:
        """Whether the newest message of the open conversation is in view now (the person can
        see it); only then is it marked read."""
        ...

    def focus_message(self, message_id: UUID) -> None:
        """Scroll to a shown message and highlight it (a search result was opened)."""
        ...

    def clear_entry(self) -> None: ...
    def restore_entry(self, text: str) -> None:
        """Put back the text of a message that could not be sent, unless the person has typed
        something else since."""
        ...

    # -- identity ---------------------------------------------------------------------------------
    def show_own_key(self, fingerprint: str) -> None:
        """The user's own key, where they can read it out or copy it."""
        ...

    def show_key_change(self, notice: KeyChangeNotice | None) -> None:
        """The banner over the open conversation; ``None`` removes it."""
        ...

    def show_verify(self, safety: SafetyNumberView) -> None:
        """Open the verify dialog, or show new data in it (clearing its error)."""
        ...

    def set_verify_busy(self, busy: bool) -> None:
        """While busy, "Mark as verified" cannot be pressed again."""
        ...

    def show_verify_error(self, text: str) -> None:
        """Say in the open verify dialog why marking as verified failed."""
        ...

    # -- search -------------------------------------------------------------------------------
    def show_search_results(self, text: str, results: Sequence[SearchResultRow]) -> None: ...

    # -- the window -----------------------------------------------------------------------------
    def set_title(self, title: str) -> None:
        """The window's title (with the unread total)."""
        ...

    def set_notifications(self, enabled: bool) -> None:
        """Show whether desktop notifications are on (the menu's check mark)."""
        ...

    def raise_window(self) -> None:
        """Bring the window to the front (a notification was clicked)."""
        ...

    # -- the connection doctor ------------------------------------------------------------------
    def show_doctor(self, report: DoctorView) -> None:
        """Open the connection doctor's window, or show new results in it."""
        ...

    # -- the new chat dialog --------------------------------------------------------------------
    def set_new_chat_busy(self, busy: bool) -> None:
        """While busy the dialog cannot be submitted again and says it is looking the name up."""
        ...

    def show_new_chat_error(self, text: str) -> None:
        """Say in the open new chat dialog why that name cannot be used; it stays open."""
        ...

    def show_new_chat_results(self, names: Sequence[str], note: str) -> None:
        """Show what the last search found in the new chat dialog (people online, to pick
        one), and ``note`` under them: why there is nobody, or that there are more ("" for
        nothing to say)."""
        ...

    def close_new_chat(self) -> None: ...

    # -- the group dialogs (new group; add people, rename, leave) ------------------------------
    def set_group_dialog_busy(self, busy: bool) -> None:
        """While busy the open group dialog cannot be submitted again and says it is working."""
        ...

    def show_group_dialog_error(self, text: str) -> None:
        """Say in the open group dialog why it cannot be done; it stays open."""
        ...

    def close_group_dialog(self) -> None: ...

    # -- your data: backup, restore, export ------------------------------------------------------
    def show_data(self, form: DataForm) -> None:
        """Open the backup or the restore dialog, empty but for the proposed file."""
        ...

    def set_data_busy(self, text: str) -> None:
        """While ``text`` ("Backing up…") is shown the dialog cannot be submitted; "" ends it."""
        ...

    def show_data_error(self, text: str) -> None:
        """Say in the open data dialog why it was not done; it stays open to fix and retry."""
        ...

    def show_data_done(self, text: str) -> None:
        """Say in the open data dialog what was done; the passphrases typed are cleared."""
        ...

    def ask_replace(self, question: str) -> None:
        """Ask whether to replace an identity (a clear yes/no, "no" the default); the answer
        comes as :meth:`DataListener.replace_answered`."""
        ...

    def choose_export_file(self, suggested: str) -> None:
        """Ask for the file to export to, proposing ``suggested``; a choice comes as
        :meth:`DataListener.export_chosen` (nothing if the person cancels)."""
        ...

    def show_notice(self, title: str, text: str) -> None:
        """Tell the person something they must read before going on (a message box)."""
        ...

    def set_sign_in_name(self, name: str) -> None:
        """Put ``name`` in the sign-in dialog's username (a user was just restored)."""
        ...

    # -- status -------------------------------------------------------------------------------
    def set_status(self, text: str, level: StatusLevel) -> None:
        """The status bar: the registry connection and other lasting conditions."""
        ...

    def show_error(self, text: str) -> None:
        """Tell the person something went wrong with what they just did (non-modal)."""
        ...

    def close(self) -> None: ...
