"""The relay: a session of two registry connections, each proven to hold one end's key, that
carry each other's plaintext as it is.

A registered client asks for a session to a peer (``relay``); the registry tells the peer on its
registry connection (``relay_incoming``) and both ends open a new connection each, whose first
request is ``relay_join``. Each such leg has run the registry's own handshake, so the registry
knows which key it holds; it admits a leg only in the place kept for that key. Once both are in,
each gets ``relay_joined`` and from then on the plaintext of one leg's session is re-sealed into
the other's, unframed and unread: the peers run their own end-to-end handshake inside it, so the
registry carries only ciphertext it cannot read, forge or reorder unnoticed.

Bounded: sessions per asking client, per target, per asking address (joined or not, and not
joined yet: identity keys are free, addresses are not) and in all; new sessions are refused
while the relay holds more than ``max_buffered`` bytes; a token bucket per client (by identity
key, shared by all its legs) and one per address (shared by all keys there) meter what it
sends, and nothing is relayed past them, not even when a leg is lost; a leg whose peer's leg has
more than ``high_water`` unsent bytes is not read until that drains; a session nobody joins
expires. Every forwarded chunk goes through :meth:`RelayHub.forward`, the one place a test
double may tamper with, drop or replay relayed bytes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING

from chinwag.adapters.registry.frames import error_frame
from chinwag.adapters.registry.protocol import ErrorCode, RelayJoin, RelayJoined, dump
from chinwag.adapters.registry.relay_session import (
    QUANTUM,
    Meter,
    RelayLeg,
    RelaySession,
    RelaySettings,
)
from chinwag.adapters.wire.codec import encode
from chinwag.application.bucket import BucketMap
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.registry.refusals import Refusal, RefusalCode
from chinwag.domain.registry.relay import Places

if TYPE_CHECKING:
    from chinwag.adapters.registry.connection import Connection


log = logging.getLogger("chinwag.adapters.registry.server")

_RATE = "rate"
_PEER = "peer"

_MEASURE_EVERY = 0.05
"""Seconds a measure of what the relay holds stands for (it walks every leg)."""


class RelayHub:
    """Every relay session of one registry. Subclass and override :meth:`forward` to tamper
    with relayed bytes in tests; give the subclass to ``RegistryServer(relay_hub=...)``."""

    def __init__(self, settings: RelaySettings | None = None) -> None:
        self.settings = settings if settings is not None else RelaySettings()
        self.sessions: dict[str, RelaySession] = {}
        self._places = Places(self.settings)
        self._meters: dict[bytes, Meter] = {}
        settings = self.settings
        self._key_buckets: BucketMap[bytes] = BucketMap(settings.rate, settings.burst_bytes)
        self._address_buckets: BucketMap[str] = BucketMap(
            settings.address_rate_bytes, settings.address_burst_bytes
        )
        self._measured = (-1.0, 0)
        self.stats = RegistryStats()
        """Where it counts relayed bytes and sessions (the server gives the core's)."""

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def forward(self, session: RelaySession, side: int, data: bytes) -> bytes:
        """What of ``data``, sent by end ``side`` (0: asker, 1: target), reaches the other end;
        the product passes it on as it is. The hook for tests: return altered bytes to tamper,
        ``b""`` to drop, ``data * 2`` to replay."""
        return data

    # -- requests ------------------------------------------------------------------------------

    def refusal(
        self, asker_key: bytes, target_key: bytes, target_name: str, address: str
    ) -> Refusal | None:
        """Why one more session from ``asker_key`` (asking from the address group
        ``address``) to ``target_key`` may not be made now, or None."""
        refusal = self._places.refusal(
            asker_key, target_key, target_name, address, len(self.sessions)
        )
        if refusal is None and self._holding() > self.settings.max_buffered:
            refusal = Refusal(RefusalCode.RELAY_FULL, "the relay holds all it can now")
        return refusal

    def open(self, asker_key: bytes, target_key: bytes, address: str) -> str:
        """Make a session waiting for both ends (its places taken, its join deadline
        running); its id. The caller checked :meth:`refusal` in the same step."""
        sid = secrets.token_urlsafe(16)
        session = RelaySession(sid, asker_key, target_key, address)
        self.sessions[sid] = session
        self.stats.relay_sessions = len(self.sessions)
        self._places.take(session)
        session.expiry = asyncio.get_running_loop().call_later(
            self.settings.join_timeout, self._expire, session
        )
        return sid

    def cancel(self, sid: str) -> None:
        """Drop session ``sid`` if nobody joined it yet (its offer did not reach the target);
        a session that ended already, or joined, is left alone."""
        session = self.sessions.get(sid)
        if session is not None and not session.joined:
            self._end(session, "not offered")

    def join(self, connection: Connection, request: RelayJoin, early: bytes) -> None:
        """``relay_join``, the first request of ``connection`` (``early``: the bytes after
        it): the connection becomes a leg, or is told why not and closed."""
        rid = request.rid
        if not self.settings.enabled:
            connection.close(
                error_frame(ErrorCode.RELAY_OFF, "this registry does not relay", rid), "relay off"
            )
            return
        session = self.sessions.get(request.sid)
        side = None if session is None else session.side_for(connection.identity)
        if session is None or side is None:
            connection.close(
                error_frame(
                    ErrorCode.RELAY_UNKNOWN,
                    "no relay session by that id waits for this key (expired, or never "
                    "offered to it)",
                    rid,
                ),
                "relay unknown",
            )
            return
        if len(early) > self.settings.early_bytes:
            self._overflow(connection, rid)
            return
        leg = RelayLeg(session, side, connection, rid, early)
        session.legs[side] = leg
        connection.become_leg(leg, self.settings.high_water)
        if session.legs[1 - side] is not None:
            self._start(session)

    # -- called by leg connections -------------------------------------------------------------

    def received(self, leg: RelayLeg, data: bytes) -> None:
        """Plaintext from ``leg``: kept until both are in, then relayed within the rate."""
        session = leg.session
        if session.closed:
            return
        if not session.joined:
            leg.early += data
            if len(leg.early) > self.settings.early_bytes:
                self._overflow(leg.connection, None)
            return
        leg.pending += data
        self._pump(leg)

    def congested(self, leg: RelayLeg) -> None:
        """``leg``'s unsent output passed ``high_water``: stop reading the other leg."""
        other = self._other(leg)
        if other is not None:
            other.holds.add(_PEER)
            self._sync(other)

    def drained(self, leg: RelayLeg) -> None:
        """``leg``'s output drained: read the other leg again."""
        other = self._other(leg)
        if other is not None and _PEER in other.holds:
            other.holds.discard(_PEER)
            self._pump(other)

    def lost(self, leg: RelayLeg) -> None:
        """``leg``'s connection is gone: of what it sent and is still held back, what its
        buckets allow now goes on, the rest is dropped (the peers' own protocol resends what was
        not acknowledged; relaying it at once would let a client past its rate by resetting a
        leg); then the other leg is closed."""
        session = leg.session
        if session.closed:
            return
        other = self._other(leg)
        if session.joined and other is not None and leg.pending and _PEER not in leg.holds:
            now = asyncio.get_running_loop().time()
            buckets = (self._meters[leg.key].bucket, self._address_buckets.get(leg.address, now))
            allowed = min(len(leg.pending), *(bucket.available(now) for bucket in buckets))
            if allowed > 0:
                for bucket in buckets:
                    bucket.take(allowed, now)
                self._deliver(session, leg, other, bytes(leg.pending[:allowed]))
        leg.pending.clear()
        self._end(session, "one end left")

    def holding(self) -> int:
        """Bytes the relay holds now: kept before both ends joined, held back by the rate, and
        written to legs but not taken by their sockets yet."""
        held = 0
        for session in self.sessions.values():
            for leg in session.legs:
                if leg is not None:
                    held += len(leg.early) + len(leg.pending) + leg.connection.unsent()
        self._measured = (asyncio.get_running_loop().time(), held)
        return held

    def close(self) -> None:
        """End every session (the registry is shutting down)."""
        for session in list(self.sessions.values()):
            self._end(session, "the registry is shutting down")

    # -- the inside ----------------------------------------------------------------------------

    def _other(self, leg: RelayLeg) -> RelayLeg | None:
        return leg.session.legs[1 - leg.side]

    def _holding(self) -> int:
        """:meth:`holding`, measured at most every :data:`_MEASURE_EVERY` seconds: a flood of
        ``relay`` requests must not walk every leg each time."""
        when, held = self._measured
        if when >= 0 and asyncio.get_running_loop().time() - when < _MEASURE_EVERY:
            return held
        return self.holding()

    def _start(self, session: RelaySession) -> None:
        session.joined = True
        self._places.joined(session)
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
        now = asyncio.get_running_loop().time()
        legs = [leg for leg in session.legs if leg is not None]
        for leg in legs:
            meter = self._meters.get(leg.key)
            if meter is None:
                # The key's bucket outlives its meter until it is full again: ending a session
                # and starting another must not hand a client a fresh burst.
                meter = self._meters[leg.key] = Meter(self._key_buckets.get(leg.key, now))
            meter.users += 1
        for leg in legs:
            leg.connection.send_now(encode(dump(RelayJoined(rid=leg.rid, sid=session.sid))))
        log.info(
            "relay session joined: %s and %s", legs[0].connection.peer, legs[1].connection.peer
        )
        for leg in legs:
            leg.pending, leg.early = leg.early, bytearray()
            if not session.closed:
                self._pump(leg)

    def _pump(self, source: RelayLeg) -> None:
        """Relay what ``source`` sent, in its turn and as far as its client's bucket allows;
        while some is left, ``source`` is not read."""
        session = source.session
        if session.closed or self._other(source) is None:
            return
        if _PEER in source.holds or not source.pending:
            source.holds.discard(_RATE)
            self._sync(source)
            return
        meter = self._meters[source.key]
        if not source.queued:
            source.queued = True
            meter.queue.append(source)
        self._serve(meter)

    def _serve(self, meter: Meter) -> None:
        """Give the client's waiting legs their turns while the bucket has tokens; come back
        when it will have enough for the next one."""
        if meter.timer is not None:
            meter.timer.cancel()
            meter.timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        queue = meter.queue
        while queue:
            leg = queue[0]
            target = self._other(leg)
            if leg.session.closed or target is None or _PEER in leg.holds or not leg.pending:
                queue.popleft()
                leg.queued = False
                if not leg.session.closed:
                    if not leg.pending:
                        leg.holds.discard(_RATE)
                    self._sync(leg)
                continue
            address = self._address_buckets.get(leg.address, now)
            taken = min(len(leg.pending), QUANTUM, meter.bucket.available(now))
            taken = address.take(taken, now)
            if not taken:
                break
            meter.bucket.take(taken, now)
            chunk = bytes(leg.pending[:taken])
            del leg.pending[:taken]
            queue.popleft()
            leg.queued = False
            self._deliver(leg.session, leg, target, chunk)
            if leg.session.closed:
                continue
            if leg.pending:
                leg.queued = True
                queue.append(leg)  # the end of the line: the others go first
            else:
                leg.holds.discard(_RATE)
                self._sync(leg)
        for leg in queue:
            leg.holds.add(_RATE)
            self._sync(leg)
        if queue:
            head = queue[0]
            wanted = min(len(head.pending), QUANTUM)
            wait = max(
                meter.bucket.wait(wanted, now),
                self._address_buckets.get(head.address, now).wait(wanted, now),
            )
            meter.timer = loop.call_later(max(wait, 0.001), self._serve, meter)

    def _deliver(
        self, session: RelaySession, source: RelayLeg, target: RelayLeg, chunk: bytes
    ) -> None:
        session.relayed += len(chunk)
        self.stats.relay_bytes += len(chunk)
        out = self.forward(session, source.side, chunk)
        if out:
            target.connection.write_stream(out)
        now = asyncio.get_running_loop().time()
        source.connection.last_heard = target.connection.last_heard = now

    def _sync(self, leg: RelayLeg) -> None:
        """Pause or resume reading ``leg`` as its holds say."""
        if leg.holds and not leg.paused:
            leg.paused = True
            leg.connection.hold_input()
        elif not leg.holds and leg.paused:
            leg.paused = False
            leg.connection.release_input()

    def _overflow(self, connection: Connection, rid: int | None) -> None:
        connection.violation("relayed too much before both ends joined")
        connection.close(
            error_frame(
                ErrorCode.BAD_REQUEST,
                f"more than {self.settings.early_bytes} bytes before relay_joined",
                rid,
            ),
            "relay overflow",
        )

    def _expire(self, session: RelaySession) -> None:
        if not session.joined:
            self._end(
                session,
                "expired",
                error_frame(
                    ErrorCode.RELAY_UNKNOWN,
                    f"the other end did not join within {self.settings.join_timeout:g} s",
                ),
            )

    def _end(self, session: RelaySession, why: str, frame: bytes | None = None) -> None:
        """Close the session and both its legs (``frame`` first, if not joined yet)."""
        if session.closed:
            return
        session.closed = True
        if self.sessions.get(session.sid) is session:
            del self.sessions[session.sid]
            self.stats.relay_sessions = len(self.sessions)
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
        self._places.free(session)
        for leg in session.legs:
            if leg is None:
                continue
            meter = self._meters.get(leg.key) if session.joined else None
            if meter is not None:
                if leg.queued:
                    meter.queue.remove(leg)
                    leg.queued = False
                meter.users -= 1
                if meter.users <= 0:
                    if meter.timer is not None:
                        meter.timer.cancel()
                    del self._meters[leg.key]
                    self._key_buckets.keep(leg.key, meter.bucket)
            leg.connection.close(None if session.joined else frame, f"relay session {why}")
        if session.joined:
            log.info("relay session ended (%s) after %d bytes", why, session.relayed)
