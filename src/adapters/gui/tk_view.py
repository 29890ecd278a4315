"""The Tk window: a passive :class:`~chinwag.adapters.gui.view.ChatView`.

It renders what the presenter gives it and reports what the person does to a
:class:`~chinwag.adapters.gui.view.ViewListener`; it knows nothing about the network or storage
and decides nothing about chat. Everything here runs on the Tk thread.

This module lays the window out and hands each call to its part: the sign-in card
(``tk_sign_in``), the side panel with the list of people and groups and the search box
(``tk_side``), the right side (``tk_conversation``: the header, the conversation pane, the
composer, the search results, the key-change banner, a group's members window), the verify
dialog and the user's own key (``tk_identity``), the menu bar and shortcuts (``tk_menu``), the
new chat dialog (``tk_new_chat``), the group dialog (``tk_group_dialog``) and the backup and
restore dialog (``tk_data``); colours, fonts and styles are in ``tk_look``.
"""

from __future__ import annotations

import contextlib
import gc
import tkinter as tk
from collections.abc import Sequence
from dataclasses import dataclass
from tkinter import ttk
from uuid import UUID

from chinwag.adapters.gui.tk_conversation import ConversationSide
from chinwag.adapters.gui.tk_data import DataWindows
from chinwag.adapters.gui.tk_doctor import DoctorWindow
from chinwag.adapters.gui.tk_file_rows import FilePickers
from chinwag.adapters.gui.tk_focus import FocusWatch
from chinwag.adapters.gui.tk_group_dialog import Form, GroupDialog, Submit
from chinwag.adapters.gui.tk_identity import KeyChangeBanner, VerifyDialog
from chinwag.adapters.gui.tk_look import BG, Fonts, apply_styles
from chinwag.adapters.gui.tk_members import MembersWindow
from chinwag.adapters.gui.tk_menu import SHORTCUTS, MenuActions, MenuBar, bind_shortcut
from chinwag.adapters.gui.tk_new_chat import NewChatDialog
from chinwag.adapters.gui.tk_side import SidePanel
from chinwag.adapters.gui.tk_sign_in import SignIn
from chinwag.adapters.gui.tk_status import StatusBar
from chinwag.adapters.gui.tk_view_reading import WindowReadings
from chinwag.adapters.gui.tk_widgets import Timers
from chinwag.adapters.gui.view import (
    DataListener,
    DoctorView,
    FileListener,
    FileRow,
    GroupHeading,
    GroupRow,
    KeyChangeNotice,
    MessageRow,
    PersonRow,
    SafetyNumberView,
    SearchResultRow,
    StatusLevel,
    ViewListener,
)


@dataclass(frozen=True)
class TkWidgets:
    """The widgets tests drive with ``event_generate`` (not for the presenter)."""

    username: ttk.Entry
    registry: ttk.Entry
    sign_in_button: ttk.Button
    sign_in_error: ttk.Label
    search: ttk.Entry
    people: ttk.Treeview
    header: ttk.Label
    verify: ttk.Button
    messages: tk.Text
    new_messages: ttk.Button
    entry: tk.Text
    send_button: ttk.Button
    results: ttk.Treeview
    results_title: ttk.Label
    status: ttk.Label
    own_key: ttk.Entry
    banner: KeyChangeBanner
    verify_dialog: VerifyDialog
    menu: MenuBar
    new_chat: NewChatDialog
    new_chat_link: tk.Label
    """"+ New chat" beside the list of chats: opens ``new_chat``."""
    doctor: DoctorWindow
    group_dialog: GroupDialog
    members: MembersWindow
    """A group's members window (opened by the header's ``members_button``)."""
    members_button: ttk.Button


