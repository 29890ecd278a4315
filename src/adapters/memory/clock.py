"""A clock and an id factory that tests control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID


class ManualClock:
    """Starts at a fixed moment and advances by ``step`` at every reading."""

    def __init__(
        self,
        start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
        step: timedelta = timedelta(milliseconds=1),
    ) -> None:
        self._now = start
        self._step = step

    def now(self) -> datetime:
        moment = self._now
        self._now += self._step
        return moment

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class SequentialIds:
    """UUIDs 00000000-0000-0000-0000-000000000001, ...002, and so on: readable in failures."""

    def __init__(self, prefix: int = 0) -> None:
        self._next = prefix << 64

    def new_id(self) -> UUID:
        self._next += 1
        return UUID(int=self._next)
