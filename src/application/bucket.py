"""A token bucket over a clock the caller passes in: pure, so it is unit tested without time.

Group sync pays for what it does on a peer's behalf from one per peer
(:mod:`chinwag.application.groups.pace`). The registry's relay meters every client's relayed
bytes with one (keyed by identity key, shared by all of that client's legs) and every address's
with another: over any window of ``t`` seconds it lets through at most ``burst + rate * t``
bytes, and never lends tokens it does not have, so that bound holds exactly. The reachability
probe counts its probes per key and per address with them.
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

K = TypeVar("K")


class TokenBucket:
    """``rate`` tokens a second, holding at most ``burst``; it starts full."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if not rate > 0 or not burst >= 1 or math.isinf(rate) or math.isinf(burst):
            raise ValueError("a token bucket needs a finite rate > 0 and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def available(self, now: float) -> int:
        """Whole tokens that may be taken now."""
        self._refill(now)
        return int(self._tokens)

    def take(self, wanted: int, now: float) -> int:
        """Take up to ``wanted`` tokens; return how many were taken (maybe 0)."""
        self._refill(now)
        taken = min(wanted, int(self._tokens))
        if taken > 0:
            self._tokens -= taken
        return max(taken, 0)

    def wait(self, wanted: int, now: float) -> float:
        """Seconds until ``wanted`` tokens (at most ``burst``) will be there; 0 if they are."""
        self._refill(now)
        missing = min(wanted, self.burst) - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def full(self, now: float) -> bool:
        """Whether it holds its whole burst: then it is as good as a new one."""
        self._refill(now)
        return self._tokens >= self.burst


class BucketMap(Generic[K]):
    """One :class:`TokenBucket` per key (an identity key, an address), made on first use.

    A bucket that refilled to its burst is the same as a new one, so those are forgotten when
    the map grows: its size follows the keys that used it recently, and forgetting one never
    lends anybody tokens. A caller that keeps a bucket (a meter in use) gives it back with
    :meth:`keep` when done, so one forgotten meanwhile is not replaced by a fresh one.
    """

    __slots__ = ("_buckets", "_prune_at", "burst", "rate")

    _PRUNE_AT = 1024

    def __init__(self, rate: float, burst: float) -> None:
        TokenBucket(rate, burst, 0.0)  # the same checks, once
        self.rate = rate
        self.burst = burst
        self._buckets: dict[K, TokenBucket] = {}
        self._prune_at = self._PRUNE_AT

    def __len__(self) -> int:
        return len(self._buckets)

    def keep(self, key: K, bucket: TokenBucket) -> None:
        """Take back ``key``'s bucket, which its user kept (and the map may have forgotten while
        it was full): what it lent since must count."""
        self._buckets[key] = bucket

    def get(self, key: K, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._prune_at:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}
                self._prune_at = max(self._PRUNE_AT, 2 * len(self._buckets))
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket
