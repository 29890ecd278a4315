"""Whether the window has the keyboard focus, told to the listener once per change.

The window says it once as soon as it shows (the person may never have given it the focus,
and then no focus event ever comes: messages must not count as seen then), and after that
whenever the focus enters or leaves the app. Focus moving between widgets of the app tells
nothing.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable


class FocusWatch:
    """Reports ``changed(focused)`` for ``root``: once when first mapped, then on changes."""

    def __init__(self, root: tk.Tk, changed: Callable[[bool], None]) -> None:
        self._root = root
        self._changed = changed
        self.focused: bool | None = None
        """As last reported; None before the window showed."""
        root.bind("<FocusIn>", self._moved, add="+")
        root.bind("<FocusOut>", self._moved, add="+")
        root.bind("<Map>", self._moved, add="+")

    def _moved(self, _event: tk.Event[tk.Misc]) -> None:
        """Look once things settle whether any widget of this app has the focus."""
        self._root.after_idle(self.report)

    def report(self) -> None:
        """Tell the listener if the focus is in the app, when that changed (or never told)."""
        try:
            focused = bool(self._root.tk.call("focus"))
        except tk.TclError:  # the window is gone
            return
        if focused != self.focused:
            self.focused = focused
            self._changed(focused)
