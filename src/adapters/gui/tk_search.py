"""The search results panel: a table over the conversation pane, one row per matching message.

Each row's message column shows a window of the body around the first match, cut to what the
column's width holds (recut whenever the column changes width), so the matching word is on
screen at any window size.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import font as tkfont
from tkinter import ttk

from chinwag.adapters.excerpt import excerpt
from chinwag.adapters.gui.tk_widgets import autohide
from chinwag.adapters.gui.view import SearchResultRow

EXCERPT = 80
"""Characters of a message shown in its row when the column's width is not known yet."""


class SearchResults:
    """Lists results; activating one (click, Enter) calls ``selected(result)``."""

    def __init__(
        self,
        parent: tk.Misc,
        selected: Callable[[SearchResultRow], None],
        readable: Callable[[str], str] = lambda text: text,
    ) -> None:
        """``readable`` spells out what no font draws, as the conversation pane does (the
        window passes its :meth:`Glyphs.readable`), so no result shows an empty box."""
        self._selected = selected
        self._readable = readable
        self._results: list[SearchResultRow] = []
        self._words: list[str] = []
        self._chars = EXCERPT
        self.panel = panel = ttk.Frame(parent, style="Pane.TFrame", padding=(14, 10))
        panel.columnconfigure(0, weight=1)
        panel.rowconfigure(1, weight=1)
        head = ttk.Frame(panel, style="Pane.TFrame")
        head.grid(row=0, column=0, sticky="ew", pady=(0, 8))
        self.title = ttk.Label(head, text="", style="Header.TLabel")
        self.title.pack(side="left")
        ttk.Button(head, text="✕ Close", style="Flat.TButton", command=self.hide).pack(side="right")
        self._frame = ttk.Frame(panel, style="Pane.TFrame")
        self._frame.grid(row=1, column=0, sticky="nsew")
        self._frame.columnconfigure(0, weight=1)
        self._frame.rowconfigure(0, weight=1)
        columns = ("when", "sender", "peer", "message")
        self.tree = tree = ttk.Treeview(
            self._frame,
            style="Results.Treeview",
            columns=columns,
            show="headings",
            selectmode="browse",
        )
        for column, title, width, stretch in (
            ("when", "When", 140, False),
            ("sender", "From", 110, False),
            ("peer", "With", 110, False),
            ("message", "Message", 400, True),
        ):
            tree.heading(column, text=title, anchor="w")
            tree.column(column, width=width, stretch=stretch, anchor="w")
        tree.tag_configure("odd", background="#f7f8fa")
        tree.grid(row=0, column=0, sticky="nsew")
        bar = ttk.Scrollbar(self._frame, orient="vertical", command=tree.yview)
        bar.grid(row=0, column=1, sticky="ns")
        tree.configure(yscrollcommand=autohide(bar))
        tree.bind("<ButtonRelease-1>", self._clicked)
        tree.bind("<Return>", self._key)
        tree.bind("<KP_Enter>", self._key)
        tree.bind("<Escape>", lambda _e: self.hide())
        tree.bind("<Configure>", lambda _e: self._fit(), add="+")

    def show(self, text: str, results: Sequence[SearchResultRow]) -> None:
        self._results = list(results)
        tree = self.tree
        tree.delete(*tree.get_children())
        self._words = text.split()
        self._chars = self._room()
        whens = [r.sent_at.astimezone().strftime("%d %b %Y %H:%M") for r in self._results]
        for index, (row, when) in enumerate(zip(self._results, whens, strict=True)):
            tree.insert(
                "",
                "end",
                iid=str(index),
                values=(when, row.sender, row.peer, self._excerpt(row.body)),
                tags=("odd",) if index % 2 else (),
            )
        if whens:  # the whole time, last digit too, whatever the font
            widest = max(self._font().measure(when) for when in whens)
            tree.column("when", width=max(widest + 24, int(tree.column("when", "width"))))
        if self._results:
            count = len(self._results)
            noun = "message matches" if count == 1 else "messages match"
            self.title.configure(text=f"{count} {noun} “{text}”")
            self._frame.grid()
            tree.focus("0")
            tree.selection_set("0")
            tree.focus_set()
        else:
            self.title.configure(text=f"No messages match “{text}”.")
            self._frame.grid_remove()
        self.panel.grid()
        self.panel.tkraise()

    def hide(self) -> None:
        self.panel.grid_remove()

    def _excerpt(self, body: str) -> str:
        return self._readable(excerpt(body, self._words, self._chars))

    def _font(self) -> tkfont.Font:
        return tkfont.nametofont(
            str(ttk.Style(self.tree).lookup("Results.Treeview", "font")) or "TkDefaultFont"
        )

    def _room(self) -> int:
        """Characters of an average width the message column holds (at least 12)."""
        width = int(self.tree.column("message", "width"))
        font = self._font()
        sample = "the quick brown fox jumps over a lazy dog"
        average = font.measure(sample) / len(sample)
        return max(12, int((width - 16) / average))

    def _fit(self) -> None:
        """Cut every row's excerpt again if the column now holds more or fewer characters."""
        chars = self._room()
        if chars == self._chars:
            return
        self._chars = chars
        for index, row in enumerate(self._results):
            self.tree.set(str(index), "message", self._excerpt(row.body))

    def visible(self) -> bool:
        return bool(self.panel.winfo_manager())

    def _clicked(self, event: tk.Event[tk.Misc]) -> None:
        item = self.tree.identify_row(event.y)
        if item:
            self._activate(item)

    def _key(self, _event: tk.Event[tk.Misc]) -> str:
        item = self.tree.focus()
        if item:
            self._activate(item)
        return "break"

    def _activate(self, item: str) -> None:
        index = int(item)
        if 0 <= index < len(self._results):
            self._selected(self._results[index])
