"""Partial files kept open between pieces, shared safely by the threads that write them."""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path


class _Part:
    """An open partial file; closed when evicted *and* no thread is writing through it."""

    __slots__ = ("evicted", "fd", "users")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.users = 0
        self.evicted = False


class OpenParts:
    """The last few partial files written, kept open (an LRU), safe to use from many threads.

    A descriptor is never closed while a thread still writes through it: closing it could let
    the number be reused by another open, and the write land in a file it was not meant for.
    """

    def __init__(self, capacity: int, opener: Callable[[Path], int]) -> None:
        self._capacity = capacity
        self._opener = opener
        self._lock = threading.Lock()
        self._open: OrderedDict[Path, _Part] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)

    @contextlib.contextmanager
    def use(self, path: Path) -> Iterator[int]:
        """The descriptor of ``path`` (opened with the opener if it is not open), held open
        until the block ends."""
        with self._lock:
            part = self._open.pop(path, None) or _Part(self._opener(path))
            self._open[path] = part
            part.users += 1
            while len(self._open) > self._capacity:
                self._evict(self._open.popitem(last=False)[1])
        try:
            yield part.fd
        finally:
            with self._lock:
                part.users -= 1
                if part.evicted and not part.users:
                    os.close(part.fd)

    def close(self, path: Path) -> None:
        """Close ``path``'s descriptor (once its writers are done), e.g. before a rename."""
        with self._lock:
            part = self._open.pop(path, None)
            if part is not None:
                self._evict(part)

    def close_all(self) -> None:
        with self._lock:
            while self._open:
                self._evict(self._open.popitem()[1])

    def _evict(self, part: _Part) -> None:
        part.evicted = True
        if not part.users:
            os.close(part.fd)
