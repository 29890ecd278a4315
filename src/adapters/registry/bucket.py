"""A token bucket over a clock the caller passes in: pure, so it is unit tested without time.

The relay meters every client's relayed bytes with one (keyed by identity key, shared by all of
that client's legs): over any window of ``t`` seconds it lets through at most
``burst + rate * t`` bytes, and never lends tokens it does not have, so that bound holds exactly.
"""

from __future__ import annotations

import math


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
