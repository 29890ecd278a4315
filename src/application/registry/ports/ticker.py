"""Time, as the registry's use cases need it: a monotonic clock and callbacks soon or later
(the event loop's in production, a manual one in tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Handle(Protocol):
    """A callback planned by :meth:`Ticker.later` (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None: ...


class Ticker(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def soon(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once the current loop pass is done (after everything already queued)."""
        ...

    def later(self, delay: float, fn: Callable[[], None]) -> Handle:
        """Call ``fn`` in ``delay`` seconds, unless cancelled."""
        ...
