"""``unwatch``: a session no longer wants to hear of some names; and the end of all its watches
when its connection goes.

A name whose last watcher here is gone is unfollowed on the bus (unless a ``watch`` is still
reading it) and forgotten by the fan-out, which would no longer hear it change. Names that are
not usernames, or not watched, are skipped: unwatching is never refused for its names.
"""

from __future__ import annotations

from collections.abc import Sequence

from chinwag.application.registry.fanout import PresenceFanOut
from chinwag.application.registry.sessions import ClientSession
from chinwag.application.registry.stats import RegistryStats
from chinwag.application.registry.watch import WatchIndex, judge_request, usernames
from chinwag.domain.registry.presence import PresenceMode
from chinwag.domain.registry.refusals import Refusal


class Unwatch:
    """The ``unwatch`` request, and the disconnect's end of every watch."""

    def __init__(
        self,
        index: WatchIndex,
        fanout: PresenceFanOut,
        stats: RegistryStats,
    ) -> None:
        self.index = index
        self.fanout = fanout
        self.stats = stats

    async def execute(self, session: ClientSession, names: Sequence[str]) -> Refusal | None:
        """``session`` (registered, version 3) no longer watches ``names``."""
        refusal = judge_request(session, names)
        if refusal is not None:
            return refusal
        valid, _ = usernames(names)
        gone = self.index.remove(session, valid)
        if session.outbox is not None and self.fanout.mode is PresenceMode.WATCHED:
            # Not told about them any more: a change held back by the push budget would come
            # after the client re-read its set, and leave a name it no longer hears of online.
            session.outbox.forget(valid)
        await self._unfollow(gone)
        return None

    async def everything(self, session: ClientSession) -> None:
        """``session`` is gone (or no longer registered): all its watches end. The index is
        updated before the first await, so no change is noted for it any more."""
        await self._unfollow(self.index.drop(session))

    async def _unfollow(self, gone: list[str]) -> None:
        self.stats.watched_names = self.index.entries
        await self.fanout.unfollow(gone)
