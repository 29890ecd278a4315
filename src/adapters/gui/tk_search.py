"""The search results panel: a table over the conversation pane, one row per matching message."""

from __future__ import annotations

import re
import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk

from chinwag.adapters.gui.tk_widgets import autohide
from chinwag.adapters.gui.view import SearchResultRow

EXCERPT = 80
"""Characters of a message shown in its row."""


class SearchResults:
    """Lists results; activating one (click, Enter) calls ``selected(result)``."""

    def __init__(self, parent: tk.Misc, selected: Callable[[SearchResultRow], None]) -> None:
        self._selected = selected
        self._results: list[SearchResultRow] = []
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

    def show(self, text: str, results: Sequence[SearchResultRow]) -> None:
        self._results = list(results)
        tree = self.tree
        tree.delete(*tree.get_children())
        words = text.split()
        for index, row in enumerate(self._results):
            when = row.sent_at.astimezone().strftime("%d %b %Y %H:%M")
            tree.insert(
                "",
                "end",
                iid=str(index),
                values=(when, row.sender, row.peer, excerpt(row.body, words)),
                tags=("odd",) if index % 2 else (),
            )
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


def excerpt(body: str, words: Sequence[str], width: int = EXCERPT) -> str:
    """One line of ``body`` around the first of ``words`` it contains."""
    flat = " ".join(body.split())
    starts = [m.start() for w in words if (m := re.search(re.escape(w), flat, re.IGNORECASE))]
    hit = min(starts, default=0)
    start = max(0, min(hit - width // 3, len(flat) - width))
    end = start + width
    return ("…" if start > 0 else "") + flat[start:end] + ("…" if end < len(flat) else "")
