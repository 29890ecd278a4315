"""One lock per group, shared by what stores a group's received messages and what takes some
of them out again."""

from __future__ import annotations

import asyncio
from uuid import UUID


class GroupLocks:
    """The intake judges and stores a group's messages under its lock, and a withdrawal reads
    the chain and takes messages out under the same lock: a message judged against the chain
    from before a removal is then never stored after the withdrawal that removal started."""

    def __init__(self) -> None:
        self._locks: dict[UUID, asyncio.Lock] = {}

    def of(self, group: UUID) -> asyncio.Lock:
        lock = self._locks.get(group)
        if lock is None:
            lock = self._locks[group] = asyncio.Lock()
        return lock
