"""The members window of the open group: everybody in it (online ones with a green dot, admins
marked), and what the user may do: make a member admin, remove one, add people, rename the
group, leave it. A window of its own (a group may have 256 members: a list that scrolls, not a
menu taller than the screen), opened from the header's "Members…" button, kept up to date
while open, and closed when another conversation opens.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from tkinter import ttk
from uuid import UUID

from chinwag.adapters.gui.tk_look import OFFLINE, ONLINE, Fonts, dot
from chinwag.adapters.gui.tk_widgets import autohide, dialog
from chinwag.adapters.gui.view import GroupHeading, MemberRow

ROWS = 12
"""Members shown at once (the list scrolls)."""


@dataclass(frozen=True)
class MemberActions:
    """What the window's buttons ask for: the first two go to the presenter at once, the
    others open the group dialog."""

    remove: Callable[[UUID, str], None]
    make_admin: Callable[[UUID, str], None]
    add: Callable[[GroupHeading], None]
    rename: Callable[[GroupHeading], None]
    leave: Callable[[GroupHeading], None]


class MembersWindow:
    """Made on first use, withdrawn when closed."""

    def __init__(self, root: tk.Misc, fonts: Fonts, actions: MemberActions) -> None:
        self._root = root
        self._fonts = fonts
        self._actions = actions
        self.group: GroupHeading | None = None
        self._rows: dict[str, MemberRow] = {}
        self.window: tk.Toplevel | None = None
        self._dots: dict[bool, tk.PhotoImage] = {}

    def show(self, group: GroupHeading) -> None:
        """Open the window on ``group``."""
        window = self.window or self._build()
        self.update(group)
        window.deiconify()
        window.lift()
        self.tree.focus_set()

    def update(self, group: GroupHeading) -> None:
        """Show ``group`` as it is now (if the window is on it, or was never opened)."""
        if self.window is None:
            return
        self.group = group
        self.window.title(f"Members of {group.name}")
        self.heading.configure(text=group.name)
        self.summary.configure(text=group.summary)
        tree = self.tree
        selected = tree.selection()
        tree.delete(*tree.get_children())
        self._rows = {}
        for member in group.members:
            self._rows[member.name] = member
            role = ", ".join(
                word for word, yes in (("you", member.me), ("admin", member.admin)) if yes
            )
            tree.insert(
                "",
                "end",
                iid=f"m:{member.name}",
                text=f" {member.name}",
                image=self._dots[member.online],
                values=(role,),
            )
        kept = [item for item in selected if tree.exists(item)]
        if kept:
            tree.selection_set(kept)
        for button, allowed in (
            (self.add_button, group.admin),
            (self.rename_button, group.admin),
            (self.leave_button, not group.left),
        ):
            button.state(["!disabled"] if allowed else ["disabled"])
        self._selection_changed()

    def close(self) -> None:
        if self.window is not None:
            self.window.withdraw()

    def visible(self) -> bool:
        return self.window is not None and self.window.winfo_viewable() == 1

    def select(self, name: str) -> None:
        """Select member ``name`` (as clicking them does; for tests and scripts)."""
        self.tree.selection_set(f"m:{name}")
        self._selection_changed()

    def forget(self) -> None:
        """Let go of the images here, on the Tk thread (see ``PeopleList.close``)."""
        self._dots.clear()

    def _selected(self) -> MemberRow | None:
        selection = self.tree.selection()
        return self._rows.get(selection[0][2:]) if len(selection) == 1 else None

    def _selection_changed(self, _event: object = None) -> None:
        member = self._selected()
        self.remove_button.state(
            ["!disabled"] if member is not None and member.can_remove else ["disabled"]
        )
        self.admin_button.state(
            ["!disabled"] if member is not None and member.can_make_admin else ["disabled"]
        )

    def _member_action(self, action: Callable[[UUID, str], None]) -> None:
        member = self._selected()
        if member is not None and self.group is not None:
            action(self.group.id, member.name)

    def _group_action(self, action: Callable[[GroupHeading], None]) -> None:
        if self.group is not None:
            action(self.group)

    def _build(self) -> tk.Toplevel:
        window, card = dialog(self._root, self.close)
        self.window = window
        window.resizable(False, True)
        self._dots = {True: dot(window, ONLINE, ring=False), False: dot(window, OFFLINE, ring=True)}
        card.rowconfigure(2, weight=1)
        self.heading = ttk.Label(card, text="", style="Header.TLabel")
        self.heading.grid(row=0, column=0, columnspan=3, sticky="w")
        self.summary = ttk.Label(card, text="", style="Muted.Card.TLabel", wraplength=380)
        self.summary.grid(row=1, column=0, columnspan=3, sticky="w", pady=(2, 10))
        self.tree = tree = ttk.Treeview(
            card,
            columns=("role",),
            show="tree",
            selectmode="browse",
            height=ROWS,
            style="People.Treeview",
        )
        tree.column("#0", width=240, stretch=True)
        tree.column("role", width=110, anchor="e", stretch=False)
        tree.grid(row=2, column=0, columnspan=2, sticky="nsew")
        bar = ttk.Scrollbar(card, orient="vertical", command=tree.yview)
        bar.grid(row=2, column=2, sticky="ns")
        tree.configure(yscrollcommand=autohide(bar))
        tree.bind("<<TreeviewSelect>>", self._selection_changed)
        row = ttk.Frame(card, style="Pane.TFrame")
        row.grid(row=3, column=0, columnspan=3, sticky="ew", pady=(10, 0))
        self.admin_button = ttk.Button(
            row, text="Make admin", command=lambda: self._member_action(self._actions.make_admin)
        )
        self.admin_button.pack(side="left")
        self.remove_button = ttk.Button(
            row, text="Remove", command=lambda: self._member_action(self._actions.remove)
        )
        self.remove_button.pack(side="left", padx=(6, 0))
        row2 = ttk.Frame(card, style="Pane.TFrame")
        row2.grid(row=4, column=0, columnspan=3, sticky="ew", pady=(8, 0))
        self.add_button = ttk.Button(
            row2, text="Add people…", command=lambda: self._group_action(self._actions.add)
        )
        self.add_button.pack(side="left")
        self.rename_button = ttk.Button(
            row2, text="Rename…", command=lambda: self._group_action(self._actions.rename)
        )
        self.rename_button.pack(side="left", padx=(6, 0))
        self.leave_button = ttk.Button(
            row2, text="Leave group…", command=lambda: self._group_action(self._actions.leave)
        )
        self.leave_button.pack(side="right")
        return window
