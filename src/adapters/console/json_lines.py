"""Writing JSON events, one per line, for ``chinwag-cli --json`` (:class:`JsonLines`).

- **valid JSON, valid UTF-8, one event per line**: no ``NaN`` (refused when read; never
  written), a lone surrogate (which a peer's text could hold) goes out as its ``\\uXXXX``
  escape, and U+2028, U+2029 and U+0085 are escaped too, so a reader that splits lines on
  them (JavaScript, Python's ``str.splitlines``) still sees one event per line.
- **never block the loop**: with a :class:`ThreadWriter`, events are gathered and handed to the
  writer thread once per pass of the event loop (or every 64 KiB). The JSON session stops taking
  commands while more than :data:`HIGH_WATER` bytes wait to be written, so answers stay bounded;
  events nobody asked for (messages, states, presence) are dropped past :data:`HARD_LIMIT`, and
  once the reader has caught up, one ``overflow`` event says how many and that the messages
  are in the history (nothing received is ever lost: it was committed before it was shown).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Final, TextIO

from chinwag.adapters.console.json_commands import Ref
from chinwag.adapters.console.json_io import ThreadWriter

log = logging.getLogger(__name__)

HIGH_WATER: Final = 1 << 20
"""Bytes waiting for the reader past which no further command is taken."""
LOW_WATER: Final = 1 << 18
"""...until no more than this many wait."""
HARD_LIMIT: Final = 16 << 20
"""Bytes waiting past which events nobody asked for are dropped (and counted)."""
FLUSH_SIZE: Final = 1 << 16

_LINE_BREAKS: Final = re.compile("[\u0085\u2028\u2029]")
"""Characters some readers take for the end of a line: escaped in strings (JSON allows it)."""
_NOT_JSON: Final = (
    '{"event": "error", "code": "internal", "message": "an event could not be written as JSON"}'
)


class JsonLines:
    """Writes events (dicts) as lines of JSON, at once to ``stream`` or through a ``writer``."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        writer: ThreadWriter | None = None,
        limits: tuple[int, int, int] = (LOW_WATER, HIGH_WATER, HARD_LIMIT),
    ) -> None:
        if (stream is None) == (writer is None):
            raise ValueError("give a stream or a writer")
        self._stream = stream
        self._writer = writer
        self._low, self._high, self._hard = limits
        self._lines: list[str] = []
        self._size = 0
        self._flushing = False
        self._dropped = 0
        self._dropped_messages = 0
        self._telling: asyncio.Future[None] | None = None

    def _emit(self, fields: dict[str, Any], asked: bool = True) -> None:
        line = _line(fields)
        if self._writer is None:
            assert self._stream is not None
            self._stream.write(line.encode("utf-8", "backslashreplace").decode("utf-8"))
            self._stream.flush()
            return
        if not asked and self._writer.backlog + self._size > self._hard:
            self._drop(fields)
            return
        self._lines.append(line)
        self._size += len(line)
        if self._size >= FLUSH_SIZE:
            self.flush()
        elif not self._flushing:
            self._flushing = True
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (yet, or any more): write now
                self.flush()

    def flush(self) -> None:
        """Hand what is gathered to the writer."""
        self._flushing = False
        if self._lines and self._writer is not None:
            # A lone surrogate (only ever inside a string) becomes its JSON escape, "\\ud800".
            data = "".join(self._lines).encode("utf-8", "backslashreplace")
            self._lines.clear()
            self._size = 0
            self._writer.write(data)

    async def room(self) -> None:
        """Wait while the reader lags more than the high-water mark (until the low one)."""
        if self._writer is not None and self._writer.backlog > self._high:
            await self._writer.below(self._low)

    async def close(self) -> None:
        """Write out what is left (see :meth:`ThreadWriter.close`)."""
        self.flush()
        if self._writer is not None:
            await self._writer.close()

    def _drop(self, fields: dict[str, Any]) -> None:
        if not self._dropped:
            self._telling = asyncio.ensure_future(self._tell_dropped())
        self._dropped += 1
        self._dropped_messages += fields["event"] == "message"

    async def _tell_dropped(self) -> None:
        assert self._writer is not None
        await self._writer.below(self._low)
        dropped, messages = self._dropped, self._dropped_messages
        self._dropped = self._dropped_messages = 0
        self._emit(
            {
                "event": "overflow",
                "dropped": dropped,
                "messages": messages,
                "message": f"stdout was not read: {dropped} events were left out, "
                f"{messages} of them received messages (they are in the history: "
                'ask with {"cmd": "history", ...})',
            }
        )


def _line(fields: dict[str, Any]) -> str:
    """One event as a line of JSON; its ``ref`` (a :class:`Ref`) spliced in as the text it
    already is. Never ``NaN``: a value JSON cannot hold is logged and said as an error."""
    ref = fields.pop("ref", None)
    try:
        text = json.dumps(fields, ensure_ascii=False, allow_nan=False)
    except ValueError:
        log.exception("an event could not be written as JSON: %r", fields)
        text = _NOT_JSON
    if isinstance(ref, Ref):
        text = f'{text[:-1]}, "ref": {ref.json}}}'
    if _LINE_BREAKS.search(text):
        text = _LINE_BREAKS.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
    return text + "\n"
