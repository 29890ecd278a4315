"""When the registry probes its clients, what it probes, and what it tells them
(``reachability``).

**Only the address a client connects from.** A registration is probed only if the host it
announced is the IP address its connection comes from (an absent or unspecified host is
recorded as that address). Another address, or a host name, is not probed at all (``not_probed``,
with a fixed text saying why): the registry would otherwise connect, on a client's word, to a
third party, its own network or its own loopback services, and tell the client what answered
there (a port scanner and an SSRF oracle run from the registry's position), and a name would
cost it a DNS lookup of the client's choice.

**Rate-limited by who asks, not by connection.** Real probes are counted per identity key (one
every ``interval`` seconds) and per address (``per_address_per_minute``, as a token bucket with
that burst): a client that reconnects, or many throwaway keys at one address, get no more. A
cached result (same address, port and key) costs nothing. A ``probe`` asked when no probe may be
made now is answered with the last result; a registration is probed once its turn comes.

**Tried again.** A registration whose probe failed in a way that may change (``refused``,
``timeout``, ``unreachable``, ``handshake_failed``: the client may open its port later) is
probed again after ``reprobe_after`` seconds, then twice as long each time up to
``reprobe_max``, within the same limits; when the result changes, it is pushed again, and
``found.reachable`` follows.

Each result is kept on the registration, for ``found.reachable``. Each connection has at most
one task doing this for it, ended with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from chinwag.adapters.registry.connection import Connection
from chinwag.adapters.registry.frames import address_group, error_frame, same_address
from chinwag.adapters.registry.probe import (
    HANDSHAKE_FAILED,
    LISTENING_NOWHERE,
    NOT_PROBED,
    PROBING_OFF,
    REFUSED,
    TIMEOUT,
    UNREACHABLE,
    Prober,
    ProbeResult,
)
from chinwag.adapters.registry.protocol import ErrorCode, Reachability, dump
from chinwag.adapters.wire.codec import encode
from chinwag.application.bucket import BucketMap
from chinwag.application.registry.sessions import LocalRegistration as Registration
from chinwag.application.registry.stats import RegistryStats

log = logging.getLogger("chinwag.adapters.registry.server")

PROBE_INTERVAL = 5.0
"""Seconds between two real probes for one identity key."""

PROBES_PER_ADDRESS_PER_MINUTE = 10
"""Real probes for the clients of one address (an IPv4 address, an IPv6 /64) a minute, and at
once after a quiet minute."""

REPROBE_AFTER = 30.0
REPROBE_MAX = 600.0
"""Seconds until a failed probe is tried again, doubling each time up to the second."""

MAX_PROBE_ASKERS = 16
"""``probe`` requests one connection may have waiting for a result; more get the last one."""

RETRIED = frozenset({REFUSED, TIMEOUT, UNREACHABLE, HANDSHAKE_FAILED})
"""Failures that may end by themselves (a port opened, a firewall rule added): tried again."""

NOT_ITS_ADDRESS = ProbeResult(
    False,
    NOT_PROBED,
    "not probed: the registry probes only the address a client connects from, and this "
    "client announced another",
)
A_HOST_NAME = ProbeResult(
    False,
    NOT_PROBED,
    "not probed: the announced host is a name; the registry probes only the IP address a "
    "client connects from",
)


def reachability_frame(result: ProbeResult, rid: int | None = None) -> bytes:
    return encode(
        dump(
            Reachability(
                rid=rid, reachable=result.reachable, reason=result.reason, detail=result.detail
            )
        )
    )


class ProbeLimits:
    """Real probes allowed per identity key (one per ``interval`` seconds; 0: no such limit)
    and per address (``per_address_per_minute``, with that burst)."""

    def __init__(self, interval: float, per_address_per_minute: float) -> None:
        if interval < 0:
            raise ValueError("the probe interval cannot be negative")
        if not per_address_per_minute >= 1:
            raise ValueError("probes per address need to be at least 1 a minute")
        self._keys: BucketMap[bytes] | None = BucketMap(1 / interval, 1) if interval > 0 else None
        self._addresses: BucketMap[str] = BucketMap(
            per_address_per_minute / 60, per_address_per_minute
        )

    def wait(self, key: bytes, address: str, now: float) -> float:
        """Seconds until one more probe for ``key`` at ``address`` is allowed (0: now)."""
        wait = self._addresses.get(address, now).wait(1, now)
        if self._keys is not None:
            wait = max(wait, self._keys.get(key, now).wait(1, now))
        return wait

    def take(self, key: bytes, address: str, now: float) -> None:
        """Count one probe (allowed now, as :meth:`wait` said)."""
        self._addresses.get(address, now).take(1, now)
        if self._keys is not None:
            self._keys.get(key, now).take(1, now)


@dataclass(slots=True)
class _Watch:
    """What one connection waits for: a push after its registration, answers to rids, and
    when its failed probe is tried again."""

    push: bool = False
    rids: list[int | None] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    due: float | None = None
    """Loop time of the next try of a failed probe; None: none planned."""
    backoff: float = 0.0
    """The delay after the next failure (0: ``reprobe_after``)."""


class ReachabilityDesk:
    """Probes registrations with ``prober`` (None: probing is off, and every answer says
    ``not_probed``). ``reprobe_after`` None: a failed probe is not tried again by itself."""

    def __init__(
        self,
        prober: Prober | None,
        interval: float = PROBE_INTERVAL,
        *,
        per_address_per_minute: float = PROBES_PER_ADDRESS_PER_MINUTE,
        reprobe_after: float | None = REPROBE_AFTER,
        reprobe_max: float = REPROBE_MAX,
    ) -> None:
        if reprobe_after is not None and not 0 < reprobe_after <= reprobe_max:
            raise ValueError("need 0 < reprobe_after <= reprobe_max")
        self.prober = prober
        self.interval = interval
        self.limits = ProbeLimits(interval, per_address_per_minute)
        self.reprobe_after = reprobe_after
        self.reprobe_max = reprobe_max
        self._watches: dict[Connection, _Watch] = {}
        self.stats = RegistryStats()
        """Where it counts probes by result (the server gives the core's)."""
        self.on_probed: Callable[[Registration], None] = lambda registration: None
        """Told each time a registration's ``reachability`` is set (the core tells the
        presence store, so lookups on other registries see it)."""

    def registered(self, connection: Connection) -> bytes:
        """``connection``'s registration is complete: the ``reachability`` frame to queue
        after its ``presence`` if it is known now, else b"" and a probe is under way."""
        registration = connection.registration
        if registration is None or connection.closing:
            return b""
        watch = self._watches.get(connection)
        if watch is not None:  # registered again on the same connection: start over
            watch.due, watch.backoff = None, 0.0
        result = self._known(registration, connection.peer_ip)
        if result is not None:
            registration.reachability = result
            self.on_probed(registration)
            if self._plan(connection, result):  # a cached failure: try again later
                self._watch(connection)
            return reachability_frame(result)
        self._watch(connection).push = True
        return b""

    def asked(self, connection: Connection, rid: int | None) -> bytes:
        """Answer ``probe``: now if probing is pointless or not allowed now, else once it is
        done."""
        registration = connection.registration
        assert registration is not None
        result = self._unprobed(registration, connection.peer_ip)
        if result is not None:
            registration.reachability = result
            self.on_probed(registration)
            return reachability_frame(result, rid)
        watch = self._watches.get(connection)
        last = registration.reachability
        if isinstance(last, ProbeResult) and (
            not self._allowed_now(registration, connection.peer_ip)
            or (watch is not None and len(watch.rids) >= MAX_PROBE_ASKERS)
        ):
            return reachability_frame(last, rid)
        watch = self._watch(connection)
        if len(watch.rids) >= MAX_PROBE_ASKERS:
            return reachability_frame(
                ProbeResult(False, NOT_PROBED, "a probe is under way; ask again later"), rid
            )
        watch.rids.append(rid)
        return b""

    def forget(self, connection: Connection) -> None:
        """``connection`` is gone: stop waiting for it (a probe under way still ends, for the
        cache)."""
        watch = self._watches.pop(connection, None)
        if watch is not None and watch.task is not None:
            watch.task.cancel()

    async def close(self) -> None:
        """Stop every probe under way (the registry is shutting down)."""
        tasks = [watch.task for watch in self._watches.values() if watch.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.prober is not None:
            await self.prober.close()

    # -- the inside ----------------------------------------------------------------------------

    def _unprobed(self, registration: Registration, peer_ip: str) -> ProbeResult | None:
        """Why ``registration`` (of a client connecting from ``peer_ip``) is not probed at
        all, if it is not."""
        host = registration.host
        if registration.port is None or host is None:
            return LISTENING_NOWHERE
        if self.prober is None:
            return PROBING_OFF
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return A_HOST_NAME
        if not same_address(host, peer_ip):
            return NOT_ITS_ADDRESS
        return None

    def _known(self, registration: Registration, peer_ip: str) -> ProbeResult | None:
        """The result that needs no probe now, if any."""
        result = self._unprobed(registration, peer_ip)
        if result is not None or self.prober is None:
            return result
        assert registration.host is not None and registration.port is not None
        return self.prober.cached(registration.host, registration.port, registration.key)

    def _allowed_now(self, registration: Registration, peer_ip: str) -> bool:
        address = address_group(peer_ip)
        now = asyncio.get_running_loop().time()
        return self.limits.wait(registration.key, address, now) <= 0

    def _watch(self, connection: Connection) -> _Watch:
        """``connection``'s watch, with its task running; woken, to look at what changed."""
        watch = self._watches.get(connection)
        if watch is None:
            watch = self._watches[connection] = _Watch()
        if watch.task is None:
            watch.task = asyncio.get_running_loop().create_task(self._serve(connection, watch))
        watch.wake.set()
        return watch

    def _plan(self, connection: Connection, result: ProbeResult) -> bool:
        """Plan the next try of a failed probe (True), or plan none (False)."""
        watch = self._watches.get(connection)
        if self.reprobe_after is None or result.reason not in RETRIED:
            if watch is not None:
                watch.due, watch.backoff = None, 0.0
            return False
        if watch is None:
            watch = self._watches[connection] = _Watch()
        delay = watch.backoff or self.reprobe_after
        watch.due = asyncio.get_running_loop().time() + delay
        watch.backoff = min(2 * delay, self.reprobe_max)
        return True

    async def _serve(self, connection: Connection, watch: _Watch) -> None:
        """Probe for ``connection`` whenever it is wanted: asked for, or planned."""
        loop = asyncio.get_running_loop()
        try:
            while not connection.closing:
                registration = connection.registration
                if registration is None:  # unregistered (or gone) meanwhile
                    watch.push, watch.due = False, None
                    for rid in watch.rids:
                        connection.send(
                            error_frame(ErrorCode.NOT_REGISTERED, "register first", rid)
                        )
                    watch.rids = []
                    break
                if watch.push or watch.rids:
                    push, watch.push = watch.push, False
                    result = await self._probe(connection, registration, fresh=bool(watch.rids))
                    self._settle(connection, registration, watch, result, push)
                    continue
                if watch.due is None:
                    break
                delay = watch.due - loop.time()
                if delay > 0:
                    watch.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await watch.wake.wait()
                    continue
                watch.due = None
                result = await self._probe(connection, registration, fresh=True)
                self._settle(connection, registration, watch, result, None)
        finally:
            if self._watches.get(connection) is watch:
                del self._watches[connection]

    def _settle(
        self,
        connection: Connection,
        registration: Registration,
        watch: _Watch,
        result: ProbeResult | None,
        push: bool | None,
    ) -> None:
        """Keep ``result`` (None: abandoned) and tell it: pushed if ``push``, or if ``push`` is
        None (a try of its own) and it changed; to every rid waiting."""
        if result is None:
            return
        self.stats.probes[result.reason] += 1
        if connection.registration is registration:
            last = registration.reachability
            registration.reachability = result
            self.on_probed(registration)
            changed = last is None or (last.reachable, last.reason) != (
                result.reachable,
                result.reason,
            )
            if push or (push is None and changed):
                connection.send(reachability_frame(result))
            self._plan(connection, result)
        rids, watch.rids = watch.rids, []
        for rid in rids:
            connection.send(reachability_frame(result, rid))

    async def _probe(
        self, connection: Connection, registration: Registration, *, fresh: bool
    ) -> ProbeResult | None:
        """Probe ``registration`` of ``connection`` once the limits allow (a cached result,
        unless ``fresh``, needs no turn); None if it ended meanwhile."""
        known = self._unprobed(registration, connection.peer_ip)
        if known is not None:
            return known
        prober, host, port = self.prober, registration.host, registration.port
        assert prober is not None and host is not None and port is not None
        key = registration.key
        address = address_group(connection.peer_ip)
        loop = asyncio.get_running_loop()
        while True:
            if connection.closing or connection.registration is not registration:
                return None
            if not fresh:
                cached = prober.cached(host, port, key)
                if cached is not None:
                    return cached
            wait = self.limits.wait(key, address, loop.time())
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        self.limits.take(key, address, loop.time())
        try:
            return await prober.probe(host, port, key, fresh=fresh)
        except Exception:  # a bug in a probe must cost its answer, never the registry
            log.exception("probing %s failed", connection.peer)
            return ProbeResult(False, NOT_PROBED, "the registry could not probe now")
