"""The relay's settings and limits, and the count of its places: who holds how many sessions,
against caps per asking client (identity key), per target, per asking address and in all.

Moved from ``adapters/registry/relay_session.py`` (which re-exports the settings); the data
plane (sessions, legs, meters) stays in the adapter.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Protocol, TypeVar

from chinwag.domain.registry.refusals import Refusal, RefusalCode

DEFAULT_RELAY_RATE = 8 * 1024 * 1024
"""Bytes a second one client may send through the relay, all its sessions together."""
MAX_RELAY_SESSIONS_PER_CLIENT = 8
"""Relay sessions one client (identity key) may have asked for and not ended."""
MAX_RELAY_SESSIONS_PER_TARGET = 32
"""Relay sessions others may have open to one client."""
MAX_RELAY_SESSIONS = 1000
"""Relay sessions at once, in all."""
MAX_RELAY_SESSIONS_PER_ADDRESS = 128
"""Relay sessions the clients of one address (an IPv4 address, an IPv6 /64) may have asked for
and not ended: identity keys cost nothing, so the per-client cap alone does not bound one
machine."""
MAX_UNJOINED_PER_ADDRESS = 32
"""Of those, sessions not joined yet: they cost a place and nothing else, so they are what a
flood of throwaway keys would fill the registry with."""
ADDRESS_RATE_FACTOR = 4
"""The clients of one address share a token bucket of this many times the per-client rate (and
burst): a household or an office behind one NAT relays at most that much in all."""
RELAY_MEMORY = 256 * 1024 * 1024
"""Bytes the relay may hold in all (kept early, held back by the rate, written and not yet
taken by the socket) before new sessions are refused ``relay_full``."""
RELAY_JOIN_TIMEOUT = 10.0
"""Seconds both ends have to join a session before it expires."""
RELAY_IDLE_TIMEOUT = 600.0
"""Seconds a joined session may carry nothing either way before both legs are closed."""
EARLY_BYTES = 64 * 1024
"""Bytes a leg may send before its ``relay_joined`` (kept, then relayed); past it, closed."""
HIGH_WATER = 256 * 1024
"""Unsent bytes of a leg past which the other leg is not read until they drain."""


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
    sessions_per_address: int = MAX_RELAY_SESSIONS_PER_ADDRESS
    unjoined_per_address: int = MAX_UNJOINED_PER_ADDRESS
    address_rate: float | None = None
    """Bytes a second the clients of one address may relay in all; default
    :data:`ADDRESS_RATE_FACTOR` times ``rate``. Its burst is ``burst_bytes`` scaled alike."""
    max_buffered: int = RELAY_MEMORY

    def __post_init__(self) -> None:
        if not self.rate >= 1:
            raise ValueError(f"the relay rate must be at least 1 byte a second, not {self.rate}")
        if self.burst is not None and not self.burst >= 1:
            raise ValueError(f"the relay burst must be at least 1 byte, not {self.burst}")
        if self.address_rate is not None and not self.address_rate >= 1:
            raise ValueError(
                f"the relay rate per address must be at least 1 byte a second, not "
                f"{self.address_rate}"
            )
        for name in (
            "sessions_per_client",
            "sessions_per_target",
            "max_sessions",
            "sessions_per_address",
            "unjoined_per_address",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"relay {name.replace('_', ' ')} must be at least 1")
        if not self.join_timeout > 0 or not self.idle_timeout > 0:
            raise ValueError("relay timeouts must be positive")
        if self.early_bytes < 0 or self.high_water < 1 or self.max_buffered < 1:
            raise ValueError("relay buffer limits must be positive")

    @property
    def burst_bytes(self) -> float:
        return self.burst if self.burst is not None else max(64 * 1024.0, self.rate / 4)

    @property
    def address_rate_bytes(self) -> float:
        return (
            self.address_rate
            if self.address_rate is not None
            else (ADDRESS_RATE_FACTOR * self.rate)
        )

    @property
    def address_burst_bytes(self) -> float:
        return max(1.0, self.burst_bytes * self.address_rate_bytes / self.rate)


class HeldPlaces(Protocol):
    """What :class:`Places` reads of a session (the adapter's ``RelaySession`` has it)."""

    @property
    def keys(self) -> tuple[bytes, bytes]:
        """The asker's identity key and the target's."""
        ...

    @property
    def address(self) -> str:
        """The address group the asker asked from."""
        ...

    @property
    def joined(self) -> bool:
        """Whether both ends are in."""
        ...


class Places:
    """Who holds how many relay sessions: each asking client (identity key), each target, each
    asking address (joined or not, and not joined yet), against the settings' caps."""

    __slots__ = ("_asked", "_from", "_incoming", "_settings", "_unjoined_from")

    def __init__(self, settings: RelaySettings) -> None:
        self._settings = settings
        self._asked: Counter[bytes] = Counter()
        self._incoming: Counter[bytes] = Counter()
        self._from: Counter[str] = Counter()
        self._unjoined_from: Counter[str] = Counter()

    def refusal(
        self, asker_key: bytes, target_key: bytes, target_name: str, address: str, sessions: int
    ) -> Refusal | None:
        """Why ``asker_key`` (at the address group ``address``) may not have one more session
        to ``target_key`` (called ``target_name``) while the relay has ``sessions``, or None."""
        settings = self._settings
        if self._asked[asker_key] >= settings.sessions_per_client:
            return Refusal(
                RefusalCode.RELAY_LIMIT,
                f"you have {settings.sessions_per_client} relay sessions open, as many as one "
                "client may",
            )
        if self._from[address] >= settings.sessions_per_address:
            return Refusal(
                RefusalCode.RELAY_LIMIT,
                f"your address has {settings.sessions_per_address} relay sessions open, as many "
                "as one address may",
            )
        if self._unjoined_from[address] >= settings.unjoined_per_address:
            return Refusal(
                RefusalCode.RELAY_LIMIT,
                f"your address has {settings.unjoined_per_address} relay sessions nobody joined "
                "yet, as many as one address may; try again in a few seconds",
            )
        if sessions >= settings.max_sessions:
            return Refusal(RefusalCode.RELAY_FULL, "the relay carries all it can now")
        if self._incoming[target_key] >= settings.sessions_per_target:
            return Refusal(
                RefusalCode.RELAY_FULL, f"{target_name} has as many relay sessions as it may"
            )
        return None

    def take(self, session: HeldPlaces) -> None:
        """``session`` was made: it holds its places until :meth:`free`."""
        asker, target = session.keys
        self._asked[asker] += 1
        self._incoming[target] += 1
        self._from[session.address] += 1
        self._unjoined_from[session.address] += 1

    def joined(self, session: HeldPlaces) -> None:
        """Both ends of ``session`` are in (call once)."""
        _decrement(self._unjoined_from, session.address)

    def free(self, session: HeldPlaces) -> None:
        """``session`` ended (call once)."""
        asker, target = session.keys
        _decrement(self._asked, asker)
        _decrement(self._incoming, target)
        _decrement(self._from, session.address)
        if not session.joined:
            _decrement(self._unjoined_from, session.address)


_T = TypeVar("_T")


def _decrement(counter: Counter[_T], key: _T) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
