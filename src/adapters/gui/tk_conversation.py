"""The right side of the main window: the header (``tk_header``), the key-change banner, the
conversation pane (``tk_messages``) or the search results in its place (``tk_search``), the
composer (``tk_composer``, with its paperclip for files); and, for an open group, its members
window (``tk_members``), whose add, rename and leave buttons open the group dialog
(``tk_group_dialog``).

It lays them out and shows a person's or a group's conversation in them; it decides nothing.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk

from chinwag.adapters.gui.tk_composer import Composer
from chinwag.adapters.gui.tk_file_rows import FilePickers, file_actions
from chinwag.adapters.gui.tk_group_dialog import Form, GroupDialog
from chinwag.adapters.gui.tk_header import ConversationHeader
from chinwag.adapters.gui.tk_identity import KeyChangeBanner
from chinwag.adapters.gui.tk_look import Fonts
from chinwag.adapters.gui.tk_members import MemberActions, MembersWindow
from chinwag.adapters.gui.tk_messages import MessageList
from chinwag.adapters.gui.tk_search import SearchResults
from chinwag.adapters.gui.tk_widgets import Timers
from chinwag.adapters.gui.view import FileListener, GroupHeading, MessageRow, ViewListener


class ConversationSide:
    """The widgets of the right side; ``people()`` names the people of the side list (whom
    the add dialog offers)."""

    def __init__(
        self,
        parent: tk.Misc,
        root: tk.Misc,
        fonts: Fonts,
        timers: Timers,
        listener: ViewListener,
        group_dialog: GroupDialog,
        people: Callable[[], list[str]],
        files: FileListener | None = None,
        pickers: FilePickers | None = None,
    ) -> None:
        """Without ``files`` the window offers no files (no paperclip; file rows' buttons do
        nothing); ``pickers``: the file dialogs (tests replace them)."""
        self._dialog = group_dialog
        self._root = root
        self._files = files
        self.pickers = pickers or FilePickers()
        self._people = people
        self.frame = right = ttk.Frame(parent, style="Pane.TFrame")
        right.columnconfigure(0, weight=1)
        right.rowconfigure(3, weight=1)

        self.header = ConversationHeader(right, listener.verify_requested, self._members)
        self.header.frame.grid(row=0, column=0, sticky="ew")
        ttk.Separator(right, orient="horizontal").grid(row=1, column=0, sticky="ew")
        self.banner = KeyChangeBanner(
            right, listener.verify_requested, listener.accept_key_requested
        )
        self.banner.frame.grid(row=2, column=0, sticky="ew")
        self.banner.frame.grid_remove()

        self.messages = MessageList(
            right,
            root,
            fonts,
            timers,
            listener.older_requested,
            bottom_reached=listener.bottom_reached,
            file_act=(
                file_actions(files, self.pickers, root)
                if files is not None
                else lambda _action, _transfer: None
            ),
        )
        self.messages.frame.grid(row=3, column=0, sticky="nsew")
        self.results = SearchResults(
            right, listener.search_result_selected, self.messages.glyphs.readable
        )
        self.results.panel.grid(row=3, column=0, sticky="nsew")
        self.results.panel.grid_remove()

        ttk.Separator(right, orient="horizontal").grid(row=4, column=0, sticky="ew")
        self.composer = Composer(
            right, fonts, listener.send_requested, attach=None if files is None else self.attach
        )
        self.composer.frame.grid(row=5, column=0, sticky="ew")
        self.members = MembersWindow(
            root,
            fonts,
            MemberActions(
                remove=listener.group_remove_requested,
                make_admin=listener.group_admin_requested,
                add=self._add,
                rename=lambda g: group_dialog.show(Form.RENAME, group=g.id, group_name=g.name),
                leave=lambda g: group_dialog.show(Form.LEAVE, group=g.id, group_name=g.name),
            ),
        )

    def open_person(self, peer: str, messages: Sequence[MessageRow], more_before: bool) -> None:
        self.results.hide()
        self.members.close()
        self.header.show(peer)
        self.messages.open(peer, messages, more_before)

    def open_group(
        self, group: GroupHeading, messages: Sequence[MessageRow], more_before: bool
    ) -> None:
        self.results.hide()
        self.banner.show(None)  # keys are a person's matter: their banner is theirs
        if self.members.group is not None and self.members.group.id != group.id:
            self.members.close()
        self.members.update(group)
        self.header.show_group(group)
        self.messages.open(group.name, messages, more_before, group=True)

    def show_group(self, group: GroupHeading) -> None:
        """``group`` changed: its header and members window (if they show it) say so."""
        if self.header.group is not None and self.header.group.id == group.id:
            self.header.show_group(group)
            self.members.update(group)

    def attach(self) -> None:
        """Pick files and send them to the open conversation (the paperclip, Ctrl+O)."""
        if self._files is None or self.messages.peer is None:
            return  # no conversation open: nothing to send to
        paths = self.pickers.files(self._root)
        if paths:
            self._files.files_chosen(paths)

    def set_presence(self, online: bool | None, path: str = "") -> None:
        self.header.set_presence(online, path)

    def _members(self, group: GroupHeading) -> None:
        self.members.show(group)

    def _add(self, group: GroupHeading) -> None:
        members = {m.name for m in group.members}
        choices = [name for name in self._people() if name not in members]
        self._dialog.show(Form.ADD, group=group.id, group_name=group.name, choices=choices)
