"""The relay's pieces: its settings and limits, a session, a leg, and one client's meter.

The rules that join and drive them are :class:`chinwag.adapters.registry.relay.RelayHub`'s.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chinwag.adapters.registry.bucket import TokenBucket

if TYPE_CHECKING:
    from chinwag.adapters.registry.connection import Connection

DEFAULT_RELAY_RATE = 8 * 1024 * 1024
"""Bytes a second one client may send through the relay, all its sessions together."""
MAX_RELAY_SESSIONS_PER_CLIENT = 8
"""Relay sessions one client (identity key) may have asked for and not ended."""
MAX_RELAY_SESSIONS_PER_TARGET = 32
"""Relay sessions others may have open to one client."""
MAX_RELAY_SESSIONS = 1000
"""Relay sessions at once, in all."""
RELAY_JOIN_TIMEOUT = 10.0
"""Seconds both ends have to join a session before it expires."""
RELAY_IDLE_TIMEOUT = 600.0
"""Seconds a joined session may carry nothing either way before both legs are closed."""
EARLY_BYTES = 64 * 1024
"""Bytes a leg may send before its ``relay_joined`` (kept, then relayed); past it, closed."""
HIGH_WATER = 256 * 1024
"""Unsent bytes of a leg past which the other leg is not read until they drain."""

QUANTUM = 64 * 1024
"""Bytes one leg may relay in its turn while other legs of the same client wait for the rate."""


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """The relay's switches and limits (see the module's constants for what each means)."""

    enabled: bool = True
    rate: float = DEFAULT_RELAY_RATE
    burst: float | None = None
    """Bytes a client may send at once after a pause; default a quarter second of ``rate``,
    at least 64 KiB."""
    sessions_per_client: int = MAX_RELAY_SESSIONS_PER_CLIENT
    sessions_per_target: int = MAX_RELAY_SESSIONS_PER_TARGET
    max_sessions: int = MAX_RELAY_SESSIONS
    join_timeout: float = RELAY_JOIN_TIMEOUT
    idle_timeout: float = RELAY_IDLE_TIMEOUT
    early_bytes: int = EARLY_BYTES
    high_water: int = HIGH_WATER

    def __post_init__(self) -> None:
        if not self.rate >= 1:
            raise ValueError(f"the relay rate must be at least 1 byte a second, not {self.rate}")
        if self.burst is not None and not self.burst >= 1:
            raise ValueError(f"the relay burst must be at least 1 byte, not {self.burst}")
        for name in ("sessions_per_client", "sessions_per_target", "max_sessions"):
            if getattr(self, name) < 1:
                raise ValueError(f"relay {name.replace('_', ' ')} must be at least 1")
        if not self.join_timeout > 0 or not self.idle_timeout > 0:
            raise ValueError("relay timeouts must be positive")
        if self.early_bytes < 0 or self.high_water < 1:
            raise ValueError("relay buffer limits must be positive")

    @property
    def burst_bytes(self) -> float:
        return self.burst if self.burst is not None else max(64 * 1024.0, self.rate / 4)


class RelaySession:
    """One relayed session: the keys expected at its two ends (asker, target) and their legs."""

    __slots__ = ("closed", "expiry", "joined", "keys", "legs", "relayed", "sid")

    def __init__(self, sid: str, asker: bytes, target: bytes) -> None:
        self.sid = sid
        self.keys = (asker, target)
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
