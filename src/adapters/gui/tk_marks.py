"""Delivery marks and what they mean, and characters no installed font can draw.

Every mark is a glyph DejaVu Sans (Debian's stock font) has, so none shows as an empty box;
the queued mark used to be ⧗ (U+29D7), which only Symbola has. Emoji are drawn by whatever
font fontconfig finds (``scripts/run.sh`` installs Symbola where it can); a symbol no font has
is shown as its name between colons (``:melting face:``) rather than as a box.
"""

from __future__ import annotations

import shutil
import subprocess
import tkinter as tk
import unicodedata
from collections.abc import Callable
from tkinter import font as tkfont

from chinwag.domain.message import MessageState

MARKS = {
    MessageState.PENDING: "◷",
    MessageState.QUEUED: "⟳",
    MessageState.SENT: "✓",
    MessageState.DELIVERED: "✓✓",
    MessageState.FAILED: "⚠",
    MessageState.RECEIVED: "",
}
"""Every mark is in the BMP, so Tcl and Python agree on its length, and in DejaVu Sans."""

EXPLAINED = {MessageState.FAILED: "Not delivered", MessageState.QUEUED: "Waiting"}
"""The states whose reason the mark explains on hover, and how the explanation starts."""


def mark_tooltip(state: MessageState, peer: str, reason: str | None) -> str:
    """What hovering over the mark of a message to ``peer`` in ``state`` says."""
    if state in EXPLAINED:
        if reason:
            return f"{EXPLAINED[state]}: {reason}"
        if state is MessageState.QUEUED:
            return f"Waiting: it goes to {peer} as soon as it can"
        return f"Not delivered to {peer}"
    return {
        MessageState.PENDING: "Sending…",
        MessageState.SENT: f"Sent; not yet delivered to {peer}",
        MessageState.DELIVERED: f"Delivered to {peer}",
    }.get(state, "")


def font_charset(family: str) -> Callable[[int], bool] | None:
    """Whether the font fontconfig picks for ``family`` has a code point, read once from
    ``fc-match``; ``None`` when fontconfig's tools are not there to ask."""
    binary = shutil.which("fc-match")
    if binary is None:
        return None
    try:
        done = subprocess.run(
            [binary, "--format=%{charset}", family],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    ranges: list[tuple[int, int]] = []
    for part in done.stdout.split():
        low, _, high = part.partition("-")
        try:
            ranges.append((int(low, 16), int(high or low, 16)))
        except ValueError:
            return None
    if not ranges:
        return None
    return lambda point: any(low <= point <= high for low, high in ranges)


class Glyphs:
    """Knows which characters the window's fonts can draw, and stands in for the rest.

    Tk tells which font draws a character (``font actual … -- char``): another family than the
    base one means fontconfig found a fallback; the base family itself means either the base
    font has it or nothing has, which the base font's charset settles.
    """

    def __init__(
        self, widget: tk.Misc, font: tkfont.Font, base_has: Callable[[int], bool] | None
    ) -> None:
        """``base_has`` tells whether the base font has a code point (see :func:`font_charset`);
        ``None`` trusts the fonts to draw everything."""
        self._widget = widget
        self._font = font
        self._base = str(font.actual("family"))
        self._base_has = base_has
        self._known: dict[str, bool] = {}

    def family_of(self, char: str) -> str:
        """The family Tk draws ``char`` in."""
        return str(self._widget.tk.call("font", "actual", self._font, "-family", "--", char))

    def drawable(self, char: str) -> bool:
        known = self._known.get(char)
        if known is None:
            if self._base_has is None:
                known = True  # nobody to ask: trust the fonts
            else:
                known = self.family_of(char) != self._base or self._base_has(ord(char))
            self._known[char] = known
        return known

    def readable(self, text: str) -> str:
        """``text`` with every symbol no font can draw replaced by its name in colons."""
        if not text or max(text) < "\u2000":
            return text  # Latin, Greek, Cyrillic and the like: every stock font has them
        return "".join(self._readable(char) for char in text)

    def _readable(self, char: str) -> str:
        if char < "\u2000":
            return char
        if unicodedata.category(char) != "So" or self.drawable(char):
            return char
        return f":{unicodedata.name(char, 'symbol').lower()}:"
