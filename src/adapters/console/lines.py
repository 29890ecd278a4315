"""Lines from a stream (a pipe, a file or a terminal) delivered to the event loop."""

from __future__ import annotations

import asyncio
import contextlib
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
        except (OSError, ValueError):  # the stream was closed under us: the end of input too
            pass
        except RuntimeError:  # the loop is closed: the session is over, nobody listens
            return
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    return lines


TERMINAL_LINE_BYTES = 4095
"""The longest line a terminal in line mode (Linux's N_TTY) passes on: it drops what is typed or
pasted past that, and a 10,003-character line once arrived as 4,095 characters."""


def cut_by_terminal(line: str, stream: TextIO) -> bool:
    """Whether ``line``, read from ``stream``, is as long as a terminal in line mode lets a line
    be, so its end was probably dropped (never the case for a pipe or a file)."""
    text = line.rstrip("\r\n")
    return len(text.encode("utf-8", "surrogateescape")) >= TERMINAL_LINE_BYTES and _is_tty(stream)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (ValueError, OSError):  # closed
        return False
