"""The bar above the conversation: who it is with, whether they are online and how messages
reach them (direct or relayed), and the Verify… button, which appears once a conversation is
open and asks to verify that person's key."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from chinwag.adapters.gui.tk_look import MUTED, ONLINE


class ConversationHeader:
    """The bar's widgets; Verify… calls ``verify_requested(peer)`` for the open conversation."""

    def __init__(self, parent: tk.Misc, verify_requested: Callable[[str], None]) -> None:
        self._verify_requested = verify_requested
        self._peer: str | None = None
        self.frame = top = ttk.Frame(parent, style="Pane.TFrame", padding=(18, 10))
        self.title = ttk.Label(top, text="No conversation", style="Header.TLabel")
        self.title.pack(side="left")
        self._presence = ttk.Label(top, text="", style="Presence.TLabel")
        self._presence.pack(side="left", padx=(10, 0), pady=(3, 0))
        self.verify = ttk.Button(  # packed once a conversation is open
            top, text="Verify…", style="Header.TButton", command=self._verify_pressed
        )

    def show(self, peer: str) -> None:
        """Head the conversation with ``peer``."""
        self._peer = peer
        self.title.configure(text=peer)
        self.verify.pack(side="right")

    def set_presence(self, online: bool | None, path: str = "") -> None:
        """Say whether the person is online (and ``path``, how messages reach them, when
        known); ``None``: no conversation is open, say nothing."""
        if online is None:
            self._presence.configure(text="")
        elif online:
            via = f" · {path}" if path else ""
            self._presence.configure(text=f"● online{via}", foreground=ONLINE)
        else:
            self._presence.configure(text="offline", foreground=MUTED)

    def presence_text(self) -> str:
        return str(self._presence.cget("text"))

    def _verify_pressed(self) -> None:
        if self._peer is not None:
            self._verify_requested(self._peer)
