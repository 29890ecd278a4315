"""The group dialog, in four forms: a new group (a name and people to pick), adding people to
a group, renaming it, and leaving it (a confirmation). One window, made on first use and kept
(withdrawn) when closed; one form at a time.

It decides nothing: it hands what was typed and picked to its ``Submit`` callbacks; the
presenter answers with :meth:`GroupDialog.set_busy`, :meth:`GroupDialog.show_error` or
:meth:`GroupDialog.close`.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from tkinter import ttk
from uuid import UUID

from chinwag.adapters.gui.tk_look import LINE, PANE, TEXT, Fonts
from chinwag.adapters.gui.tk_widgets import dialog, set_entry

PICK_ROWS = 7
"""People shown at once in the pick list (it scrolls)."""


class Form(StrEnum):
    NEW = "new"
    ADD = "add"
    RENAME = "rename"
    LEAVE = "leave"


@dataclass(frozen=True)
class Submit:
    """What each form calls with what the person typed and picked."""

    new: Callable[[str, Sequence[str]], None]
    add: Callable[[UUID, Sequence[str]], None]
    rename: Callable[[UUID, str], None]
    leave: Callable[[UUID], None]


_BUTTONS = {
    Form.NEW: ("Create group", "Creating…"),
    Form.ADD: ("Add", "Adding…"),
    Form.RENAME: ("Rename", "Renaming…"),
    Form.LEAVE: ("Leave group", "Leaving…"),
}


class GroupDialog:
    """The dialog's widgets; :meth:`show` opens it in one form."""

    def __init__(self, root: tk.Misc, fonts: Fonts, submit: Submit) -> None:
        self._root = root
        self._fonts = fonts
        self._submit = submit
        self._busy = False
        self.form = Form.NEW
        self._group: UUID | None = None
        self._choices: list[str] = []
        self.window: tk.Toplevel | None = None

    def show(
        self,
        form: Form,
        *,
        group: UUID | None = None,
        group_name: str = "",
        choices: Sequence[str] = (),
    ) -> None:
        """Open the dialog as ``form``: for a group (all but ``new``) called ``group_name``;
        ``choices``: the people to pick from (``new``, ``add``)."""
        window = self.window or self._build()
        self.form, self._group, self._choices = form, group, list(choices)
        title, text = _words(form, group_name)
        window.title(title)
        self.heading.configure(text=title)
        self.text.configure(text=text)
        picking = form in (Form.NEW, Form.ADD)
        _shown(self.name_label, form in (Form.NEW, Form.RENAME))
        _shown(self.name, form in (Form.NEW, Form.RENAME))
        set_entry(self.name, group_name if form is Form.RENAME else "")
        for widget in (self.pick_label, self.pick_frame, self.others_label, self.others):
            _shown(widget, picking)
        _shown(self.pick_frame, picking and bool(self._choices))
        _shown(self.pick_label, picking and bool(self._choices))
        self.pick.delete(0, "end")
        for name in self._choices:
            self.pick.insert("end", name)
        self.pick.configure(height=min(PICK_ROWS, max(len(self._choices), 1)))
        set_entry(self.others, "")
        self.others_label.configure(
            text="Others (names, separated by spaces)" if self._choices else "Their usernames"
        )
        self.show_error("")
        self.set_busy(False)
        window.deiconify()
        window.lift()
        (self.name if form in (Form.NEW, Form.RENAME) else self.others).focus_set()
        if form is Form.LEAVE:
            self.button.focus_set()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        if self.window is not None:
            self.button.state(["disabled"] if busy else ["!disabled"])
            self.button.configure(text=_BUTTONS[self.form][1 if busy else 0])

    def show_error(self, text: str) -> None:
        if self.window is None:
            return
        self.error.configure(text=text)
        _shown(self.error, bool(text))

    def error_text(self) -> str:
        return str(self.error.cget("text")) if self.window is not None else ""

    def visible(self) -> bool:
        return self.window is not None and self.window.winfo_viewable() == 1

    def close(self) -> None:
        if self.window is not None:
            self.window.withdraw()

    def picked(self) -> list[str]:
        """The people picked in the list, then those typed in the box."""
        chosen = [self._choices[int(i)] for i in self.pick.curselection()]  # type: ignore[no-untyped-call]
        return chosen + self.others.get().replace(",", " ").split()

    def choose(self, *names: str) -> None:
        """Pick these people in the list (as clicking them does; for tests and scripts)."""
        for name in names:
            self.pick.selection_set(self._choices.index(name))

    def submit(self) -> None:
        """Do what the form's button does."""
        if self._busy:
            return
        match self.form:
            case Form.NEW:
                self._submit.new(self.name.get(), self.picked())
            case Form.ADD if self._group is not None:
                self._submit.add(self._group, self.picked())
            case Form.RENAME if self._group is not None:
                self._submit.rename(self._group, self.name.get())
            case Form.LEAVE if self._group is not None:
                self._submit.leave(self._group)

    def _build(self) -> tk.Toplevel:
        window, card = dialog(self._root, self.close)
        self.window = window
        self.heading = ttk.Label(card, text="", style="Header.TLabel")
        self.heading.grid(row=0, column=0, columnspan=2, sticky="w")
        self.text = ttk.Label(card, text="", style="Muted.Card.TLabel", wraplength=380)
        self.text.grid(row=1, column=0, columnspan=2, sticky="w", pady=(4, 14))
        self.name_label = ttk.Label(card, text="Group name", style="Card.TLabel")
        self.name_label.grid(row=2, column=0, columnspan=2, sticky="w")
        self.name = ttk.Entry(card, font=self._fonts.normal, width=34)
        self.name.grid(row=3, column=0, columnspan=2, sticky="ew", pady=(2, 10))
        self.pick_label = ttk.Label(card, text="People", style="Card.TLabel")
        self.pick_label.grid(row=4, column=0, columnspan=2, sticky="w")
        self.pick_frame = frame = ttk.Frame(card, style="Pane.TFrame")
        frame.grid(row=5, column=0, columnspan=2, sticky="ew", pady=(2, 10))
        frame.columnconfigure(0, weight=1)
        self.pick = tk.Listbox(
            frame,
            selectmode="multiple",
            exportselection=False,
            font=self._fonts.normal,
            background=PANE,
            foreground=TEXT,
            highlightthickness=1,
            highlightbackground=LINE,
            borderwidth=0,
            activestyle="none",
        )
        self.pick.grid(row=0, column=0, sticky="ew")
        bar = ttk.Scrollbar(frame, orient="vertical", command=self.pick.yview)
        bar.grid(row=0, column=1, sticky="ns")
        self.pick.configure(yscrollcommand=bar.set)
        self.others_label = ttk.Label(card, text="", style="Card.TLabel")
        self.others_label.grid(row=6, column=0, columnspan=2, sticky="w")
        self.others = ttk.Entry(card, font=self._fonts.normal, width=34)
        self.others.grid(row=7, column=0, columnspan=2, sticky="ew", pady=(2, 0))
        self.error = ttk.Label(card, text="", style="Error.TLabel", wraplength=380)
        self.error.grid(row=8, column=0, columnspan=2, sticky="w", pady=(6, 0))
        self.button = ttk.Button(card, text="", style="Accent.TButton", command=self.submit)
        self.button.grid(row=9, column=0, sticky="w", pady=(14, 0))
        self.cancel_button = ttk.Button(card, text="Cancel", command=self.close)
        self.cancel_button.grid(row=9, column=1, sticky="e", pady=(14, 0))
        for entry in (self.name, self.others):
            entry.bind("<Return>", self._submit_key)
            entry.bind("<KP_Enter>", self._submit_key)
        return window

    def _submit_key(self, _event: tk.Event[tk.Misc]) -> str:
        self.submit()
        return "break"


def _words(form: Form, group: str) -> tuple[str, str]:
    """The dialog's title and explanation for ``form`` (``group``: the group's name)."""
    match form:
        case Form.NEW:
            return "New group", (
                "A name, and the people to talk to together. You are its admin: you can add "
                "and remove people, rename it and make others admins."
            )
        case Form.ADD:
            return f"Add people to {group}", (
                "They see the group and what is written from now on; what was written before "
                "stays with those who were there."
            )
        case Form.RENAME:
            return f"Rename {group}", "Every member sees the new name."
        case _:
            return f"Leave {group}?", (
                "You will not get its messages any more, and cannot write to it. What you have "
                "of it stays in your history. An admin can add you again."
            )


def _shown(widget: tk.Widget, shown: bool) -> None:
    if shown:
        widget.grid()
    else:
        widget.grid_remove()
