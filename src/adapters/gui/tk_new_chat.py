"""The new chat dialog: type a name, start a conversation with them (online or not)."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from chinwag.adapters.gui.tk_look import Fonts
from chinwag.adapters.gui.tk_widgets import dialog, set_entry


class NewChatDialog:
    """A window of its own, made on first use and kept (withdrawn) when closed.

    ``submitted(name)`` is called with what the person typed (Enter or "Start chat"); the
    presenter answers with :meth:`set_busy`, :meth:`show_error` or :meth:`close`.
    """

    def __init__(self, root: tk.Misc, fonts: Fonts, submitted: Callable[[str], None]) -> None:
        self._root = root
        self._fonts = fonts
        self._submitted = submitted
        self._busy = False
        self.window: tk.Toplevel | None = None

    def show(self) -> None:
        window = self.window or self._build()
        set_entry(self.entry, "")
        self.show_error("")
        self.set_busy(False)
        window.deiconify()
        window.lift()
        self.entry.focus_set()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        if self.window is not None:
            self.start_button.state(["disabled"] if busy else ["!disabled"])
            self.start_button.configure(text="Looking up…" if busy else "Start chat")

    def show_error(self, text: str) -> None:
        if self.window is None:
            return
        self.error.configure(text=text)
        if text:
            self.error.grid()
        else:
            self.error.grid_remove()

    def error_text(self) -> str:
        return str(self.error.cget("text")) if self.window is not None else ""

    def visible(self) -> bool:
        return self.window is not None and self.window.winfo_viewable() == 1

    def close(self) -> None:
        if self.window is not None:
            self.window.withdraw()

    def _build(self) -> tk.Toplevel:
        window, card = dialog(self._root, self.close)
        self.window = window
        window.title("New chat")
        ttk.Label(card, text="New chat", style="Header.TLabel").grid(
            row=0, column=0, columnspan=2, sticky="w"
        )
        ttk.Label(
            card,
            text="Anybody who has signed in with this registry, online or not. If they are "
            "offline, what you write waits and goes out when they are back.",
            style="Muted.Card.TLabel",
            wraplength=380,
        ).grid(row=1, column=0, columnspan=2, sticky="w", pady=(4, 14))
        ttk.Label(card, text="Their username", style="Card.TLabel").grid(
            row=2, column=0, columnspan=2, sticky="w"
        )
        self.entry = ttk.Entry(card, font=self._fonts.normal, width=34)
        self.entry.grid(row=3, column=0, columnspan=2, sticky="ew", pady=(2, 0))
        self.entry.bind("<Return>", self._submit_key)
        self.entry.bind("<KP_Enter>", self._submit_key)
        self.error = ttk.Label(card, text="", style="Error.TLabel", wraplength=380)
        self.error.grid(row=4, column=0, columnspan=2, sticky="w", pady=(6, 0))
        self.error.grid_remove()
        self.start_button = ttk.Button(
            card, text="Start chat", style="Accent.TButton", command=self._submit
        )
        self.start_button.grid(row=5, column=0, sticky="w", pady=(14, 0))
        self.cancel_button = ttk.Button(card, text="Cancel", command=self.close)
        self.cancel_button.grid(row=5, column=1, sticky="e", pady=(14, 0))
        return window

    def _submit(self) -> None:
        if not self._busy:
            self._submitted(self.entry.get())

    def _submit_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._submit()
        return "break"
