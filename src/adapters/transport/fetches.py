"""The connecting side's file requests waiting for their answers, on one session.

A request is known by its kind, transfer and number: ``("piece", TID, index)``,
``("hashes", TID, start)``, ``("notice", TID, None)``, which is exactly what its answer says
(a binary piece or hashes frame, a ``file_error`` with ``for`` and ``at``, a ``file_noted``).
Many may wait at once (pipelined); two equal requests in flight are answered in the order they
were asked. An answer nobody waits for (its asker gave up) is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Literal
from uuid import UUID

Kind = Literal["piece", "hashes", "notice"]
Key = tuple[str, UUID, int | None]
Answer = bytes | None
"""A piece's or hashes' data; None for a notice (``file_noted`` says nothing more)."""


class FileRequests:
    """Futures of the file requests asked on one session, by :data:`Key`."""

    def __init__(self) -> None:
        self._waiting: dict[Key, deque[asyncio.Future[Answer]]] = {}

    def __len__(self) -> int:
        return sum(len(futures) for futures in self._waiting.values())

    def expect(self, key: Key) -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(future)
        return future

    def discard(self, key: Key, future: asyncio.Future[Answer]) -> None:
        """The asker gave up (or has its answer): forget its future."""
        futures = self._waiting.get(key)
        if futures is None:
            return
        with contextlib.suppress(ValueError):  # answered already
            futures.remove(future)
        if not futures:
            del self._waiting[key]

    def _first(self, key: Key) -> asyncio.Future[Answer] | None:
        futures = self._waiting.get(key)
        while futures:
            future = futures.popleft()
            if not futures:
                del self._waiting[key]
            if not future.done():
                return future
        return None

    def answer(self, key: Key, value: Answer) -> None:
        future = self._first(key)
        if future is not None:
            future.set_result(value)

    def refuse(self, key: Key, error: Exception) -> None:
        future = self._first(key)
        if future is not None:
            future.set_exception(error)

    def fail(self, error: Exception) -> None:
        """The session ended: every request still waiting fails with ``error``."""
        waiting, self._waiting = self._waiting, {}
        for futures in waiting.values():
            for future in futures:
                if not future.done():
                    future.set_exception(error)
