"""How much a peer may send us: a byte rate and a daily byte quota, smaller for strangers.

Anybody with a registered name can reach our port; without these, two connections filled a
disk at 45 MB/s. The numbers are generous enough that a person typing, a script sending tens of
thousands of short messages on first contact, and the benchmarks never meet them. Past them,
messages are refused *for now* (``over_quota``): the sender's client keeps them queued with
that reason and tries again later; nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

MIB = 1024 * 1024

MESSAGE_COST = 512
"""Bytes charged for every message on top of its body: what storing one costs (its row, two
indexes and the search index come to about 250 bytes a message, measured with 100,000 one-byte
messages), with margin, so that a flood of tiny messages is charged for what it writes."""


@dataclass(frozen=True)
class Allowance:
    rate: float
    """Bytes a second, sustained."""
    burst: float
    """Bytes at once, on top of an idle period."""
    daily: int
    """Bytes a UTC day."""


@dataclass(frozen=True)
class QuotaSettings:
    contact: Allowance = Allowance(rate=16 * MIB, burst=256 * MIB, daily=4096 * MIB)
    """Somebody the user has answered: far beyond any chat, still not a disk-filler."""
    stranger: Allowance = Allowance(rate=1 * MIB, burst=64 * MIB, daily=512 * MIB)
    """A message request: 64 MiB at once is about 100,000 short messages."""
    strangers_daily: int = 1024 * MIB
    """All message requests together, a UTC day: names are cheap to make, the disk is not."""


@dataclass
class _Account:
    tokens: float
    refilled: datetime
    day: date
    used_today: int = 0


class InboundQuota:
    """Per-peer accounts, kept in memory (one per name that reached us this run)."""

    def __init__(self, settings: QuotaSettings | None = None) -> None:
        self._settings = settings or QuotaSettings()
        self._accounts: dict[str, _Account] = {}
        self._strangers_day: date | None = None
        self._strangers_used = 0

    def admit(self, peer: str, sizes: list[int], *, stranger: bool, now: datetime) -> int:
        """How many of the messages (bodies of ``sizes`` bytes, in order) ``peer`` may deliver
        now; those are charged (each body plus :data:`MESSAGE_COST`), the rest must wait."""
        allowance = self._settings.stranger if stranger else self._settings.contact
        account = self._accounts.get(peer)
        if account is None:
            account = _Account(tokens=allowance.burst, refilled=now, day=now.date())
            self._accounts[peer] = account
        elapsed = max(0.0, (now - account.refilled).total_seconds())
        account.tokens = min(allowance.burst, account.tokens + elapsed * allowance.rate)
        account.refilled = now
        if account.day != now.date():
            account.day, account.used_today = now.date(), 0
        if self._strangers_day != now.date():
            self._strangers_day, self._strangers_used = now.date(), 0
        shared = self._settings.strangers_daily - self._strangers_used if stranger else None
        admitted = 0
        for body in sizes:
            cost = body + MESSAGE_COST
            if cost > account.tokens or account.used_today + cost > allowance.daily:
                break
            if shared is not None:
                if cost > shared:
                    break
                shared -= cost
                self._strangers_used += cost
            account.tokens -= cost
            account.used_today += cost
            admitted += 1
        return admitted
