"""The real clock and id factory."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from uuid import UUID


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    """Random (version 4) UUIDs: unguessable and unique without coordination.

    The operating system's randomness is read 4 KiB at a time: one system call per message was
    a measurable part of the cost of sending one.
    """

    def __init__(self) -> None:
        self._pool = b""

    def new_id(self) -> UUID:
        if len(self._pool) < 16:
            self._pool = os.urandom(4096)
        raw, self._pool = self._pool[:16], self._pool[16:]
        return UUID(bytes=raw, version=4)
