"""The relay's pieces: a session, a leg, and one client's meter. Its settings, limits and the
count of its places are the domain's (:mod:`chinwag.domain.registry.relay`), re-exported here
so that every import of them keeps working.

The rules that join and drive them are :class:`chinwag.adapters.registry.relay.RelayHub`'s.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from chinwag.application.bucket import TokenBucket
from chinwag.domain.registry.addresses import address_group
from chinwag.domain.registry.relay import (
    ADDRESS_RATE_FACTOR,
    DEFAULT_RELAY_RATE,
    EARLY_BYTES,
    HIGH_WATER,
    MAX_RELAY_SESSIONS,
    MAX_RELAY_SESSIONS_PER_ADDRESS,
    MAX_RELAY_SESSIONS_PER_CLIENT,
    MAX_RELAY_SESSIONS_PER_TARGET,
    MAX_UNJOINED_PER_ADDRESS,
    RELAY_IDLE_TIMEOUT,
    RELAY_JOIN_TIMEOUT,
    RELAY_MEMORY,
    Places,
    RelaySettings,
)

__all__ = [
    "ADDRESS_RATE_FACTOR",
    "DEFAULT_RELAY_RATE",
    "EARLY_BYTES",
    "HIGH_WATER",
    "MAX_RELAY_SESSIONS",
    "MAX_RELAY_SESSIONS_PER_ADDRESS",
    "MAX_RELAY_SESSIONS_PER_CLIENT",
    "MAX_RELAY_SESSIONS_PER_TARGET",
    "MAX_UNJOINED_PER_ADDRESS",
    "QUANTUM",
    "RELAY_IDLE_TIMEOUT",
    "RELAY_JOIN_TIMEOUT",
    "RELAY_MEMORY",
    "Meter",
    "Places",
    "RelayLeg",
    "RelaySession",
    "RelaySettings",
]

if TYPE_CHECKING:
    from chinwag.adapters.registry.connection import Connection

QUANTUM = 64 * 1024
"""Bytes one leg may relay in its turn while other legs of the same client wait for the rate."""


class RelaySession:
    """One relayed session: the keys expected at its two ends (asker, target) and their legs."""

    __slots__ = ("address", "closed", "expiry", "joined", "keys", "legs", "relayed", "sid")

    def __init__(self, sid: str, asker: bytes, target: bytes, address: str = "") -> None:
        self.sid = sid
        self.keys = (asker, target)
        self.address = address
        """The address group the asker asked from (its per-address caps count this session)."""
        self.legs: list[RelayLeg | None] = [None, None]
        self.joined = False
        self.closed = False
        self.expiry: asyncio.TimerHandle | None = None
        self.relayed = 0
        """Bytes carried so far, both ways (before :meth:`RelayHub.forward`)."""

    def side_for(self, key: bytes | None) -> int | None:
        """The end (0: asker, 1: target) still free for ``key``, if any."""
        for side in (0, 1):
            if self.keys[side] == key and self.legs[side] is None:
                return side
        return None


class RelayLeg:
    """One end's connection in a session: what it sent before both were in, what the rate has
    not let through yet, and why its reading is paused."""

    __slots__ = (
        "address",
        "connection",
        "early",
        "holds",
        "key",
        "paused",
        "pending",
        "queued",
        "rid",
        "session",
        "side",
    )

    def __init__(
        self,
        session: RelaySession,
        side: int,
        connection: Connection,
        rid: int | None,
        early: bytes,
    ) -> None:
        self.session = session
        self.side = side
        self.connection = connection
        self.key = session.keys[side]
        self.address = address_group(connection.peer_ip)
        """Whose per-address bucket meters what this leg sends."""
        self.rid = rid
        self.early = bytearray(early)
        self.pending = bytearray()
        self.holds: set[str] = set()
        self.paused = False
        self.queued = False
        """Whether it waits in its client's :class:`_Meter` queue."""


class Meter:
    """One client's token bucket, shared by its legs: those with bytes the rate held back wait
    in a queue and are served in turn, at most :data:`QUANTUM` bytes each, so no leg of the
    client starves another."""

    __slots__ = ("bucket", "queue", "timer", "users")

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket
        self.queue: deque[RelayLeg] = deque()
        self.timer: asyncio.TimerHandle | None = None
        self.users = 0
