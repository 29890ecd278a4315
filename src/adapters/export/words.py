"""What the readable formats (text and HTML) share: titles, times and delivery marks, and
the characters a reader must never get raw."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from chinwag.adapters.safe_text import terminal_safe
from chinwag.application.history_export import ConversationHeading, ExportedMessage

MARKS: Final = {
    "pending": "◷",
    "queued": "⟳",
    "sent": "✓",
    "delivered": "✓✓",
    "failed": "⚠",
}
"""The marks the desktop app puts on your messages, by state (a received message has none)."""

WORDS: Final = {
    "pending": "sending",
    "queued": "waiting",
    "sent": "sent",
    "delivered": "delivered",
    "failed": "not delivered",
}


def visible(text: str) -> str:
    """``text`` as the terminal client shows it (:func:`~chinwag.adapters.safe_text.terminal_safe`):
    control characters, bidi overrides and marks, other invisible format characters and the
    line and paragraph separators as visible escapes, so a message can neither drive a terminal
    nor reorder or hide what a reader sees (``abc\\u202etxt.exe`` never reads ``abcexe.txt``)
    nor start a line an editor would take for another message. A Windows line end (CR LF) is
    one line end."""
    return terminal_safe(text.replace("\r\n", "\n"))


def title(heading: ConversationHeading) -> str:
    """``Conversation with bob``, ``Group Friends (id)``."""
    if heading.group_id is None:
        return f"Conversation with {heading.peer or 'nobody'}"
    if heading.group_name:
        return f"Group {heading.group_name} ({heading.group_id})"
    return f"Group {heading.group_id}"


def when(moment: datetime) -> str:
    """A message's time as people read it, in UTC (the export does not know their zone)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def status(message: ExportedMessage) -> str:
    """The mark and its words for an outgoing message (``✓✓ delivered``), with the reason if
    it failed or waits; empty for a received one."""
    mark = MARKS.get(message.state)
    if mark is None:
        return ""
    text = f"{mark} {WORDS[message.state]}"
    if message.reason and message.state in ("failed", "queued"):
        text += f" ({message.reason})"
    if message.deliveries:
        done = sum(d.state == "delivered" for d in message.deliveries)
        text += f" {done}/{len(message.deliveries)}"
    return visible(text)


def file_line(message: ExportedMessage) -> str:
    """``[file]`` for a file offer (its name is the body), else empty."""
    return "[file] " if message.file is not None else ""
