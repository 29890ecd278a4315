"""From a request frame to its answer: parse the DTO, run the use case, make the frame.

Each use case runs eagerly (:func:`~chinwag.adapters.registry.eager.run_eagerly`): over the
memory store most answer in the same step, and the frame is returned as bytes; one that waits
(the disk binding a new name, a shared store) is a task whose result is the frame, and the
connection reads no further request until it is done, so a client's requests are answered in
order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from chinwag.adapters.registry import answers
from chinwag.adapters.registry.core import RegistryCore
from chinwag.adapters.registry.eager import Done, run_eagerly
from chinwag.adapters.registry.frames import MAX_ERROR_TEXT, error_frame
from chinwag.adapters.registry.protocol import (
    REQUEST_ADAPTER,
    ErrorCode,
    ListOnline,
    Lookup,
    Ping,
    Pong,
    ProbeMe,
    Register,
    Relay,
    RelayJoin,
    Unregister,
    Unregistered,
    Unwatch,
    Watch,
    Who,
    dump,
    probe_rid,
)
from chinwag.adapters.registry.reachability import ReachabilityDesk
from chinwag.adapters.wire.codec import encode
from chinwag.application.registry.sessions import ClientSession
from chinwag.application.validation import first_error
from chinwag.domain.registry.refusals import Refusal

if TYPE_CHECKING:
    from chinwag.adapters.registry.connection import Connection

log = logging.getLogger("chinwag.adapters.registry.server")

Answer = bytes | asyncio.Task[bytes]
"""A request's answer now (b"": answered later, or not at all), or the task that makes it."""


def _eagerly(coro: Coroutine[Any, Any, bytes]) -> Answer:
    outcome = run_eagerly(coro)
    return outcome.value if isinstance(outcome, Done) else outcome


class RegisterGate(Protocol):
    """What the shell's caps say about a sign-in (``gate.CapsGate`` is one): whether it may
    be tried at all, and that it succeeded."""

    def refusal(self, connection: Connection, session: ClientSession) -> Refusal | None: ...

    def signed_in(self, connection: Connection, session: ClientSession) -> None: ...


class Dispatcher:
    """Answers the requests of every connection of one registry."""

    def __init__(
        self,
        core: RegistryCore,
        reachability: ReachabilityDesk,
        gate: RegisterGate | None = None,
    ) -> None:
        self.core = core
        self.reachability = reachability
        self.gate = gate

    def handle(self, connection: Connection, payload: bytes) -> Answer:
        """The answer to one request frame of ``connection`` (authenticated: it has a
        session)."""
        try:
            request = REQUEST_ADAPTER.validate_json(payload)
        except ValidationError as exc:
            text = first_error(exc)
            connection.violation(f"bad request ({text[:MAX_ERROR_TEXT]})")
            return error_frame(ErrorCode.BAD_REQUEST, text, probe_rid(payload))
        rid = request.rid
        if isinstance(request, Ping):
            return encode(dump(Pong(rid=rid)))
        session = connection.session
        assert session is not None
        if isinstance(request, Register):
            return _eagerly(self._register(connection, session, request))
        if isinstance(request, RelayJoin):
            connection.violation("relay_join after another request")
            return error_frame(
                ErrorCode.BAD_REQUEST,
                "relay_join must be the first request of a connection of its own",
                rid,
            )
        if session.registration is None:
            return error_frame(ErrorCode.NOT_REGISTERED, "register first", rid)
        core = self.core
        if isinstance(request, Lookup):
            return _eagerly(self._lookup(request.user, rid))
        if isinstance(request, ListOnline):
            return answers.online(core.fanout.presence_of(session), rid)
        if isinstance(request, Relay):
            return _eagerly(self._relay(session, request.to, rid))
        if isinstance(request, ProbeMe):
            return self.reachability.asked(connection, rid)
        if isinstance(request, Watch):
            return _eagerly(self._watch(session, request.names, rid))
        if isinstance(request, Unwatch):
            return _eagerly(self._unwatch(session, request.names, rid))
        if isinstance(request, Who):
            return _eagerly(self._who(session, request, rid))
        assert isinstance(request, Unregister)
        return _eagerly(self._unregister(session, rid))

    def gone(self, connection: Connection, why: str) -> list[asyncio.Task[Any]]:
        """``connection`` closed (or is closing): its name goes offline (out of this
        registry's clients at once) and its watches end; the tasks of what must wait."""
        session = connection.session
        if session is None or session.closed:
            return []
        session.closed = True
        core = self.core
        tasks: list[asyncio.Task[Any]] = []
        # Each on its own: a failing leave must not keep the session in the watch index.
        for step in (core.unwatch.everything(session), core.disconnect.execute(session, why)):
            try:
                outcome = run_eagerly(step)
            except Exception:
                log.exception("the leave of %s failed", connection.peer)
                continue
            if isinstance(outcome, asyncio.Task):
                tasks.append(outcome)
        return tasks

    # -- the use cases ---------------------------------------------------------------------

    async def _register(
        self, connection: Connection, session: ClientSession, request: Register
    ) -> bytes:
        core, rid, gate = self.core, request.rid, self.gate
        if gate is not None:
            refusal = gate.refusal(connection, session)
            if refusal is not None:
                return answers.refused(refusal, rid)
        result = await core.register.execute(
            session, request.user, request.host, request.port, request.version
        )
        if result is None:
            return b""  # the connection closed meanwhile
        if isinstance(result, Refusal):
            return answers.refused(result, rid)
        connection.snapshot_taken()  # in the step that made it: older pushes would undo it
        if gate is not None:
            gate.signed_in(connection, session)
        if request.watch and not session.legacy:
            watched = await core.watch.execute(session, request.watch)
            if isinstance(watched, Refusal):
                log.info("the watch list of %s was refused: %s", result.name, watched.message)
            if session.closed or session.registration is None:
                return b""
            # Its first `presence` holds what it watches (and whatever changed meanwhile).
            result = type(result)(
                result.name, result.host, result.port, await core.fanout.snapshot(session)
            )
            connection.snapshot_taken()
        return answers.registered(result, rid) + self.reachability.registered(connection)

    async def _lookup(self, user: str, rid: int | None) -> bytes:
        result = await self.core.look_up.execute(user)
        if isinstance(result, Refusal):
            return answers.refused(result, rid)
        return answers.found(result, rid)

    async def _relay(self, session: ClientSession, to: str, rid: int | None) -> bytes:
        result = await self.core.offer_relay.execute(session, to)
        if isinstance(result, Refusal):
            return answers.refused(result, rid)
        return answers.relay_ready(result, rid)

    async def _watch(self, session: ClientSession, names: list[str], rid: int | None) -> bytes:
        result = await self.core.watch.execute(session, names)
        if isinstance(result, Refusal):
            return answers.refused(result, rid)
        return answers.watched(result, rid)

    async def _unwatch(self, session: ClientSession, names: list[str], rid: int | None) -> bytes:
        refusal = await self.core.unwatch.execute(session, names)
        if refusal is not None:
            return answers.refused(refusal, rid)
        return answers.unwatched(rid)

    async def _who(self, session: ClientSession, request: Who, rid: int | None) -> bytes:
        page = await self.core.who_online.execute(
            session, request.prefix, request.limit, request.after
        )
        if isinstance(page, Refusal):
            return answers.refused(page, rid)
        return answers.online_page(page, rid)

    async def _unregister(self, session: ClientSession, rid: int | None) -> bytes:
        await self.core.unregister.execute(session)
        await self.core.unwatch.everything(session)
        return encode(dump(Unregistered(rid=rid)))
