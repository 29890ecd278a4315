"""What the readable formats (text and HTML) share: titles, times and delivery marks, and
the characters a reader must never get raw."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

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

# C0 and C1 controls but newline and tab, and DEL: a body printed in a terminal must not move
# the cursor, recolour it or retitle the window (an ESC sequence does all that).
_CONTROLS: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """``text`` with every control character but newline and tab as its ``\\x..`` escape."""
    return _CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


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
