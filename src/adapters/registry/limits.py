"""The registry's own limits against the system's: enough file descriptors for the connections
it takes, caps that count what costs (:class:`ConnectionCaps`), and one clear, bounded log of
whom it turned away.

Measured before this: under the common ``ulimit -n 1024`` two busy addresses could hold every
descriptor, and everyone else was refused silently (``accept`` failing with EMFILE, which asyncio
logs as a traceback and answers by pausing every accept for a second). And with a plain cap of
connections per address, a thousand idle sockets from one address locked out every client
behind the same NAT: a handshake takes milliseconds, so what the caps must bound is handshakes
*in progress*, and the oldest of them gives way to a newcomer.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chinwag.application.registry.stats import RegistryStats

log = logging.getLogger("chinwag.adapters.registry.server")

SPARE_DESCRIPTORS = 128
"""Descriptors kept for what is not a client connection: the listening sockets, outgoing
probes, the name book's files, logs."""


def fit_descriptors(connections: int, spare: int = SPARE_DESCRIPTORS) -> int:
    """Raise this process's soft descriptor limit toward ``connections + spare`` (up to the
    hard limit); return how many client connections the limit then allows (``connections``
    or fewer, and says so in the log when fewer)."""
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_NOFILE; the system decides
        return connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + spare
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:
            log.warning("could not raise the descriptor limit from %d to %d: %s", soft, wanted, exc)
    if soft == resource.RLIM_INFINITY or soft - spare >= connections:
        return connections
    allowed = max(1, soft - spare)
    log.warning(
        "the descriptor limit (%d; hard limit %s) allows %d client connections, not %d: "
        "raise it (ulimit -n, or LimitNOFILE= for a service) to take more",
        soft,
        "unlimited" if hard == resource.RLIM_INFINITY else hard,
        allowed,
        connections,
    )
    return allowed


class RefusalLog:
    """Connections turned away for the caps, in the log at once for the first, then at most one
    line per ``every`` seconds saying how many more, why, and from where most came (a flood
    must not flood the log too). ``later(delay, callback)`` runs the summary (the event loop's
    ``call_later``)."""

    def __init__(self, later: Callable[[float, Callable[[], None]], object], every: float = 10.0):
        self._later = later
        self._every = every
        self._open = False
        self._reasons: Counter[str] = Counter()
        self._hosts: Counter[str] = Counter()

    def refused(self, host: str, reason: str) -> None:
        if not self._open:
            self._open = True
            log.warning("refused a connection from %s: %s", host, reason)
            self._later(self._every, self._summary)
            return
        self._reasons[reason] += 1
        self._hosts[host] += 1

    def _summary(self) -> None:
        if not self._reasons:
            self._open = False
            return
        reasons = ", ".join(f"{count} {reason}" for reason, count in self._reasons.most_common())
        host, count = self._hosts.most_common(1)[0]
        log.warning(
            "refused %d more connection(s) in %.0f s (%s); most from %s (%d)",
            sum(self._reasons.values()),
            self._every,
            reasons,
            host,
            count,
        )
        self._reasons.clear()
        self._hosts.clear()
        self._later(self._every, self._summary)


MAX_CONNECTIONS = 10_000
"""Connections at once in all (TCP and WebSocket; ``fit_descriptors`` may lower it)."""
MAX_CONNECTIONS_PER_ADDRESS = 4_000
"""Connections at once from one address: a backstop, far above what a NAT's clients hold."""
MAX_HANDSHAKES = 1_024
MAX_HANDSHAKES_PER_ADDRESS = 32
"""Handshakes in progress, in all and from one address: past either, the oldest one of that
address (of the address with the most, past the first figure) is dropped for the newcomer."""
MAX_KEYS_PER_ADDRESS = 1_000
"""Identity keys registered at once from one address; past it ``register`` is told ``busy``
(keys cost nothing to make)."""
HANDSHAKE_GRACE = 1.0
"""Seconds a handshake in progress is safe from eviction: many clients behind one NAT that
reconnect at once (a registry restart) must not evict each other's handshakes, which take
milliseconds; an idle one is older than this and gives way."""
REGISTER_TIMEOUT = 10.0
"""Seconds an authenticated connection has to register or join a relay session."""


