"""``chinwag-cli --json``'s two pipes, each served by a thread so the event loop never blocks.

:class:`LineReader` reads stdin in large chunks and hands the event loop every complete line it
has at once, so commands piped faster than they run are taken together (a thread per line
hand-over cost one wake-up of the loop per command). :class:`ThreadWriter` writes stdout from a
thread: a script that stops reading its output blocks that thread, never the loop, which goes on
acknowledging messages and answering the registry's heartbeats.

Plain threads with blocking calls, rather than the loop's pipe transports: they work alike for
pipes, files and terminals, and never set ``O_NONBLOCK`` on a descriptor the process shares with
its parent (a terminal left non-blocking breaks the shell that started us).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from collections import deque
from typing import Final

log = logging.getLogger(__name__)

MAX_LINE: Final = 1 << 20
"""The longest command line, in bytes: a 64 KiB body escaped as ``\\uXXXX`` is about 400 KiB."""

READ_CHUNK: Final = 1 << 16

TOO_LONG: Final = b"\x00too long"
"""Stands for a line longer than :data:`MAX_LINE` (its bytes are skipped, up to its newline)."""


class LineReader:
    """The lines of a file descriptor, read by a thread and taken by the loop in batches."""

    def __init__(
        self, fd: int, *, max_line: int = MAX_LINE, max_waiting: int = 4 * MAX_LINE
    ) -> None:
        self._fd = fd
        self._max_line = max_line
        self._max_waiting = max_waiting
        """Bytes read but not yet taken, past which the thread stops reading (backpressure)."""
        self._loop = asyncio.get_running_loop()
        self._lines: deque[bytes] = deque()
        self._ended = False
        self._arrived = asyncio.Event()
        self._room = threading.Condition()
        self._waiting = 0
        threading.Thread(target=self._pump, name="chinwag-stdin", daemon=True).start()

    async def batch(self, most: int) -> list[bytes] | None:
        """Up to ``most`` lines, every one available (waiting for the first); None at the end
        of input. Lines come without their newline; :data:`TOO_LONG` stands for one too long."""
        while not self._lines:
            if self._ended:
                return None
            self._arrived.clear()
            await self._arrived.wait()
        taken = [self._lines.popleft() for _ in range(min(most, len(self._lines)))]
        with self._room:
            self._waiting -= sum(len(line) for line in taken)
            self._room.notify()
        return taken

    def _arrive(self, lines: list[bytes] | None) -> None:
        if lines is None:
            self._ended = True
        else:
            self._lines.extend(lines)
        self._arrived.set()

    def _pump(self) -> None:
        try:
            self._read_all()
        except OSError as exc:  # stdin closed under us: that is the end of input too
            log.info("stdin: %s", exc)
        except RuntimeError:  # the loop is closed: the program is ending
            return
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                self._loop.call_soon_threadsafe(self._arrive, None)

    def _read_all(self) -> None:
        pending = b""
        skipping = False  # inside a line that was too long, until its newline
        while chunk := os.read(self._fd, READ_CHUNK):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            if skipping:  # the rest of a line already reported as too long
                if not lines:
                    pending = b""
                    continue
                del lines[0]
                skipping = False
            lines = [TOO_LONG if len(line) > self._max_line else line for line in lines]
            if len(pending) > self._max_line:
                lines.append(TOO_LONG)
                pending, skipping = b"", True
            if lines:
                self._hand_over(lines)
        if pending and not skipping:
            self._hand_over([pending])

    def _hand_over(self, lines: list[bytes]) -> None:
        size = sum(len(line) for line in lines)
        with self._room:
            while self._waiting > 0 and self._waiting + size > self._max_waiting:
                self._room.wait()
            self._waiting += size
        self._loop.call_soon_threadsafe(self._arrive, lines)  # RuntimeError ends the thread


class ThreadWriter:
    """Bytes written to a file descriptor by a thread; the caller never blocks.

    :attr:`backlog` counts bytes given but not yet written; :meth:`below` waits until it is at
    most a limit (what the caller's policy for a reader that does not read is built on). If the
    reader goes away (``EPIPE``), what follows is dropped, once logged.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._backlog = 0
        self._written = 0
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.broken = False
        self._thread = threading.Thread(target=self._drain, name="chinwag-stdout", daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        return self._backlog

    @property
    def written(self) -> int:
        """Bytes written so far (or dropped for a reader that went away)."""
        return self._written

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            self._backlog += len(data)
        self._queue.put(data)

    async def below(self, limit: int) -> None:
        """Until at most ``limit`` bytes wait to be written."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._backlog <= limit:
                return
            future = loop.create_future()
            self._waiters.append((limit, loop, future))
        await future

    async def close(self, patience: float = 10.0) -> None:
        """Wait until everything is written, or nothing was for ``patience`` seconds (a reader
        that stopped reading must not keep us from exiting); then stop the thread."""
        written = -1
        while self._backlog and not self.broken and written != self._written:
            written = self._written
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(patience):
                    await self.below(0)
        if self._backlog and not self.broken:
            log.warning("stdout: %d bytes were never read; exiting without them", self._backlog)
        self._queue.put(None)

    def _drain(self) -> None:
        while (data := self._queue.get()) is not None:
            parts = [data]
            with contextlib.suppress(queue.Empty):
                while len(parts) < 256:
                    more = self._queue.get_nowait()
                    if more is None:
                        self._queue.put(None)
                        break
                    parts.append(more)
            chunk = b"".join(parts)
            self._write(chunk)
            self._done(len(chunk))

    def _write(self, chunk: bytes) -> None:
        if self.broken:
            return
        view = memoryview(chunk)
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except InterruptedError:
                continue
            except BlockingIOError:  # a descriptor somebody else made non-blocking
                time.sleep(0.005)
            except OSError as exc:
                self.broken = True
                log.warning("stdout cannot be written (%s): what follows is dropped", exc)
                return

    def _done(self, size: int) -> None:
        with self._lock:
            self._backlog -= size
            self._written += size
            ready = [w for w in self._waiters if self._backlog <= w[0]]
            self._waiters = [w for w in self._waiters if self._backlog > w[0]]
        for _, loop, future in ready:
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(_settle, future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
