"""The composer: the message entry (Enter sends, Shift+Enter makes a new line) and Send."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from chinwag.adapters.gui.tk_look import ACCENT, LINE, TEXT, Fonts
from chinwag.adapters.gui.tk_widgets import placeholder_for

MIN_ENTRY_LINES = 2
MAX_ENTRY_LINES = 5
ENTRY_BG = "#fbfbfc"


class Composer:
    """Calls ``send(text)`` with everything typed on Enter or Send; the presenter clears it."""

    def __init__(self, parent: tk.Misc, fonts: Fonts, send: Callable[[str], None]) -> None:
        self._send = send
        self.frame = ttk.Frame(parent, style="Pane.TFrame", padding=(14, 10))
        self.frame.columnconfigure(0, weight=1)
        self.entry = tk.Text(
            self.frame,
            height=MIN_ENTRY_LINES,
            wrap="word",
            font=fonts.normal,
            undo=True,
            background=ENTRY_BG,
            foreground=TEXT,
            relief="flat",
            borderwidth=0,
            highlightthickness=1,
            highlightbackground=LINE,
            highlightcolor=ACCENT,
            padx=10,
            pady=7,
            insertbackground=TEXT,
        )
        self.entry.grid(row=0, column=0, sticky="ew")
        self.entry.bind("<Return>", self._send_key)
        self.entry.bind("<KP_Enter>", self._send_key)
        self.entry.bind("<Shift-Return>", self._newline_key)
        self.entry.bind("<Shift-KP_Enter>", self._newline_key)
        self.entry.bind("<<Modified>>", self._modified)
        self._placeholder = placeholder_for(
            self.entry, "Write a message — Enter to send, Shift+Enter for a new line", ENTRY_BG
        )
        self.send_button = ttk.Button(
            self.frame, text="Send", style="Accent.TButton", command=self._send_pressed
        )
        self.send_button.grid(row=0, column=1, sticky="s", padx=(10, 0))

    def clear(self) -> None:
        self.entry.delete("1.0", "end")
        self.entry.edit_reset()
        self._fit()

    def restore(self, text: str) -> None:
        if self.entry.get("1.0", "end-1c").strip():
            return  # the person has typed something else since: keep it
        self.entry.delete("1.0", "end")
        self.entry.insert("1.0", text)
        self._fit()

    def _send_pressed(self) -> None:
        self._send(self.entry.get("1.0", "end-1c"))

    def _send_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._send_pressed()
        return "break"

    def _newline_key(self, _event: tk.Event[tk.Misc]) -> str:
        self.entry.insert("insert", "\n")
        self.entry.see("insert")
        return "break"

    def _modified(self, _event: tk.Event[tk.Misc]) -> None:
        if self.entry.edit_modified():
            self.entry.edit_modified(False)
            self._fit()

    def _fit(self) -> None:
        counted = self.entry.count("1.0", "end-1c", "displaylines")
        lines = (counted[0] if isinstance(counted, tuple) else counted or 0) + 1
        height = max(MIN_ENTRY_LINES, min(MAX_ENTRY_LINES, lines))
        if int(self.entry.cget("height")) != height:
            self.entry.configure(height=height)
        empty = not self.entry.get("1.0", "end-1c")
        if empty and not self._placeholder.winfo_manager():
            self._placeholder.place(x=12, y=8)
        elif not empty and self._placeholder.winfo_manager():
            self._placeholder.place_forget()
