"""The bar above the conversation. For a person: who it is with, whether they are online and
how messages reach them (direct or relayed), and the Verify… button, which asks to verify that
person's key. For a group: its name, its members in a line (bounded), and the Members… button,
which opens the member list with what the user may do there (``tk_members``)."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from chinwag.adapters.gui.tk_look import MUTED, ONLINE
from chinwag.adapters.gui.view import GroupHeading


class ConversationHeader:
    """The bar's widgets; Verify… calls ``verify_requested(peer)`` for the open conversation,
    Members… ``members_requested(group)`` for the open group."""

    def __init__(
        self,
        parent: tk.Misc,
        verify_requested: Callable[[str], None],
        members_requested: Callable[[GroupHeading], None] = lambda _group: None,
    ) -> None:
        self._verify_requested = verify_requested
        self._members_requested = members_requested
        self._peer: str | None = None
        self.group: GroupHeading | None = None
        self.frame = top = ttk.Frame(parent, style="Pane.TFrame", padding=(18, 10))
        self.title = ttk.Label(top, text="No conversation", style="Header.TLabel")
        self.title.pack(side="left")
        self._presence = ttk.Label(top, text="", style="Presence.TLabel")
        self._presence.pack(side="left", padx=(10, 0), pady=(3, 0))
        self.verify = ttk.Button(  # packed once a conversation is open
            top, text="Verify…", style="Header.TButton", command=self._verify_pressed
        )
        self.members = ttk.Button(  # packed while a group is open
            top, text="Members…", style="Header.TButton", command=self._members_pressed
        )

    def show(self, peer: str) -> None:
        """Head the conversation with ``peer``."""
        self._peer, self.group = peer, None
        self.title.configure(text=peer)
        self.members.pack_forget()
        self.verify.pack(side="right")

    def show_group(self, group: GroupHeading) -> None:
        """Head the conversation of ``group`` (again, when it changed)."""
        self._peer, self.group = None, group
        self.title.configure(text=group.name)
        self._presence.configure(text=group.summary, foreground=MUTED)
        self.verify.pack_forget()
        self.members.pack(side="right", before=self.title)  # kept whole: the line gives way

    def set_presence(self, online: bool | None, path: str = "") -> None:
        """Say whether the person is online (and ``path``, how messages reach them, when
        known); ``None``: no conversation is open, say nothing. A group's line stays."""
        if self.group is not None:
            return
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

    def _members_pressed(self) -> None:
        if self.group is not None:
            self._members_requested(self.group)
