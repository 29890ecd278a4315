"""The side list of people and groups: presence dots, unread counts, a ⚠ for a key change, a ✉
for a message request, and how messages reach them (``direct`` or ``relayed``) while they are
online; a group has an icon of its own, and says when the user left it."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk
from uuid import UUID

from chinwag.adapters.gui.tk_look import (
    ACCENT,
    MUTED,
    OFFLINE,
    ONLINE,
    WARNING,
    Fonts,
    dot,
    group_icon,
)
from chinwag.adapters.gui.tk_widgets import autohide
from chinwag.adapters.gui.view import Chat, GroupRow, PersonRow

PATH_WORDS = ("direct", "relayed", "left")
"""What the path column may say (``left``: a group the user is no longer in)."""
PATH_PADDING = 12
"""Pixels beside the path word (the column's own padding, and some air)."""

KEY_CHANGED = "⚠"
REQUEST = "✉"
"""Before the name of somebody whose key changed (in the BMP, as Tcl wants)."""
NAME_CHARS = 40
"""A name longer than this (a group's may be 64 characters) is cut, with an ellipsis: the
column would cut it anyway, without saying so."""


class PeopleList:
    """A tree of people and groups in the side panel; selecting one calls ``selected(chat)``
    (a name, or a group's id), once per change of selection (opening a conversation selects it
    without calling)."""

    def __init__(
        self, parent: tk.Misc, root: tk.Misc, fonts: Fonts, selected: Callable[[Chat], None]
    ) -> None:
        self._selected = selected
        self._dots = {True: dot(root, ONLINE, ring=False), False: dot(root, OFFLINE, ring=True)}
        self._groups = {False: group_icon(root, ACCENT), True: group_icon(root, OFFLINE)}
        self.online: dict[str, bool] = {}
        self.paths: dict[str, str] = {}
        """How messages reach each person now ("" when not known): the header shows it too."""
        self._reported: Chat | None = None
        self.tree = tree = ttk.Treeview(
            parent,
            style="People.Treeview",
            columns=("path", "unread"),
            show="tree",
            selectmode="browse",
        )
        tree.column("#0", width=150, stretch=True)
        # As wide as the longest path word in the boldest font a row takes (unread rows are
        # bold), and a little room: a fixed width cut "relayed" to "relaye" in some fonts.
        path_width = max(fonts.bold.measure(word) for word in PATH_WORDS) + PATH_PADDING
        tree.column("path", width=path_width, minwidth=path_width, anchor="e", stretch=False)
        tree.column("unread", width=46, anchor="center", stretch=False)
        tree.tag_configure("unread", font=fonts.bold, foreground=ACCENT)
        tree.tag_configure("key_changed", foreground=WARNING)
        tree.tag_configure("left", foreground=MUTED)
        self.bar = ttk.Scrollbar(parent, orient="vertical", command=tree.yview)
        tree.configure(yscrollcommand=autohide(self.bar))
        tree.bind("<<TreeviewSelect>>", self._on_select)

    def set(self, people: Sequence[PersonRow | GroupRow]) -> None:
        tree = self.tree
        wanted = {iid(p.id if isinstance(p, GroupRow) else p.name) for p in people}
        gone = [item for item in tree.get_children() if item not in wanted]
        if gone:
            tree.delete(*gone)
        self.online = {}
        self.paths = {}
        for position, person in enumerate(people):
            count = (
                "" if person.unread <= 0 else "99+" if person.unread > 99 else str(person.unread)
            )
            tags: tuple[str, ...] = ("unread",) if person.unread > 0 else ()
            if isinstance(person, GroupRow):
                item = iid(person.id)
                text = f" {_cut(person.name)}"
                image = self._groups[person.left]
                values = ("left" if person.left else "", count)
                tags += ("left",) if person.left else ()
            else:
                item = iid(person.name)
                self.online[person.name] = person.online
                self.paths[person.name] = person.path
                mark = KEY_CHANGED if person.key_changed else REQUEST if person.request else ""
                text = f" {mark} {person.name}" if mark else f" {person.name}"
                image = self._dots[person.online]
                if person.key_changed:
                    tags += ("key_changed",)
                values = (person.path, count)
            if tree.exists(item):
                tree.item(item, text=text, image=image, values=values, tags=tags)
                if tree.index(item) != position:
                    tree.move(item, "", position)
            else:
                tree.insert(
                    "", position, iid=item, text=text, image=image, values=values, tags=tags
                )

    def names(self) -> list[str]:
        """The people listed (not the groups), top to bottom."""
        return [str(chat_of(item)) for item in self.tree.get_children() if item.startswith("p:")]

    def show_open(self, peer: Chat) -> None:
        """Select ``peer`` (or nothing, if not listed) without reporting it."""
        self._reported = peer
        item = iid(peer)
        if not self.tree.exists(item):
            self.tree.selection_remove(*self.tree.selection())
        elif self.tree.selection() != (item,):
            self.tree.selection_set(item)
            self.tree.see(item)

    def close(self) -> None:
        # Tk images delete themselves in Tcl when collected, which works only on the Tk thread.
        self._dots.clear()
        self._groups.clear()

    def _on_select(self, _event: tk.Event[tk.Misc]) -> None:
        selection = self.tree.selection()
        if len(selection) != 1:
            return
        chat = chat_of(selection[0])
        if chat != self._reported:
            self._reported = chat
            self._selected(chat)


def iid(chat: Chat) -> str:
    """The tree item of a person (``p:NAME``) or a group (``g:HEX``)."""
    return f"g:{chat.hex}" if isinstance(chat, UUID) else f"p:{chat}"


def chat_of(item: str) -> Chat:
    """The person or group of a tree item (see :func:`iid`)."""
    return UUID(hex=item[2:]) if item.startswith("g:") else item[2:]


def _cut(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"
