"""The sign-in card: username, registry address, an error line, the button, and "Restore
from backup…" (a user brought back into this data folder, to sign in as)."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from chinwag.adapters.gui.tk_look import Fonts
from chinwag.adapters.gui.tk_widgets import set_entry


class SignIn:
    """Calls ``submitted(username, registry)`` on Enter or the button, unless busy; and
    ``restore()`` on "Restore from backup…" (no such button without it)."""

    def __init__(
        self,
        root: tk.Misc,
        fonts: Fonts,
        submitted: Callable[[str, str], None],
        restore: Callable[[], None] | None = None,
    ) -> None:
        self._submitted = submitted
        self._busy = False
        self.frame = outer = ttk.Frame(root)
        outer.rowconfigure(0, weight=1)
        outer.rowconfigure(2, weight=2)
        outer.columnconfigure(0, weight=1)
        card = ttk.Frame(outer, style="Card.TFrame", padding=(36, 28))
        card.grid(row=1, column=0)
        card.columnconfigure(0, weight=1, minsize=300)
        ttk.Label(card, text="chinwag", style="Title.TLabel").grid(row=0, column=0, sticky="w")
        ttk.Label(card, text="Sign in to start chatting", style="Muted.Card.TLabel").grid(
            row=1, column=0, sticky="w", pady=(0, 18)
        )
        ttk.Label(card, text="Username", style="Card.TLabel").grid(row=2, column=0, sticky="w")
        self.username = ttk.Entry(card, width=34, font=fonts.normal)
        self.username.grid(row=3, column=0, sticky="ew", pady=(2, 12))
        ttk.Label(card, text="Registry (host:port)", style="Card.TLabel").grid(
            row=4, column=0, sticky="w"
        )
        self.registry = ttk.Entry(card, width=34, font=fonts.normal)
        self.registry.grid(row=5, column=0, sticky="ew", pady=(2, 12))
        self.error = ttk.Label(card, text="", style="Error.TLabel", wraplength=320)
        self.error.grid(row=6, column=0, sticky="ew", pady=(0, 12))
        self.error.grid_remove()
        self.button = ttk.Button(card, text="Sign in", style="Accent.TButton", command=self._submit)
        self.button.grid(row=7, column=0, sticky="ew")
        self.restore: ttk.Button | None = None
        if restore is not None:
            self.restore = ttk.Button(card, text="Restore from backup…", command=restore)
            self.restore.grid(row=8, column=0, sticky="ew", pady=(8, 0))
        for widget in (self.username, self.registry, self.button):
            widget.bind("<Return>", self._submit_key)
            widget.bind("<KP_Enter>", self._submit_key)

    def show(self, username: str, registry: str) -> None:
        if not self.frame.winfo_manager():
            self.frame.pack(fill="both", expand=True)
        set_entry(self.username, username)
        set_entry(self.registry, registry)
        self.error.configure(text="")
        self.error.grid_remove()
        self.username.focus_set()
        self.username.icursor("end")

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.button.configure(text="Signing in…" if busy else "Sign in")
        self.button.state(["disabled"] if busy else ["!disabled"])
        self.frame.configure(cursor="watch" if busy else "")

    def show_error(self, text: str) -> None:
        self.error.configure(text=text)
        self.error.grid()

    def _submit(self) -> None:
        if not self._busy:
            self._submitted(self.username.get(), self.registry.get())

    def _submit_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._submit()
        return "break"
