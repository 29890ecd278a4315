"""File rows in the conversation pane: a small card per file offer (its type, name, size, the
transfer's state, a progress bar while it moves, and its buttons), embedded in the pane's
``Text`` as a window on the message's line.

A row changes in place (:meth:`FileCards.update`): only what differs is configured again, so a
progress update is a label's text and a bar's value, never a redraw of the conversation. The
cards' widgets are children of the ``Text``: deleting the text (another conversation opens)
destroys them, and :meth:`FileCards.clear` forgets them.

Also the file dialogs (:class:`FilePickers`: tests replace them). Dragging files from the
desktop onto the window is not offered: Tk has no drag and drop from other programs without
the native tkdnd extension, which this app does not ship.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from tkinter import filedialog, ttk
from uuid import UUID

from chinwag.adapters.gui.tk_look import (
    ACCENT,
    ERROR,
    IN_BG,
    LINE,
    MUTED,
    OUT_BG,
    PANE,
    TEXT,
    Fonts,
)
from chinwag.adapters.gui.view import FileAction, FileListener, FileRow

CARD_WIDTH = 380
"""Pixels of a card's width, borders included (its name and status wrap within it)."""
PAD = 10
BAR_STEPS = 1000

LABELS = {
    FileAction.ACCEPT: "Accept",
    FileAction.SAVE_AS: "Save to…",
    FileAction.DECLINE: "Decline",
    FileAction.CANCEL: "Cancel",
    FileAction.OPEN: "Open",
    FileAction.SHOW: "Show in folder",
}

Act = Callable[[FileAction, UUID], None]


def ask_files(parent: tk.Misc) -> list[str]:
    """The files the person picks to send ([] if they cancel)."""
    picked = filedialog.askopenfilenames(parent=parent, title="Send files")
    return [str(p) for p in picked] if picked else []


def ask_folder(parent: tk.Misc) -> str | None:
    """The folder the person picks to save a file in (``None`` if they cancel)."""
    picked = filedialog.askdirectory(parent=parent, title="Save the file in", mustexist=True)
    return str(picked) if picked else None


@dataclass
class FilePickers:
    """The dialogs that pick files to send and a folder to save in."""

    files: Callable[[tk.Misc], list[str]] = ask_files
    folder: Callable[[tk.Misc], str | None] = ask_folder


def file_actions(listener: FileListener, pickers: FilePickers, parent: tk.Misc) -> Act:
    """What a card's button does: tell the listener (asking for a folder first for
    "Save to…"; nothing happens if the person cancels that)."""

    def act(action: FileAction, transfer: UUID) -> None:
        if action is FileAction.ACCEPT:
            listener.file_accept_requested(transfer, None)
        elif action is FileAction.SAVE_AS:
            folder = pickers.folder(parent)
            if folder:
                listener.file_accept_requested(transfer, folder)
        elif action is FileAction.DECLINE:
            listener.file_decline_requested(transfer)
        elif action is FileAction.CANCEL:
            listener.file_cancel_requested(transfer)
        elif action is FileAction.OPEN:
            listener.file_open_requested(transfer)
        elif action is FileAction.SHOW:
            listener.file_show_requested(transfer)

    return act


def file_styles(root: tk.Misc) -> None:
    style = ttk.Style(root)
    style.configure(
        "File.Horizontal.TProgressbar",
        background=ACCENT,
        troughcolor="#e5e7eb",
        bordercolor=LINE,
        lightcolor=ACCENT,
        darkcolor=ACCENT,
        thickness=6,
    )
    style.configure("File.TButton", padding=(8, 1), width=-6)
    style.configure("File.Accent.TButton", padding=(12, 1), width=-6)


