"""Text from other people, made safe to show: whatever a terminal, an editor or a browser would
obey instead of showing (escape sequences, bidi overrides and marks, other invisible format
characters, the line and paragraph separators) becomes a visible escape. The terminal client
prints messages through it, and the readable exports (text and HTML) write them through it, so
``abc\u202etxt.exe`` reads the same everywhere and never as ``abcexe.txt``."""

from __future__ import annotations

import unicodedata

_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Control and format characters, and the line and paragraph separators: a terminal obeys
some (escape sequences, bidi overrides and marks reorder or hide text) and shows none."""
_KEPT = frozenset("\n\t\u200c\u200d")
"""...except newlines, tabs, and the zero-width (non-)joiners that emoji and scripts need."""


def _shown_as_is(ch: str) -> bool:
    return (
        ch in _KEPT
        or "\U000e0020" <= ch <= "\U000e007f"  # tags: the flags of England, Scotland, Wales
        or unicodedata.category(ch) not in _INVISIBLE
    )


def terminal_safe(text: str) -> str:
    """``text`` with what a terminal would obey shown instead: escape sequences (which can
    clear the screen, retitle the window or write the clipboard), other control characters,
    bidi controls and marks (U+202E, U+200F, U+061C, ...), other invisible format characters
    and the line and paragraph separators become visible ``\\xNN``/``\\uNNNN``; newlines,
    tabs and the zero-width joiners of emoji stay."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        ch
        if (ch.isascii() and ch.isprintable()) or _shown_as_is(ch)
        else (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        for ch in text
    )
