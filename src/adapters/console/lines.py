"""Lines from a stream (a pipe, a file or a terminal) delivered to the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import TextIO


def read_lines(stream: TextIO) -> asyncio.Queue[str | None]:
    """A queue that receives each line of ``stream`` as it is read (by a thread, which works for
    pipes, files and terminals alike), then ``None`` at the end of input."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in stream:
                loop.call_soon_threadsafe(lines.put_nowait, line)
        finally:
            loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    return lines