class TkChatView(WindowReadings, DataWindows):
    """The chat window. ``root`` is owned by the caller until :meth:`close` destroys it."""

    error_seconds: float = 6.0
    """How long :meth:`show_error` shows its text in the status bar."""

    def __init__(
        self,
        root: tk.Tk,
        listener: ViewListener,
        files: FileListener | None = None,
        pickers: FilePickers | None = None,
        data: DataListener | None = None,
    ) -> None:
        """``files``: what to tell of files (without it, the window offers none);
        ``pickers``: the file dialogs (tests replace them); ``data``: what to tell of backups,
        restores and exports (without it, none are offered)."""
        self._root = root
        self._listener = listener
        self._files, self._pickers = files, pickers
        self._timers = Timers(root)
        self._fonts = Fonts(root)
        apply_styles(root, self._fonts)

        root.title("chinwag")
        root.configure(background=BG)
        root.geometry("1000x660")
        root.minsize(680, 440)
        root.protocol("WM_DELETE_WINDOW", listener.close_requested)
        for sequence in SHORTCUTS["quit"]:  # Quit works from the sign-in card too
            bind_shortcut(root, sequence, listener.close_requested)
        self._focus = FocusWatch(root, listener.focus_changed)

        self._status_bar = StatusBar(root, self._fonts, self._timers)
        self._status_bar.frame.pack(side="bottom", fill="x")
        self._own_key = self._status_bar.own_key
        self._build_data(data)
        self._sign_in = SignIn(root, self._fonts, listener.sign_in_requested, self._restore)
        self._group_dialog = GroupDialog(
            root,
            self._fonts,
            Submit(
                new=listener.new_group_requested,
                add=listener.group_add_requested,
                rename=listener.group_rename_requested,
                leave=listener.group_leave_requested,
            ),
        )
        self._main = self._build_main()
        self._verify = VerifyDialog(
            root, self._fonts, listener.mark_verified_requested, listener.verify_closed
        )
        self._new_chat = NewChatDialog(
            root, self._fonts, listener.new_chat_requested, listener.new_chat_search_requested
        )
        self._doctor = DoctorWindow(
            root, self._fonts, listener.doctor_requested, listener.doctor_closed
        )
        self._menu = MenuBar(
            root,
            MenuActions(
                new_chat=self._new_chat.show,
                new_group=lambda: self._group_dialog.show(Form.NEW, choices=self._people.names()),
                search=self._side.focus_search,
                step=self._step,
                notifications=listener.notifications_toggled,
                quit=listener.close_requested,
                doctor=listener.doctor_requested,
                send_file=None if files is None else lambda: self._right.attach(),
                export=self._data_action(lambda d: d.export_requested(self.open_chat())),
                backup=None if data is None else data.backup_requested,
                restore=self._restore,
            ),
        )
        self.widgets = TkWidgets(
            username=self._sign_in.username,
            registry=self._sign_in.registry,
            sign_in_button=self._sign_in.button,
            sign_in_error=self._sign_in.error,
            search=self._side.search,
            people=self._people.tree,
            header=self._header.title,
            verify=self._header.verify,
            messages=self._messages.text,
            new_messages=self._messages.scroll.hint,
            entry=self._entry,
            send_button=self._composer.send_button,
            results=self._results.tree,
            results_title=self._results.title,
            status=self._status_bar.label,
            own_key=self._own_key.entry,
            banner=self._banner,
            verify_dialog=self._verify,
            menu=self._menu,
            new_chat=self._new_chat,
            new_chat_link=self._side.new_chat,
            doctor=self._doctor,
            group_dialog=self._group_dialog,
            members=self._right.members,
            members_button=self._header.members,
        )

    # == ChatView: signing in ======================================================================

    def show_sign_in(self, username: str, registry: str) -> None:
        self._main.pack_forget()
        self._root.title("chinwag — sign in")
        self._sign_in.show(username, registry)

    def set_sign_in_busy(self, busy: bool) -> None:
        self._sign_in.set_busy(busy)

    def show_sign_in_error(self, text: str) -> None:
        self._sign_in.show_error(text)

    def show_main(self, user: str) -> None:
        self._sign_in.frame.pack_forget()
        if not self._main.winfo_manager():
            self._main.pack(fill="both", expand=True)
        self._root.title(f"chinwag — {user}")
        self._side.show_user(user)
        self._menu.show()
        self._entry.focus_set()

    # == ChatView: the side list and the open conversation =========================================

    def set_people(self, people: Sequence[PersonRow | GroupRow]) -> None:
        self._people.set(people)
        self._show_presence()

    def open_conversation(
        self, peer: str, messages: Sequence[MessageRow], more_before: bool
    ) -> None:
        self._right.open_person(peer, messages, more_before)
        self._show_presence()
        self._people.show_open(peer)
        # Whichever way it was opened (the list, a result, new chat, a shortcut), the next thing
        # typed is a message: click bob, type "hi", Enter sends.
        self._entry.focus_set()

    def open_group(
        self, group: GroupHeading, messages: Sequence[MessageRow], more_before: bool
    ) -> None:
        self._right.open_group(group, messages, more_before)
        self._people.show_open(group.id)
        self._entry.focus_set()

    def show_group(self, group: GroupHeading) -> None:
        self._right.show_group(group)

    def append_messages(self, messages: Sequence[MessageRow]) -> None:
        self._messages.append(messages)

    def prepend_messages(self, messages: Sequence[MessageRow], more_before: bool) -> None:
        self._messages.prepend(messages, more_before)

    def update_message(self, message: MessageRow) -> None:
        self._messages.update(message)

    def update_file(self, row: FileRow) -> None:
        self._messages.update_file(row)

    def set_divider(self, before: UUID | None) -> None:
        self._messages.set_divider(before)

    def newest_visible(self) -> bool:
        return self._messages.peer is not None and self._messages.scroll.at_bottom()

    def focus_message(self, message_id: UUID) -> None:
        self._messages.focus(message_id)

    def clear_entry(self) -> None:
        self._composer.clear()

    def restore_entry(self, text: str) -> None:
        self._composer.restore(text)

    # == ChatView: identity ========================================================================

    def show_own_key(self, fingerprint: str) -> None:
        self._own_key.show(fingerprint)

    def show_key_change(self, notice: KeyChangeNotice | None) -> None:
        self._banner.show(notice)

    def show_verify(self, safety: SafetyNumberView) -> None:
        self._verify.show(safety)

    def set_verify_busy(self, busy: bool) -> None:
        self._verify.set_busy(busy)

    def show_verify_error(self, text: str) -> None:
        self._verify.show_error(text)

    # == ChatView: the window and the new chat dialog ==============================================

    def set_title(self, title: str) -> None:
        self._root.title(title)

    def set_notifications(self, enabled: bool) -> None:
        self._menu.notifications.set(enabled)

    def raise_window(self) -> None:
        self._root.deiconify()
        self._root.lift()
        self._root.focus_force()

    def set_new_chat_busy(self, busy: bool) -> None:
        self._new_chat.set_busy(busy)

    def show_new_chat_error(self, text: str) -> None:
        self._new_chat.show_error(text)

    def show_new_chat_results(self, names: Sequence[str], note: str) -> None:
        self._new_chat.show_results(names, note)

    def close_new_chat(self) -> None:
        self._new_chat.close()

    def set_group_dialog_busy(self, busy: bool) -> None:
        self._group_dialog.set_busy(busy)

    def show_group_dialog_error(self, text: str) -> None:
        self._group_dialog.show_error(text)

    def close_group_dialog(self) -> None:
        self._group_dialog.close()

    def show_doctor(self, report: DoctorView) -> None:
        self._doctor.show(report)

    # == ChatView: search and status ===============================================================

    def show_search_results(self, text: str, results: Sequence[SearchResultRow]) -> None:
        self._results.show(text, results)

    def set_status(self, text: str, level: StatusLevel) -> None:
        self._status_bar.set_status(text, level)

    def show_error(self, text: str) -> None:
        self._status_bar.show_error(text, self.error_seconds)

    def close(self) -> None:
        self._messages.peer = None
        self._timers.cancel_all()
        with contextlib.suppress(tk.TclError):  # already gone
            self._root.destroy()
        # Tk images and variables delete themselves in Tcl when collected, which works only on
        # this thread; left to the garbage collector they may be collected on the network's
        # thread ("main thread is not in main loop"). Collect them here and now.
        self._people.close()
        self._new_chat.forget()
        self._right.members.forget()
        self._menu.close()
        gc.collect()

    # == building ==================================================================================

    def _build_main(self) -> ttk.Frame:
        main = ttk.Frame(self._root)
        panes = ttk.PanedWindow(main, orient="horizontal")
        panes.pack(fill="both", expand=True)
        side = SidePanel(
            panes,
            self._root,
            self._fonts,
            self._listener.search_requested,
            lambda: self._results.hide(),
            self._listener.conversation_selected,
            lambda: self._new_chat.show(),
        )
        self._side, self._people = side, side.people
        panes.add(side.frame, weight=0)
        panes.add(self._build_conversation(panes), weight=1)
        return main

    def _build_conversation(self, parent: tk.Misc) -> ttk.Frame:
        right = self._right = ConversationSide(
            parent,
            self._root,
            self._fonts,
            self._timers,
            self._listener,
            self._group_dialog,
            self._people.names,
            self._files,
            self._pickers,
        )
        self._header, self._banner = right.header, right.banner
        self._messages, self._results = right.messages, right.results
        self._composer, self._entry = right.composer, right.composer.entry
        self._messages.links.failed = self.show_error
        return right.frame

    # == reacting ==================================================================================

    def _show_presence(self) -> None:
        peer = self._messages.peer
        if peer is None or self._header.group is not None:
            self._header.set_presence(None)
        else:
            online = bool(self._people.online.get(peer))
            self._header.set_presence(online, self._people.paths.get(peer, ""))

    def _step(self, by: int) -> None:
        self._listener.next_conversation_requested(by)
        self._entry.focus_set()
