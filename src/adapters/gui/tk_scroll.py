"""Scrolling the conversation pane: the scroll bar, following the bottom, the "New messages ↓"
hint, and asking for older messages when the person reaches the top.

It watches the pane's :class:`tkinter.Text` through its ``yscrollcommand`` and decides nothing
about what is shown: :mod:`~chinwag.adapters.gui.tk_messages` renders, and tells it when a
conversation opens or a page of older messages arrives. Whatever it reports (the bottom reached,
older messages wanted) is reported from an idle callback, never from inside Tk's redisplay,
because the presenter may answer at once.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from tkinter import ttk


class Scroll:
    """The pane's vertical scrolling. ``is_open`` says whether a conversation is shown: with
    none, the top and the bottom mean nothing and nothing is reported."""

    def __init__(
        self,
        area: ttk.Frame,
        text: tk.Text,
        root: tk.Misc,
        is_open: Callable[[], bool],
        older_requested: Callable[[], None],
        bottom_reached: Callable[[], None],
    ) -> None:
        self._text = text
        self._root = root
        self._is_open = is_open
        self._older_requested = older_requested
        self._bottom_reached = bottom_reached
        self._more_before = False
        self._older_pending = False
        self._pinned = True
        self._bottom_told = True  # the newest in view was told (or nothing is open)
        self._hint_shown = False
        self._vbar = ttk.Scrollbar(area, orient="vertical", command=text.yview)
        self._vbar.grid(row=0, column=1, sticky="ns")
        text.configure(yscrollcommand=self._on_yscroll)
        self.hint = ttk.Button(
            area, text="New messages ↓", style="Hint.TButton", command=self.to_bottom
        )

    def at_bottom(self) -> bool:
        """Whether the newest line is in view; while the pane is not on screen (or not laid out
        yet), whether it would be: the view follows the bottom until the person scrolls away."""
        t = self._text
        if t.winfo_height() <= 1 or not t.winfo_viewable():
            return self._pinned
        return t.dlineinfo("end-1c") is not None

    def to_bottom(self) -> None:
        self._text.see("end-1c")
        self._pinned = True
        self._hide_hint()

    def show_from(self, index: str) -> None:
        """Put ``index`` at the top of the view, off the bottom: the hint says there is more."""
        self._text.yview(index)
        self._pinned = False
        self.show_hint()

    def show_hint(self) -> None:
        if not self._hint_shown:
            self._hint_shown = True
            self.hint.place(relx=0.5, rely=1.0, y=-14, anchor="s")
            self.hint.lift()

    def hint_visible(self) -> bool:
        return self._hint_shown

    def loaded(self, more_before: bool) -> None:
        """A conversation opened, or a page of older messages came: no request is pending, and
        ``more_before`` says whether there is anything older to ask for."""
        self._more_before = more_before
        self._older_pending = False

    @contextmanager
    def kept_in_place(self) -> Iterator[None]:
        """Keep the line at the bottom of the view where it is on screen while text goes in far
        above it (and the top day line may go)."""
        t = self._text
        bottom = t.index(f"@0,{max(t.winfo_height() - 1, 0)}")
        before = t.dlineinfo(bottom)
        t.mark_set("chinwag_anchor", bottom)
        yield
        t.yview("chinwag_anchor")
        after = t.dlineinfo("chinwag_anchor")
        if before is not None and after is not None and after[1] != before[1]:
            t.yview_scroll(after[1] - before[1], "pixels")
        t.mark_unset("chinwag_anchor")

    def older_when_idle(self) -> None:
        """Ask for older messages once idle if the view is at the top and there are any."""
        self._root.after_idle(self._maybe_request_older)

    def _hide_hint(self) -> None:
        if self._hint_shown:
            self._hint_shown = False
            self.hint.place_forget()

    def _on_yscroll(self, first: float | str, last: float | str) -> None:
        self._vbar.set(first, last)
        at_bottom = float(last) >= 1.0
        if self._text.winfo_viewable():
            if at_bottom and not self._bottom_told and self._is_open():
                self._root.after_idle(self._bottom_reached)  # not from inside the redisplay
            self._pinned = self._bottom_told = at_bottom
        if at_bottom:
            self._hide_hint()
        if float(first) <= 0.0 and self._wants_older():
            self.older_when_idle()

    def _wants_older(self) -> bool:
        return self._is_open() and self._more_before and not self._older_pending

    def _maybe_request_older(self) -> None:
        if not self._wants_older():
            return
        if float(self._text.yview()[0]) > 0.0:
            return
        self._older_pending = True
        self._older_requested()