class FileCard:
    """The widgets of one file row."""

    def __init__(
        self, parent: tk.Text, fonts: Fonts, row: FileRow, outgoing: bool, act: Act
    ) -> None:
        self._act = act
        self.id = row.id
        bg = OUT_BG if outgoing else IN_BG
        self.frame = frame = tk.Frame(
            parent,
            background=PANE,
            highlightthickness=1,
            highlightbackground=LINE,
            padx=PAD,
            pady=8,
            cursor="arrow",
        )
        frame.columnconfigure(1, weight=1)
        self.badge = tk.Label(
            frame,
            text=_badge(row),
            background=bg,
            foreground=ACCENT,
            font=fonts.small_bold,
            width=5,
            height=2,
        )
        self.badge.grid(row=0, column=0, rowspan=2, sticky="nw", padx=(0, 10))
        self.name = tk.Label(
            frame,
            text=row.name,
            background=PANE,
            foreground=TEXT,
            font=fonts.bold,
            anchor="w",
            justify="left",
            wraplength=CARD_WIDTH - 90,
        )
        self.name.grid(row=0, column=1, sticky="ew")
        self.meta = tk.Label(
            frame,
            text=f"{row.size} · {row.kind}",
            background=PANE,
            foreground=MUTED,
            font=fonts.small,
            anchor="w",
        )
        self.meta.grid(row=1, column=1, sticky="ew")
        self.bar = ttk.Progressbar(
            frame,
            style="File.Horizontal.TProgressbar",
            orient="horizontal",
            maximum=BAR_STEPS,
            length=CARD_WIDTH - 2 * PAD - 2,
        )
        self.bar.grid(row=2, column=0, columnspan=2, sticky="ew", pady=(8, 0))
        self.status = tk.Label(
            frame,
            text="",
            background=PANE,
            foreground=MUTED,
            font=fonts.small,
            anchor="w",
            justify="left",
            wraplength=CARD_WIDTH - 2 * PAD - 2,
        )
        self.status.grid(row=3, column=0, columnspan=2, sticky="ew", pady=(6, 0))
        self.buttons = tk.Frame(frame, background=PANE)
        self.buttons.grid(row=4, column=0, columnspan=2, sticky="w", pady=(6, 0))
        # As wide as CARD_WIDTH whatever it shows: an outgoing card's block is sized for that.
        tk.Frame(frame, width=CARD_WIDTH - 2 * PAD - 2, height=0, background=PANE).grid(
            row=5, column=0, columnspan=2
        )
        self.row = row
        self._actions: tuple[FileAction, ...] | None = None
        self._fraction: float | None = -1.0
        self.update(row, force=True)

    def update(self, row: FileRow, *, force: bool = False) -> None:
        """Show ``row``: only what changed is configured again."""
        old, self.row = self.row, row
        if force or row.name != old.name:
            self.name.configure(text=row.name)
        if force or (row.status, row.problem) != (old.status, old.problem):
            self.status.configure(text=row.status, foreground=ERROR if row.problem else MUTED)
        if row.fraction != self._fraction:
            if row.fraction is None:
                self.bar.grid_remove()
            else:
                if self._fraction is None or self._fraction < 0:
                    self.bar.grid()
                self.bar.configure(value=round(max(0.0, min(row.fraction, 1.0)) * BAR_STEPS))
            self._fraction = row.fraction
        if row.actions != self._actions:
            self._buttons(row.actions)

    def _buttons(self, actions: tuple[FileAction, ...]) -> None:
        for child in self.buttons.winfo_children():
            child.destroy()
        for n, action in enumerate(actions):
            style = "File.Accent.TButton" if action is FileAction.ACCEPT else "File.TButton"
            ttk.Button(
                self.buttons,
                text=LABELS[action],
                style=style,
                command=lambda a=action: self._act(a, self.id),  # type: ignore[misc]
            ).grid(row=0, column=n, padx=(0 if n == 0 else 6, 0))
        if actions:
            self.buttons.grid()
        else:
            self.buttons.grid_remove()
        self._actions = actions

    def button(self, action: FileAction) -> ttk.Button | None:
        """The button of ``action``, if the card shows it (for tests)."""
        for child in self.buttons.winfo_children():
            if isinstance(child, ttk.Button) and child.cget("text") == LABELS[action]:
                return child
        return None


def _badge(row: FileRow) -> str:
    """The short type on the card's badge: ``PDF``, ``PNG``, or ``FILE``."""
    word = row.kind.split(" ")[0].upper()
    return word[:5] if word and word not in ("FILE", "TEXT") else "FILE"


class FileCards:
    """The file rows the pane shows, by transfer id."""

    def __init__(self, text: tk.Text, fonts: Fonts, act: Act) -> None:
        self._text = text
        self._fonts = fonts
        self._act = act
        self._cards: dict[UUID, FileCard] = {}
        file_styles(text)

    def make(self, row: FileRow, outgoing: bool) -> tk.Frame:
        """A new card for ``row`` (to embed at its line)."""
        card = FileCard(self._text, self._fonts, row, outgoing, self._act)
        self._cards[row.id] = card
        return card.frame

    def update(self, row: FileRow) -> None:
        card = self._cards.get(row.id)
        if card is not None and card.row != row:
            card.update(row)

    def clear(self) -> None:
        """The pane's text was deleted, and the cards with it."""
        self._cards.clear()

    def card(self, transfer: UUID) -> FileCard | None:
        return self._cards.get(transfer)

    def shown(self) -> Sequence[FileCard]:
        return list(self._cards.values())