@dataclass(frozen=True, slots=True)
class CapLimits:
    """The figures of :class:`ConnectionCaps` (see the constants above)."""

    connections: int = MAX_CONNECTIONS
    per_address: int = MAX_CONNECTIONS_PER_ADDRESS
    handshakes: int = MAX_HANDSHAKES
    handshakes_per_address: int = MAX_HANDSHAKES_PER_ADDRESS
    keys_per_address: int = MAX_KEYS_PER_ADDRESS
    grace: float = HANDSHAKE_GRACE

    def __post_init__(self) -> None:
        if min(self.connections, self.per_address, self.handshakes) < 1:
            raise ValueError("connection caps must be at least 1")
        if min(self.handshakes_per_address, self.keys_per_address) < 1:
            raise ValueError("per-address caps must be at least 1")


class Slot(Protocol):
    """A socket the caps count: a TCP ``Connection``, or a ``WsConnection`` from its accept
    (its upgrade and the Noise handshake over it are one handshake). The caps keep their marks
    on it (no table of their own per connection)."""

    cap_address: str | None
    """The address group it is counted under; None: a trusted proxy's, not known yet."""
    cap_state: int
    """``OUT`` (not counted), ``SHAKING``, or ``IN`` (authenticated)."""
    cap_key: bytes | None
    """The identity key it registered with, once it did."""

    def evict(self, why: str) -> None:
        """Drop the connection now (its handshake gave way to a newcomer's)."""
        ...


OUT, SHAKING, IN = 0, 1, 2
PROXIED = ""
"""Where handshakes from a trusted proxy wait until its request says whose they are."""


