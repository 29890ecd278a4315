"""Who is online as a client sees it: the registry's word, steadied across a reconnection.

A registry that restarted (or that we reconnected to) knows only the clients that have
registered with it again so far: its first snapshot is short of everyone still on their way
back, who would each be said to go offline and come back a moment later. So after a
reconnection, the names we had that the snapshot lacks are kept online for a short grace; those
the registry names again (or says left) are the registry's again at once, and the rest go when
the grace ends. A first sign-in has no grace: there is nothing to keep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

PRESENCE_GRACE = 10.0
"""Seconds the names missing from a reconnection's snapshot are kept online: clients come back
to a restarted registry within a few seconds (their backoff is capped at 3 s)."""


class PresenceView:
    """The online set told to ``tell`` whenever it changes (see the module docstring)."""

    def __init__(
        self, tell: Callable[[frozenset[str]], None], grace: float = PRESENCE_GRACE
    ) -> None:
        self._tell = tell
        self._grace = grace
        self._registry: frozenset[str] = frozenset()
        self._kept: frozenset[str] = frozenset()
        self._timer: asyncio.TimerHandle | None = None
        self.online: frozenset[str] = frozenset()

    def snapshot(self, names: Iterable[str], *, reconnected: bool) -> None:
        """The registry's whole online set, after a (re)connection: always told."""
        self._registry = frozenset(names)
        self._cancel()
        self._kept = (
            self.online - self._registry if reconnected and self._grace > 0 else frozenset()
        )
        if self._kept:
            self._timer = asyncio.get_running_loop().call_later(self._grace, self._expire)
        self._publish(always=True)

    def changed(self, joined: Iterable[str], left: Iterable[str]) -> None:
        """A push: who joined and who left since."""
        joined, left = frozenset(joined), frozenset(left)
        self._registry = (self._registry | joined) - left
        self._kept -= joined | left
        self._publish()

    def clear(self) -> None:
        """Nobody: signed out, or the name was taken over."""
        self._cancel()
        self._registry = self._kept = frozenset()
        self._publish()

    def _expire(self) -> None:
        self._timer = None
        self._kept = frozenset()
        self._publish()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _publish(self, *, always: bool = False) -> None:
        online = self._registry | self._kept
        if online == self.online and not always:
            return
        self.online = online
        self._tell(online)
