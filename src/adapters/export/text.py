"""Readable text: a heading per conversation, then one entry per message::

    == Conversation with bob (3 messages) ==
    2024-05-17 12:30:45 UTC  alice: hello  ✓✓ delivered
    2024-05-17 12:31:02 UTC  bob: two lines,
        the second indented

Control characters are shown as escapes (see :func:`~.words.visible`): the file is meant to be
read with ``less`` or ``cat``, and a message must not be able to drive the terminal.
"""

from __future__ import annotations

from typing import TextIO

from chinwag.adapters.export.words import file_line, status, title, visible, when
from chinwag.application.history_export import ConversationHeading, ExportedMessage

INDENT = "    "


class TextWriter:
    """Each conversation under its heading, its messages in the order stored."""

    grouped = True

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._first = True

    def begin(self, heading: ConversationHeading) -> None:
        if not self._first:
            self._out.write("\n")
        self._first = False
        count = f"{heading.messages:,} message" + ("" if heading.messages == 1 else "s")
        self._out.write(f"== {visible(title(heading))} ({count}) ==\n")

    def write(self, message: ExportedMessage) -> None:
        body = visible(message.body).replace("\n", "\n" + INDENT)
        mark = status(message)
        tail = f"  {mark}" if mark else ""
        who = visible(message.sender)
        self._out.write(f"{when(message.sent_at)}  {who}: {file_line(message)}{body}{tail}\n")

    def end(self) -> None:
        pass

    def close(self) -> None:
        self._out.flush()