class ConnectionCaps:
    """What every listener of one registry counts into: connections in all and per address,
    handshakes in progress (evicting the oldest past the figures), and the identity keys
    registered per address. Refusals and evictions go to ``refusals`` (the log) and to
    ``stats.connections_refused`` by reason word."""

    def __init__(
        self,
        limits: CapLimits,
        stats: RegistryStats,
        refusals: RefusalLog,
        clock: Callable[[], float],
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._stats = stats
        self._refusals = refusals
        self._total = 0
        self._per_address: Counter[str] = Counter()
        self._shaking: dict[str, dict[Slot, float]] = {}
        """Handshakes in progress by address, oldest first, with when each started."""
        self._shaking_count = 0
        self._keys: dict[str, Counter[bytes]] = {}
        """Registered connections by address, then by key."""

    @property
    def connections(self) -> int:
        return self._total

    @property
    def handshakes(self) -> int:
        return self._shaking_count

    def handshakes_from(self, address: str) -> int:
        return len(self._shaking.get(address, ()))

    def keys_from(self, address: str) -> int:
        return len(self._keys.get(address, ()))

    def admit(self, slot: Slot, transport: str, address: str | None) -> str | None:
        """A new socket from ``address`` (None: a trusted proxy): counted as a handshake in
        progress, or the reason it is refused (then not counted: close it)."""
        limits = self.limits
        if self._total >= limits.connections:
            return self._refuse(address, "connections", f"{limits.connections} connections open")
        if address is not None and self._per_address[address] >= limits.per_address:
            return self._refuse(
                address, "per_address", f"{limits.per_address} connections from that address"
            )
        self._total += 1
        if address is not None:
            self._per_address[address] += 1
        self._stats.connections_accepted[transport] += 1
        slot.cap_address = address
        slot.cap_key = None
        self._start(slot, PROXIED if address is None else address)
        return None

    def place(self, slot: Slot, address: str) -> str | None:
        """A trusted proxy's connection turned out to be ``address``'s: counted there from now
        on, or the reason it is refused."""
        if slot.cap_state == OUT or slot.cap_address is not None:
            return None
        limits = self.limits
        if self._per_address[address] >= limits.per_address:
            return self._refuse(
                address, "per_address", f"{limits.per_address} connections from that address"
            )
        self._per_address[address] += 1
        slot.cap_address = address
        if slot.cap_state == SHAKING:
            self._stop(slot, PROXIED)
            self._start(slot, address)
        return None

    def shaken(self, slot: Slot) -> None:
        """``slot``'s handshake is done: it no longer counts as one."""
        if slot.cap_state == SHAKING:
            self._stop(slot, self._group(slot))
            slot.cap_state = IN

    def may_register(self, slot: Slot, key: bytes) -> str | None:
        """Why ``slot`` may not register with ``key`` now (None: it may)."""
        address = slot.cap_address
        if address is None or slot.cap_key == key:
            return None
        keys = self._keys.get(address)
        if keys is None or key in keys or len(keys) < self.limits.keys_per_address:
            return None
        limit = self.limits.keys_per_address
        self._refuse(address, "keys_per_address", f"{limit} identity keys from that address")
        return f"{limit} identity keys are registered from your address; try again later"

    def registered(self, slot: Slot, key: bytes) -> None:
        """``slot`` registered with ``key`` (counted until it closes)."""
        address = slot.cap_address
        if address is None or slot.cap_key == key or slot.cap_state == OUT:
            return
        if slot.cap_key is not None:
            self._unkey(address, slot.cap_key)
        slot.cap_key = key
        self._keys.setdefault(address, Counter())[key] += 1

    def release(self, slot: Slot) -> None:
        """``slot`` closed: nothing of it counts any more (once; again is harmless)."""
        if slot.cap_state == OUT:
            return
        address = slot.cap_address
        if slot.cap_state == SHAKING:
            self._stop(slot, self._group(slot))
        slot.cap_state = OUT
        self._total -= 1
        if address is not None:
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]
            if slot.cap_key is not None:
                self._unkey(address, slot.cap_key)
        slot.cap_key = None

    def refused(self, address: str, reason: str, text: str) -> None:
        """Log and count a refusal decided elsewhere (``reason`` is the stats' word)."""
        self._refuse(address, reason, text)

    # -- inside ----------------------------------------------------------------------------------

    @staticmethod
    def _group(slot: Slot) -> str:
        return PROXIED if slot.cap_address is None else slot.cap_address

    def _start(self, slot: Slot, group: str) -> None:
        """Count ``slot``'s handshake; past a figure, the oldest handshakes past their grace
        give way (past the grace, as many as it takes to be within the figure again)."""
        slot.cap_state = SHAKING
        waiting = self._shaking.setdefault(group, {})
        now = self._clock()
        waiting[slot] = now
        self._shaking_count += 1
        limits = self.limits
        if group != PROXIED:
            while len(waiting) > limits.handshakes_per_address and self._evict(
                group,
                now,
                "handshakes_per_address",
                f"{limits.handshakes_per_address} handshakes in progress from that address; "
                "dropped the oldest",
            ):
                pass
        while self._shaking_count > limits.handshakes and self._evict(
            max(self._shaking, key=lambda address: len(self._shaking[address])),
            now,
            "handshakes",
            f"{limits.handshakes} handshakes in progress; dropped the oldest of the address "
            "with the most",
        ):
            pass

    def _stop(self, slot: Slot, group: str) -> None:
        waiting = self._shaking.get(group)
        if waiting is None or slot not in waiting:
            return
        del waiting[slot]
        if not waiting:
            del self._shaking[group]
        self._shaking_count -= 1
        slot.cap_state = IN

    def _evict(self, group: str, now: float, reason: str, text: str) -> bool:
        """Drop the oldest handshake of ``group`` if it is past its grace; whether it was."""
        waiting = self._shaking[group]
        oldest, since = next(iter(waiting.items()))
        if now - since < self.limits.grace:
            return False
        self._stop(oldest, group)  # at once: the next newcomer must not evict another for it
        self._refuse(group or "a trusted proxy", reason, text)
        oldest.evict(text)
        return True

    def _unkey(self, address: str, key: bytes) -> None:
        keys = self._keys.get(address)
        if keys is None:
            return
        keys[key] -= 1
        if keys[key] <= 0:
            del keys[key]
            if not keys:
                del self._keys[address]

    def _refuse(self, address: str | None, reason: str, text: str) -> str:
        self._stats.connections_refused[reason] += 1
        self._refusals.refused(address or "a trusted proxy", text)
        return text
