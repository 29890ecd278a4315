"""The side list of people: presence dots, unread counts, a ⚠ for a key change, a ✉ for a
message request, and how messages reach them (``direct`` or ``relayed``) while they are
online."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk

from chinwag.adapters.gui.tk_look import ACCENT, OFFLINE, ONLINE, WARNING, Fonts, dot
from chinwag.adapters.gui.tk_widgets import autohide
from chinwag.adapters.gui.view import PersonRow

PATH_WORDS = ("direct", "relayed")
"""What the path column may say."""
PATH_PADDING = 12
"""Pixels beside the path word (the column's own padding, and some air)."""

KEY_CHANGED = "⚠"
REQUEST = "✉"
"""Before the name of somebody whose key changed (in the BMP, as Tcl wants)."""


class PeopleList:
    """A tree of people in the side panel; selecting one calls ``selected(name)``, once per
    change of selection (opening a conversation selects it without calling)."""

    def __init__(
        self, parent: tk.Misc, root: tk.Misc, fonts: Fonts, selected: Callable[[str], None]
    ) -> None:
        self._selected = selected
        self._dots = {True: dot(root, ONLINE, ring=False), False: dot(root, OFFLINE, ring=True)}
        self.online: dict[str, bool] = {}
        self.paths: dict[str, str] = {}
        """How messages reach each person now ("" when not known): the header shows it too."""
        self._reported: str | None = None
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
        self.bar = ttk.Scrollbar(parent, orient="vertical", command=tree.yview)
        tree.configure(yscrollcommand=autohide(self.bar))
        tree.bind("<<TreeviewSelect>>", self._on_select)

    def set(self, people: Sequence[PersonRow]) -> None:
        tree = self.tree
        wanted = {iid(p.name) for p in people}
        gone = [item for item in tree.get_children() if item not in wanted]
        if gone:
            tree.delete(*gone)
        self.online = {}
        self.paths = {}
        for position, person in enumerate(people):
            item = iid(person.name)
            self.online[person.name] = person.online
            self.paths[person.name] = person.path
            unread = (
                "" if person.unread <= 0 else "99+" if person.unread > 99 else str(person.unread)
            )
            mark = KEY_CHANGED if person.key_changed else REQUEST if person.request else ""
            text = f" {mark} {person.name}" if mark else f" {person.name}"
            image = self._dots[person.online]
            tags: tuple[str, ...] = ("unread",) if person.unread > 0 else ()
            if person.key_changed:
                tags += ("key_changed",)
            values = (person.path, unread)
            if tree.exists(item):
                tree.item(item, text=text, image=image, values=values, tags=tags)
                if tree.index(item) != position:
                    tree.move(item, "", position)
            else:
                tree.insert(
                    "", position, iid=item, text=text, image=image, values=values, tags=tags
                )

    def show_open(self, peer: str) -> None:
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

    def _on_select(self, _event: tk.Event[tk.Misc]) -> None:
        selection = self.tree.selection()
        if len(selection) != 1:
            return
        name = selection[0][2:]
        if name != self._reported:
            self._reported = name
            self._selected(name)


def iid(name: str) -> str:
    """The tree item of ``name``."""
    return f"p:{name}"
