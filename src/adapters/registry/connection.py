"""One registry connection: the clear welcome, the Noise handshake, then its requests answered
in order, its pushes flushed once per loop pass, and a watch for silence.

The registry's rules are its use cases' (:mod:`chinwag.application.registry`, routed by
:mod:`chinwag.adapters.registry.dispatch`), the relay's data plane is
:mod:`chinwag.adapters.registry.relay`; this is the connection's life as an
:class:`asyncio.Protocol`, sans streams, so one cheap object per client carries it. Once the
handshake proved the client's key, the connection holds a
:class:`~chinwag.application.registry.sessions.ClientSession` and is that session's
:class:`~chinwag.application.registry.ports.client.ClientPort`: what the use cases push to the
client becomes a frame here. A connection whose first request is ``relay_join`` becomes a relay
leg: from then on its plaintext is a byte stream handed to the relay, never read as frames, and
nothing but relayed bytes is written to it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

from chinwag.adapters.registry.frames import (
    MAX_ERROR_TEXT,
    error_frame,
    ip_of,
    looks_like_json,
    relay_join_of,
)
from chinwag.adapters.registry.limits import OUT, Slot
from chinwag.adapters.registry.outlet import Outlet
from chinwag.adapters.registry.protocol import PROTOCOL_VERSION, ErrorCode, probe_rid
from chinwag.adapters.secure.channel import Handshake, RecordLayer, SecureError
from chinwag.adapters.secure.noise import MAX_MESSAGE
from chinwag.adapters.wire.codec import EmptyFrame, FrameDecoder, FrameTooLarge, encode
from chinwag.application.registry.sessions import ClientSession, LocalRegistration

__all__ = ["MAX_ERROR_TEXT", "Connection", "error_frame"]

if TYPE_CHECKING:
    from chinwag.adapters.registry.relay_session import RelayLeg
    from chinwag.adapters.registry.server import RegistryServer

log = logging.getLogger("chinwag.adapters.registry.server")


class Connection(Outlet, asyncio.Protocol):
    """One client connection: the handshake, then its frames, answered in order; and a watch for
    silence."""

    def __init__(self, server: RegistryServer) -> None:
        self._server = server
        self._decoder = FrameDecoder(server.max_frame)
        self._loop = asyncio.get_running_loop()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._transport: asyncio.Transport | None = None
        self._outbox: list[bytes] = []
        self._closing = False
        self._abort_handle: asyncio.TimerHandle | None = None
        self._violations = 0
        self._reading_paused = False
        self._opened = self.last_heard = self._shaken_at = self._loop.time()
        self._tokens = 2 * server.max_rate  # a burst of two seconds' worth, then the rate
        self._refilled = self.last_heard
        self._first: FrameDecoder | None = FrameDecoder(MAX_MESSAGE)
        self._handshake: Handshake | None = Handshake(
            server.security, initiator=False, prologue=server.prologue
        )
        self._records: RecordLayer | None = None
        self._held: list[bytes] = []
        self._busy = False
        self._pushed: list[tuple[bytes, bool]] = []
        """Pushes made while a request is under way: they follow its answer (a sign-in's
        ``registered`` must come before any change pushed after its snapshot)."""
        self._shaken: asyncio.Future[None] = self._loop.create_future()
        self._became_leg: asyncio.Future[None] = self._loop.create_future()
        self.identity: bytes | None = None
        self.session: ClientSession | None = None
        """The client as the use cases see it, once its handshake proved its key."""
        self.peer = "?"
        self.peer_ip = "127.0.0.1"
        self.leg: RelayLeg | None = None
        """Set once this connection joined a relay session."""
        self._fresh = True  # no request yet: the first may make it a relay leg
        self.slot: Slot = self
        """What the caps count: this connection, or the WebSocket connection under it."""
        self.transport_name = "tcp"
        self.cap_address: str | None = None
        self.cap_state = OUT
        self.cap_key: bytes | None = None
        self.signed_in = False
        """Registered once: the register deadline is met."""

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def registration(self) -> LocalRegistration | None:
        """The name this connection holds now, if any."""
        return None if self.session is None else self.session.registration

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's are not asyncio.Transport subclasses, so no isinstance.
        self._transport = cast(asyncio.Transport, transport)
        carrier = transport.get_extra_info("chinwag_slot")
        if carrier is not None:  # a WebSocket: counted, and its deadline running, from accept
            self.slot = cast(Slot, carrier)
            self._opened = float(getattr(carrier, "accepted", self._opened))
        self.transport_name = transport.get_extra_info("chinwag_transport") or "tcp"
        peername = transport.get_extra_info("peername")
        self.peer_ip = ip_of(peername)
        self.peer = f"{self.peer_ip}:{peername[1]}" if isinstance(peername, tuple) else "?"
        self._server._attach(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            if self._records is None:
                self._shake(data)
                return
            plain = self._records.open(data)
            if self.leg is not None:
                if plain:
                    self._server.relay_hub.received(self.leg, plain)
                return
            if self._fresh:
                frames = self._decoder.feed(plain, max_frames=1)
                if not frames:
                    return
                self._fresh = False
                join = relay_join_of(frames[0])
                if join is not None:
                    self.last_heard = self._loop.time()
                    self._server.relay_hub.join(self, join, self._decoder.take_buffer())
                    return
                frames += self._decoder.feed(b"")
            else:
                frames = self._decoder.feed(plain)
        except SecureError as exc:
            self.violation(str(exc))
            self._abort()
            return
        except FrameTooLarge as exc:
            self.violation(str(exc))
            self.close(error_frame(ErrorCode.FRAME_TOO_LARGE, str(exc)), "frame too large")
            return
        except EmptyFrame:
            self.violation("empty frame")
            self.close(error_frame(ErrorCode.BAD_REQUEST, "a frame cannot be empty"), "empty frame")
            return
        except Exception as exc:  # a bug here must cost this connection, never the logs' sanity
            log.exception("connection from %s broke on its input", self.peer)
            self.violation(f"broke the connection: {type(exc).__name__}")
            self._abort()
            return
        if frames:
            self._take(frames)

    def _shake(self, data: bytes) -> None:
        """Handshake bytes: a version-1 client's clear request is told ``unsupported_version``."""
        if self._first is not None:
            first = self._first.feed(data, max_frames=1)
            if not first:
                return
            if looks_like_json(first[0]):
                self.violation("a version 1 client")
                self.close(
                    error_frame(
                        ErrorCode.UNSUPPORTED_VERSION,
                        f"this registry speaks protocol version {PROTOCOL_VERSION} (encrypted); "
                        "please upgrade chinwag",
                        probe_rid(first[0]),
                    ),
                    "old client",
                )
                return
            data = encode(first[0]) + self._first.take_buffer()
            self._first = None
        handshake = self._handshake
        assert handshake is not None and self._transport is not None
        reply = handshake.feed(data)
        if reply:
            self._transport.write(reply)
        if handshake.remote is None:
            return
        self.identity = handshake.remote.key
        self.session = ClientSession(self.identity, self.peer_ip, self)
        self._records = handshake.records()
        self._handshake = None
        self._server.caps.shaken(self.slot)
        self._shaken.set_result(None)  # the watch now counts idleness, not the handshake
        self.last_heard = self._shaken_at = self._loop.time()
        self.data_received(b"")  # requests that came with the last handshake message

    def _take(self, frames: list[bytes]) -> None:
        """Answer ``frames`` in order, within the rate limit."""
        now = self.last_heard = self._loop.time()
        allowed = self._budget(now, len(frames))
        if allowed < len(frames):
            self.violation(f"over {self._server.max_rate:g} requests/s")
            rate_limited = error_frame(
                ErrorCode.RATE_LIMITED,
                f"too many requests: at most {self._server.max_rate:g} a second; "
                f"{len(frames) - allowed} ignored",
            )
        else:
            rate_limited = b""
        self._held.extend(frames[:allowed])
        if not self._busy:
            self._answer()
        if rate_limited:
            self._outbox.append(rate_limited)
        self.flush()

    def _answer(self) -> None:
        """Answer the held requests until one must wait for the disk."""
        handle = self._server.dispatcher.handle
        held, self._held = self._held, []
        for index, payload in enumerate(held):
            if self._closing:
                return
            try:
                answer = handle(self, payload)
            except Exception:  # a bug in a use case costs its answer, not the connection
                log.exception("a request from %s failed", self.peer)
                answer = error_frame(ErrorCode.BUSY, "the registry could not do that now")
            if isinstance(answer, bytes):
                if answer:  # b"": answered later (a probe), or not at all (closing)
                    self._outbox.append(answer)
                continue
            self._held = held[index + 1 :] + self._held
            self._busy = True
            if self._transport is not None:  # later requests wait in the socket, not here
                self._transport.pause_reading()
            answer.add_done_callback(self._answered)
            return

    def _answered(self, task: asyncio.Task[bytes]) -> None:
        self._busy = False
        pushed, self._pushed = self._pushed, []
        if self._closing:
            return
        if self._transport is not None and not self._reading_paused:
            self._transport.resume_reading()
        if task.cancelled():
            frame = error_frame(ErrorCode.BUSY, "the registry could not do that now")
        else:
            try:
                frame = task.result()
            except Exception:
                log.exception("a request from %s failed", self.peer)
                frame = error_frame(ErrorCode.BUSY, "the registry could not do that now")
        if frame:
            self._outbox.append(frame)
        self._outbox.extend(pushed_frame for pushed_frame, _ in pushed)
        self._answer()
        self.flush()

    def _budget(self, now: float, wanted: int) -> int:
        """How many of ``wanted`` requests the token bucket lets through now."""
        rate = self._server.max_rate
        self._tokens = min(2 * rate, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        allowed = min(wanted, int(self._tokens))
        self._tokens -= allowed
        return allowed

    def pause_writing(self) -> None:
        if self.leg is not None:  # the relay stops reading the leg that feeds this one
            if not self._closing:
                self._server.relay_hub.congested(self.leg)
            return
        # The peer is not taking its answers: stop reading its requests until it does.
        if self._transport is not None and not self._closing:
            self._transport.pause_reading()
            self._reading_paused = True

    def resume_writing(self) -> None:
        if self.leg is not None:
            if not self._closing:
                self._server.relay_hub.drained(self.leg)
            return
        if self._transport is not None and not self._closing:
            self._reading_paused = False
            if not self._busy:
                self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._abort_handle is not None:
            self._abort_handle.cancel()
        self._server._detach(self)
        if not self._closed.done():
            self._closed.set_result(None)

    async def watch(self) -> None:
        """The connection's task: drop it if the handshake is not done in time, or after
        ``idle_timeout`` without a frame; end with it."""
        server = self._server
        idle_timeout = server.idle_timeout
        while not self._closing:
            now = self._loop.time()
            if self.leg is not None:  # relayed bytes either way count; a frame would corrupt them
                leg_timeout = server.relay_hub.settings.idle_timeout
                remaining = self.last_heard + leg_timeout - now
                if remaining <= 0:
                    log.info("relay leg from %s idle for %g s; closed", self.peer, leg_timeout)
                    self.close(why="relay idle")
                    break
            elif self._records is None:
                remaining = self._opened + server.handshake_timeout - now
                if remaining <= 0:
                    self.violation(f"no handshake within {server.handshake_timeout:g} s")
                    self._abort()
                    break
            else:
                if not self.signed_in:
                    # Authenticated, yet neither registered nor joined a relay: it goes soon.
                    left = self._shaken_at + server.register_timeout - now
                    if left <= 0:
                        self._server.caps.refused(
                            self.slot.cap_address or self.peer_ip,
                            "no_register",
                            f"no register within {server.register_timeout:g} s",
                        )
                        self.close(
                            error_frame(
                                ErrorCode.IDLE_TIMEOUT,
                                f"no register within {server.register_timeout:g} s",
                            ),
                            "no register",
                        )
                        break
                remaining = self.last_heard + idle_timeout - now
                if not self.signed_in:
                    remaining = min(remaining, self._shaken_at + server.register_timeout - now)
                if remaining <= 0:
                    if self._reading_paused:
                        self.violation(f"took none of its answers for {idle_timeout:g} s")
                        self._abort()
                        break
                    # A client that stopped or lost its network: an event, not a violation.
                    log.info("%s was silent for %g s; dropped", self.peer, idle_timeout)
                    self.close(
                        error_frame(
                            ErrorCode.IDLE_TIMEOUT, f"nothing received for {idle_timeout:g} s"
                        ),
                        "silent",
                    )
                    break
            waits = [self._closed]
            for change in (self._shaken, self._became_leg):
                if not change.done():
                    waits.append(change)
            await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        await self._closed  # close() and abort() always end in connection_lost
