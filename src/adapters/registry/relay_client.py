"""Relayed sessions through the registry, as the client sees them.

Dialling: ask the registry (on the signed-in connection) for a session to a peer, then join it on
a new connection of our own (a "leg"): a secure registry connection whose first request is
``relay_join``. Answering: the registry pushes ``relay_incoming`` when somebody asks for us; we
join on a new leg the same way and hand the stream to the transport's accepting side, which runs
the peer protocol as responder, exactly as for a TCP connection. The registry proves its key on
every leg (the one pinned for its address), and each leg proves ours, so only the two ends the
registry chose can join. See docs/protocol.md, "Relay".

Legs go to the registry the directory is connected to now, over the same kind of endpoint (TCP
or WebSocket), so relayed chat works wherever signing in does. A registry of a network may hold
the session on another of its registries: its ``relay_incoming`` then names them (``via``), and
the leg joins at one of those, which must prove the same registry key (nothing new is pinned).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from pydantic import ValidationError

from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.registry.link import Link
from chinwag.adapters.registry.protocol import (
    SERVER_MESSAGE_ADAPTER,
    Error,
    ErrorCode,
    RelayIncoming,
    RelayJoin,
    RelayJoined,
    RelayReady,
    dump,
)
from chinwag.adapters.registry.relayed_stream import relayed_streams
from chinwag.adapters.secure.channel import SecureError
from chinwag.application.errors import (
    ChatError,
    PeerUnreachable,
    UnknownUser,
    UserOffline,
)

log = logging.getLogger(__name__)

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

_REFUSALS: dict[str, str] = {
    ErrorCode.RELAY_OFF: "relay_off",
    ErrorCode.RELAY_FULL: "relay_full",
    ErrorCode.RELAY_LIMIT: "relay_limit",
    ErrorCode.RATE_LIMITED: "relay_limit",
    ErrorCode.BUSY: "relay_full",
}
"""The registry's refusals of a relay session, as causes of the connection doctor."""

MAX_ANSWERING = 16
"""Relayed sessions being joined at once on the registry's word; more offers are declined (the
registry expires them), so a registry cannot make us open connections without end. Sessions
once joined are bounded by the transport's own limits on accepted connections."""

JOIN_TIMEOUT = 15.0
"""How long a leg waits for the other end to join: longer than the registry waits (10 s), so
the registry's answer (``relay_unknown``: the other end never came) is what we hear."""


class RegistryRelay:
    """Dials and answers relayed sessions through the registry ``directory`` is signed in to."""

    def __init__(self, directory: RegistryDirectory) -> None:
        self._directory = directory
        self._serve: Serve | None = None
        self._answering: set[asyncio.Task[None]] = set()
        self._serving: set[asyncio.Future[None]] = set()
        directory.relay_offered = self._offered

    def accept(self, serve: Serve) -> None:
        """Hand every relayed session offered to us to ``serve`` (the transport's inbound side)."""
        self._serve = serve

    async def dial(self, peer: str) -> Streams:
        """A relayed stream to ``peer``; PeerUnreachable (with the doctor's cause) if the
        registry will not or cannot relay."""
        try:
            answer = await self._directory.ask_relay(peer)
        except (UserOffline, UnknownUser) as exc:
            raise PeerUnreachable(str(exc), "unreachable") from None
        except ChatError as exc:
            raise PeerUnreachable(
                f"cannot relay to {peer}: {exc}", "registry_unreachable"
            ) from None
        if isinstance(answer, Error):
            cause = _REFUSALS.get(answer.code)
            if answer.code in (ErrorCode.OFFLINE, ErrorCode.UNKNOWN_USER):
                cause = "unreachable"
            elif answer.code == ErrorCode.NOT_REGISTERED:  # re-registering after a reconnect
                cause = "registry_unreachable"
            raise PeerUnreachable(
                f"the registry will not relay to {peer}: {answer.message}", cause or "lost"
            )
        if not isinstance(answer, RelayReady):
            raise PeerUnreachable(f"the registry answered {answer.type!r} to a relay", "lost")
        return await self._join(answer.sid, peer)

    async def close(self) -> None:
        """Stop answering; sessions being joined are given up."""
        self._serve = None
        tasks = [*self._answering, *self._serving]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _offered(self, offer: RelayIncoming) -> None:
        if self._serve is None:
            return
        if len(self._answering) >= MAX_ANSWERING:
            log.warning("declining a relayed session: %d are being joined", len(self._answering))
            return
        task = asyncio.get_running_loop().create_task(
            self._answer(offer, self._serve), name="relay answer"
        )
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, offer: RelayIncoming, serve: Serve) -> None:
        """Join; then serve the session in a task of its own, so that the joins under way (not
        the sessions) are what :data:`MAX_ANSWERING` counts."""
        try:
            reader, writer = await self._join(offer.sid, offer.from_, offer.via)
        except PeerUnreachable as exc:
            log.info("could not join a relayed session from %r: %r", offer.from_, str(exc))
            return
        except Exception:  # nobody awaits this task: say it here
            log.exception("joining a relayed session from %r failed", offer.from_)
            return
        task: asyncio.Future[None] = asyncio.ensure_future(serve(reader, writer))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _join(self, sid: str, peer: str, via: Sequence[str] | None = None) -> Streams:
        """Open a leg (at one of ``via``, if given), join session ``sid`` on it; the relayed
        stream once both ends are in."""

        async def join(link: Link) -> Streams:
            stream = link.stream
            stream.send([dump(RelayJoin(sid=sid))])
            try:
                async with asyncio.timeout(JOIN_TIMEOUT):
                    frame, early = await stream.receive_one()
            except TimeoutError:
                raise PeerUnreachable(
                    f"{peer} did not join the relayed session in time", "timeout"
                ) from None
            try:
                answer = SERVER_MESSAGE_ADAPTER.validate_json(frame)
            except ValidationError:
                raise PeerUnreachable("the registry answered a relay join oddly", "lost") from None
            if isinstance(answer, Error):
                # The other end did not join in time (or the session is gone).
                cause = "timeout" if answer.code == ErrorCode.RELAY_UNKNOWN else "lost"
                raise PeerUnreachable(f"the relay refused: {answer.message}", cause)
            if not isinstance(answer, RelayJoined) or answer.sid != sid:
                raise PeerUnreachable("the registry answered a relay join oddly", "lost")
            return relayed_streams(stream.reader, stream.writer, stream.records, early, sid=sid)

        try:
            return await self._directory.open_leg(join, JOIN_TIMEOUT + 5.0, via)
        except PeerUnreachable:
            raise
        except ChatError as exc:  # unavailable, a changed key, our pins unreadable
            raise PeerUnreachable(
                f"cannot relay to {peer}: {exc}", "registry_unreachable"
            ) from None
        except (SecureError, ConnectionError) as exc:
            raise PeerUnreachable(f"the relay to {peer} broke: {exc}", "lost") from None
