"""The status bar: the lasting state (the registry connection) with a coloured dot, errors
shown for a few seconds over it, and the user's own key on the right.

The key comes first: a long status is cut short with "…" (the whole of it in
:attr:`StatusBar.text`) rather than pushing the key and its Copy button out of the window."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from chinwag.adapters.gui.tk_identity import OwnKey
from chinwag.adapters.gui.tk_look import ERROR, LEVEL_COLOURS, MUTED, OFFLINE, Fonts
from chinwag.adapters.gui.tk_widgets import Timers, Tooltip
from chinwag.adapters.gui.view import StatusLevel


class StatusBar:
    """Packed at the bottom of ``root`` by the caller (its separator packs itself)."""

    def __init__(self, root: tk.Tk, fonts: Fonts, timers: Timers) -> None:
        self._timers = timers
        self._status = ("", StatusLevel.OK)
        self.frame = bar = ttk.Frame(root, style="Status.TFrame", padding=(10, 3))
        ttk.Separator(root, orient="horizontal").pack(side="bottom", fill="x")
        self.own_key = OwnKey(bar, fonts, timers)  # packed once known
        self.dot = ttk.Label(bar, text="●", style="Status.TLabel", foreground=OFFLINE)
        self.dot.pack(side="left")
        # width=1: it asks for no room of its own, and takes what the key leaves.
        self.label = ttk.Label(bar, text="", style="Status.TLabel", foreground=MUTED, width=1)
        self.label.pack(side="left", padx=(4, 0), fill="x", expand=True)
        self.label.bind("<Button-1>", lambda _e: self._render())
        self.label.bind("<Configure>", lambda _e: self._fit())
        # A cut status shows whole on hover.
        self.tip = Tooltip(root, fonts.small)
        self.label.bind("<Enter>", self._enter, add="+")
        self.label.bind("<Leave>", lambda _e: self.tip.hide(), add="+")
        self._font = fonts.small
        self.text = ""
        """What the status bar says, whole (the label may show it cut short)."""

    def set_status(self, text: str, level: StatusLevel) -> None:
        self._status = (text, level)
        if not self._timers.pending("error"):
            self._render()

    def show_error(self, text: str, seconds: float) -> None:
        """``text`` in red for ``seconds`` (or until clicked), then the status again."""
        self.dot.configure(foreground=ERROR)
        self._show(f"⚠ {text}", ERROR)
        self._timers.later("error", seconds, self._render)

    def cut(self) -> bool:
        """Whether the label shows the status cut short."""
        return str(self.label.cget("text")) != self.text

    def _enter(self, event: tk.Event[tk.Misc]) -> None:
        if self.cut():
            self.tip.show(self.text, event.x_root, event.y_root)

    def _render(self) -> None:
        self._timers.cancel("error")
        text, level = self._status
        self.dot.configure(foreground=LEVEL_COLOURS[level] if text else OFFLINE)
        colour = {StatusLevel.OK: MUTED}.get(level, LEVEL_COLOURS[level])
        self._show(text, colour)

    def _show(self, text: str, colour: str) -> None:
        self.text = text
        self.label.configure(foreground=colour)
        self._fit()

    def _fit(self) -> None:
        """The status, cut with "…" to the room the label has."""
        room = self.label.winfo_width() - 4
        text = self.text
        if room > 1 and self._font.measure(text) > room:
            low, high = 0, len(text)  # the longest start that fits with the ellipsis
            while low < high:
                middle = (low + high + 1) // 2
                if self._font.measure(text[:middle].rstrip() + "…") <= room:
                    low = middle
                else:
                    high = middle - 1
            text = text[:low].rstrip() + "…"
        if self.label.cget("text") != text:
            self.label.configure(text=text)
