"""How much and how fast group sync works for one peer: its settings, a token bucket per peer,
and the interval between two requests to one peer about one group.

Everything sync does because of what a peer sent (its haves, its messages that had to wait,
its changes that follow one not known here) or because it came online costs a registry lookup
and frames to it. Any authenticated peer can send those for group ids it makes up, so the
work is paid from a bucket of tokens per peer (:class:`PeerBuckets`): a peer costs at most
:data:`PEER_BURST` lookups at once and :data:`PEER_RATE` a second after that, however many
frames it sends. Deciding that there is nothing to send costs no token (two members in step
exchange haves for free).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from chinwag.application.bucket import BucketMap
from chinwag.application.groups.limits import (
    FORWARD_BATCH,
    FORWARD_BUDGET,
    MAX_RATE_ENTRIES,
    MAX_SYNC_TASKS,
    SYNC_CONCURRENCY,
    SYNC_INTERVAL,
)
from chinwag.application.ports.clock import Clock

PEER_BURST: Final = 256
"""Tokens a peer's bucket holds: lookups (each followed by the frames of one answer, one
request or one greeting) sync may do for that peer at once. A member back after a long absence
costs about one per group shared with it (the answer to its have of each group, and for each
of our haves it answers, its reply), so this covers a sign-in with about a hundred groups in
common; past it, the rest waits for the refill and the next trigger."""

PEER_RATE: Final = 2.0
"""Tokens a second a peer's bucket gets back (up to :data:`PEER_BURST`)."""


@dataclass(frozen=True)
class SyncSettings:
    """The bounds of group sync (the defaults are the product's; tests make them small)."""

    interval: float = SYNC_INTERVAL
    """Seconds between two requests to one peer about one group (see ``SYNC_INTERVAL``)."""
    batch: int = FORWARD_BATCH
    """Messages per ``messages`` frame when handing history over."""
    budget: int = FORWARD_BUDGET
    """Messages one answer hands over; only those the peer took count against it."""
    max_tasks: int = MAX_SYNC_TASKS
    concurrency: int = SYNC_CONCURRENCY
    burst: int = PEER_BURST
    """Tokens of a peer's bucket (see :class:`PeerBuckets`)."""
    rate: float = PEER_RATE
    """Tokens a second a peer's bucket gets back."""


class PeerBuckets:
    """A token bucket per peer, on ``clock`` (so tests control the refill)."""

    def __init__(self, clock: Clock, burst: int, rate: float) -> None:
        self._clock = clock
        self._buckets: BucketMap[str] = BucketMap(rate, float(burst))

    def ready(self, peer: str) -> bool:
        """Whether ``peer`` has a token now (none is taken): work that would need one is not
        even started without it (a flood of frames then costs a dictionary lookup each)."""
        now = self._now()
        return self._buckets.get(peer, now).available(now) >= 1

    def take(self, peer: str) -> bool:
        """Take one of ``peer``'s tokens; False (and nothing taken) when it has none."""
        now = self._now()
        return self._buckets.get(peer, now).take(1, now) == 1

    def _now(self) -> float:
        return self._clock.now().timestamp()


class AskedRecently:
    """When this client last asked a peer about a group: one request per interval."""

    def __init__(self, clock: Clock, interval: float) -> None:
        self._clock = clock
        self._interval = interval
        self._asked: OrderedDict[tuple[str, UUID], float] = OrderedDict()

    def may_ask(self, peer: str, group: UUID) -> bool:
        """Whether a request to ``peer`` about ``group`` may go now (it is counted as gone)."""
        now = self._clock.now().timestamp()
        key = (peer, group)
        last = self._asked.get(key)
        if last is not None and now - last < self._interval:
            return False
        self._asked[key] = now
        self._asked.move_to_end(key)
        while len(self._asked) > MAX_RATE_ENTRIES:
            self._asked.popitem(last=False)
        return True
