"""When the registry probes its clients, and what it tells them (``reachability``).

Each registration with a port is probed once it is complete (a cached result answers at once),
and the result is pushed after the ``registered`` and ``presence`` frames; it is also kept on the
registration, for ``found.reachable``. A ``probe`` request asks for a fresh probe. Whatever asks,
one connection causes at most one real probe every ``interval`` seconds: a ``probe`` asked
sooner is answered with the last result, and a registration made sooner is probed when the
interval is over. Each connection has at most one task doing this for it, ended with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from chinwag.adapters.registry.connection import Connection
from chinwag.adapters.registry.frames import Registration, error_frame
from chinwag.adapters.registry.probe import (
    LISTENING_NOWHERE,
    NOT_PROBED,
    PROBING_OFF,
    Prober,
    ProbeResult,
)
from chinwag.adapters.registry.protocol import ErrorCode, Reachability, dump
from chinwag.adapters.wire.codec import encode

log = logging.getLogger("chinwag.adapters.registry.server")

PROBE_INTERVAL = 5.0
"""Seconds between two real probes caused by one connection."""

MAX_PROBE_ASKERS = 16
"""``probe`` requests one connection may have waiting for a result; more get the last one."""


def reachability_frame(result: ProbeResult, rid: int | None = None) -> bytes:
    return encode(
        dump(
            Reachability(
                rid=rid, reachable=result.reachable, reason=result.reason, detail=result.detail
            )
        )
    )


@dataclass(slots=True)
class _Wants:
    """What one connection is waiting for: a push after its registration, answers to rids."""

    push: bool = False
    rids: list[int | None] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class ReachabilityDesk:
    """Probes registrations with ``prober`` (None: probing is off, and every answer says
    ``not_probed``)."""

    def __init__(self, prober: Prober | None, interval: float = PROBE_INTERVAL) -> None:
        if interval < 0:
            raise ValueError("the probe interval cannot be negative")
        self.prober = prober
        self.interval = interval
        self._wants: dict[Connection, _Wants] = {}

    def registered(self, registration: Registration) -> bytes:
        """A registration is complete: the ``reachability`` frame to queue after its
        ``presence`` if it is known now, else b"" and a probe is under way."""
        result = self._known(registration)
        if result is not None:
            registration.reachability = result
            return reachability_frame(result)
        self._want(registration.connection).push = True
        return b""

    def asked(self, connection: Connection, rid: int | None) -> bytes:
        """Answer ``probe``: now if probing is pointless or too soon, else once it is done."""
        registration = connection.registration
        assert registration is not None
        if registration.port is None or self.prober is None:
            result = self._known(registration)
            assert result is not None
            registration.reachability = result
            return reachability_frame(result, rid)
        wants = self._wants.get(connection)
        soon = asyncio.get_running_loop().time() < connection.last_probe + self.interval
        last = registration.reachability
        if last is not None and (
            soon or (wants is not None and len(wants.rids) >= MAX_PROBE_ASKERS)
        ):
            return reachability_frame(last, rid)
        wants = self._want(connection)
        if len(wants.rids) >= MAX_PROBE_ASKERS:
            return reachability_frame(
                ProbeResult(False, NOT_PROBED, "a probe is under way; ask again later"), rid
            )
        wants.rids.append(rid)
        return b""

    async def close(self) -> None:
        """Stop every probe under way (the registry is shutting down)."""
        tasks = [wants.task for wants in self._wants.values() if wants.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.prober is not None:
            await self.prober.close()

    def _known(self, registration: Registration) -> ProbeResult | None:
        """The result that needs no probe now, if any."""
        if registration.port is None or registration.host is None:
            return LISTENING_NOWHERE
        if self.prober is None:
            return PROBING_OFF
        return self.prober.cached(registration.host, registration.port, registration.key)

    def _want(self, connection: Connection) -> _Wants:
        wants = self._wants.get(connection)
        if wants is None:
            wants = self._wants[connection] = _Wants()
        if wants.task is None:
            wants.task = asyncio.get_running_loop().create_task(self._serve(connection, wants))
        return wants

    async def _serve(self, connection: Connection, wants: _Wants) -> None:
        """Probe for ``connection`` until nothing is wanted, at most once per interval."""
        loop = asyncio.get_running_loop()
        try:
            while (wants.push or wants.rids) and not connection.closing:
                delay = connection.last_probe + self.interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                registration = connection.registration
                if registration is None:  # unregistered (or gone) meanwhile
                    wants.push = False
                    for rid in wants.rids:
                        connection.send(
                            error_frame(ErrorCode.NOT_REGISTERED, "register first", rid)
                        )
                    wants.rids = []
                    continue
                push, wants.push = wants.push, False
                result = await self._probe(connection, registration, fresh=bool(wants.rids))
                if connection.registration is registration:
                    registration.reachability = result
                    if push:
                        connection.send(reachability_frame(result))
                rids, wants.rids = wants.rids, []
                for rid in rids:
                    connection.send(reachability_frame(result, rid))
        finally:
            if self._wants.get(connection) is wants:
                del self._wants[connection]

    async def _probe(
        self, connection: Connection, registration: Registration, *, fresh: bool
    ) -> ProbeResult:
        known = None if fresh else self._known(registration)
        if known is not None:
            return known
        if registration.port is None or registration.host is None or self.prober is None:
            known = self._known(registration)
            assert known is not None
            return known
        connection.last_probe = asyncio.get_running_loop().time()
        try:
            return await self.prober.probe(
                registration.host, registration.port, registration.key, fresh=fresh
            )
        except Exception:  # a bug in a probe must cost its answer, never the registry
            log.exception("probing %s failed", connection.peer)
            return ProbeResult(False, NOT_PROBED, "the registry could not probe now")
