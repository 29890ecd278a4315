"""What one client has not been pushed yet, and when it may be: the presence outbox.

A presence change is noted in the outbox of each session told about that name
(:class:`~chinwag.application.registry.fanout.PresenceFanOut` picks them). Outboxes noted during
a loop pass are flushed once, at the end of it (:meth:`Ticker.soon`), so the changes of one pass
leave in one ``presence_changed`` per client and a lone change leaves at once. Each outbox holds
a token bucket of :data:`PUSH_RATE` pushes a second and :data:`PUSH_BURST` at once: past it,
changes wait for the next token and coalesce meanwhile
(:class:`~chinwag.domain.registry.presence.PendingPresence`: a name that came and went is in
neither list). So churn costs a watcher at most 4 pushes a second, however fast names come and
go, and two connections signing in and out in turn can no longer flood every client.

An outbox holds its session, not only its client: once the session is closed a flush pushes
nothing (a timer may still be planned; it finds nothing to do).
"""

from __future__ import annotations

from collections.abc import Iterable

from chinwag.application.registry.ports.ticker import Handle, Ticker
from chinwag.application.registry.sessions import ClientSession
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.registry.presence import PUSH_BURST, PUSH_RATE, PendingPresence


class PresenceOutboxes:
    """The registry's outboxes that have something to push in this loop pass, flushed together
    once the pass is done; and the factory of outboxes (one per session, made on its first
    change)."""

    __slots__ = ("_dirty", "_planned", "burst", "rate", "stats", "ticker")

    def __init__(
        self,
        ticker: Ticker,
        stats: RegistryStats,
        rate: float = PUSH_RATE,
        burst: int = PUSH_BURST,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a push rate must be positive and a burst at least 1")
        self.ticker = ticker
        self.stats = stats
        self.rate = rate
        self.burst = burst
        self._dirty: list[PresenceOutbox] = []
        self._planned = False

    def of(self, session: ClientSession) -> PresenceOutbox:
        """``session``'s outbox, made now if it has none yet."""
        outbox = session.outbox
        if isinstance(outbox, PresenceOutbox):
            return outbox
        made = PresenceOutbox(session, self)
        session.outbox = made
        return made

    def mark(self, outbox: PresenceOutbox) -> None:
        """``outbox`` has something to push: flush it with the others once this pass is done."""
        self._dirty.append(outbox)
        if not self._planned:
            self._planned = True
            self.ticker.soon(self._flush)

    def _flush(self) -> None:
        self._planned = False
        dirty, self._dirty = self._dirty, []
        for outbox in dirty:
            outbox.flush()


class PresenceOutbox:
    """One session's pending presence changes and its push budget (a token bucket)."""

    __slots__ = (
        "_marked",
        "_noted",
        "_owner",
        "_pending",
        "_stamp",
        "_timer",
        "_tokens",
        "session",
    )

    def __init__(self, session: ClientSession, owner: PresenceOutboxes) -> None:
        self.session = session
        self._owner = owner
        self._pending = PendingPresence()
        self._tokens = float(owner.burst)
        self._stamp = owner.ticker.monotonic()
        self._timer: Handle | None = None
        """Planned when the bucket was empty: the flush waits for the next token."""
        self._marked = False
        """In the registry's list of outboxes to flush at the end of this pass."""
        self._noted = 0
        """Changes noted since the last push: every one but the push itself is coalesced, so
        ``presence_pushes + presence_coalesced`` counts every change noted."""

    def note(self, name: str, online: bool) -> None:
        """``name`` came online (``online``) or left: pushed with the others of this pass, or
        once the budget allows (each note must be a change for this client: the fan-out drops
        repeats)."""
        self._pending.note(name, online)
        self._noted += 1
        if not self._marked and self._timer is None:
            self._marked = True
            self._owner.mark(self)

    def clear(self) -> None:
        """Forget what is pending: the client is about to get its whole ``presence``."""
        self._owner.stats.presence_coalesced += self._noted
        self._noted = 0
        self._pending.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def forget(self, names: Iterable[str]) -> None:
        """Drop what is pending about ``names``: the session no longer watches them."""
        self._pending.forget(names)

    def flush(self) -> None:
        """Push what is pending if the budget allows, else plan to when it does."""
        self._marked = False
        if self.session.closed:
            self._pending.clear()
            self._noted = 0
            return
        if not self._pending:
            self._owner.stats.presence_coalesced += self._noted  # all came and went
            self._noted = 0
            return
        owner = self._owner
        now = owner.ticker.monotonic()
        tokens = min(float(owner.burst), self._tokens + (now - self._stamp) * owner.rate)
        self._stamp = now
        if tokens < 1.0:
            self._tokens = tokens
            if self._timer is None:
                self._timer = owner.ticker.later((1.0 - tokens) / owner.rate, self._due)
            return
        self._tokens = tokens - 1.0
        joined, left = self._pending.take()
        stats = owner.stats
        stats.presence_pushes += 1
        stats.presence_coalesced += self._noted - 1  # rode along, or came and went
        self._noted = 0
        self.session.client.presence_changed(joined, left)

    def _due(self) -> None:
        self._timer = None
        self.flush()

    @property
    def pending(self) -> int:
        """Names waiting to be pushed."""
        return len(self._pending)

    @property
    def waiting(self) -> bool:
        """Whether the outbox waits for its budget (a flush is planned for later)."""
        return self._timer is not None
