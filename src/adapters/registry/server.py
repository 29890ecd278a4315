"""The registry server: names bound to keys, who is online and where, over TCP (protocol 2).

Each connection is an :class:`asyncio.Protocol` plus one task (its watchdog). It starts with a
clear ``welcome`` and the Noise handshake (sans-I/O, :mod:`chinwag.adapters.secure.channel`),
which proves the client's identity key; every later frame is inside the session. Every frame of
one read is handled synchronously and the answers leave in one record; presence changes are
queued on every registered connection and flushed once per event-loop pass. Binding a new name
to a key is the one request that waits for the disk: it is written on the name book's thread,
and the connection's later requests wait their turn. A connection that does not finish its
handshake within ``handshake_timeout``, or sends no whole frame for ``idle_timeout`` seconds, is
dropped, as is one whose unread output passes ``max_write_buffer``; hostile input costs an error
frame or a close and never more memory than one frame. See ``docs/protocol.md``.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import functools
import ipaddress
import logging
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from pydantic import ValidationError

from chinwag.adapters.registry.admission import (
    MAX_NAMES_PER_CONNECTION,
    MAX_NEW_NAMES_PER_MINUTE,
    NameAdmission,
)
from chinwag.adapters.registry.connection import (
    MAX_ERROR_TEXT,
    Connection,
    Registration,
    error_frame,
)
from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.protocol import (
    MAX_REQUEST_FRAME,
    PROLOGUE,
    PROTOCOL_VERSION,
    REQUEST_ADAPTER,
    ErrorCode,
    Found,
    ListOnline,
    Lookup,
    Online,
    Ping,
    Pong,
    Presence,
    PresenceChanged,
    Register,
    Registered,
    Unregister,
    Unregistered,
    Welcome,
    dump,
    probe_rid,
)
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.sqlite.database import StorageError
from chinwag.adapters.wire.codec import encode
from chinwag.application.errors import AddressInUse
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.user import (
    InvalidAddress,
    normalize_username,
    validate_host,
)

log = logging.getLogger(__name__)

MAX_WRITE_BUFFER = 1024 * 1024
"""Unread output a connection may pile up before it is dropped."""

MAX_CONNECTIONS = 10_000
MAX_CONNECTIONS_PER_HOST = 1_000
"""Connections at once, in all and from one address; past them a new one is told ``busy``."""

MAX_REQUEST_RATE = 2000.0
"""Requests a second one connection may make (with a burst of twice that); past it, requests are
answered ``rate_limited`` and ignored. A chat client makes a handful a minute."""

HANDSHAKE_TIMEOUT = 5.0
"""Seconds a new connection has to complete its handshake; an unauthenticated one costs little
and goes soon."""


@functools.lru_cache(maxsize=4096)
def _normalize(name: str) -> str:
    return normalize_username(name)


def _known_name(user: str) -> str:
    try:
        return _normalize(user)
    except InvalidUsername:
        return user


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


Answer = bytes | Callable[[], bytes]
"""What a request that waited for the disk ends with: the answer, or what makes it."""


class RegistryServer:
    """The registry: accepts connections, keeps the online set, answers lookups."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        heartbeat_interval: float = 5.0,
        idle_timeout: float = 15.0,
        max_frame: int = MAX_REQUEST_FRAME,
        max_write_buffer: int = MAX_WRITE_BUFFER,
        names: NameBook | None = None,
        max_rate: float = MAX_REQUEST_RATE,
        max_connections: int = MAX_CONNECTIONS,
        max_per_host: int = MAX_CONNECTIONS_PER_HOST,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        max_new_names_per_minute: int = MAX_NEW_NAMES_PER_MINUTE,
        security: Security,
    ) -> None:
        if heartbeat_interval <= 0 or idle_timeout <= heartbeat_interval:
            raise ValueError("need 0 < heartbeat_interval < idle_timeout")
        self._host = host
        self._port = port
        self.heartbeat_interval = heartbeat_interval
        self.idle_timeout = idle_timeout
        self.max_frame = max_frame
        self.max_write_buffer = max_write_buffer
        self.max_rate = max_rate
        self.max_connections = max_connections
        self.max_per_host = max_per_host
        self._per_host: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._names: dict[str, Registration] = {}
        self._dirty: list[Connection] = []
        self._shutting_down = False
        self._book = names if names is not None else NameBook()
        self.security = security
        self.handshake_timeout = handshake_timeout
        self.max_new_names_per_minute = max_new_names_per_minute
        self._admission = NameAdmission(self._book, max_new_names_per_minute)
        self._welcome = encode(
            dump(
                Welcome(
                    version=PROTOCOL_VERSION,
                    heartbeat_interval=heartbeat_interval,
                    idle_timeout=idle_timeout,
                    max_frame=max_frame,
                )
            )
        )
        self.prologue = PROLOGUE + self._welcome

    async def start(self) -> tuple[str, int]:
        """Listen; return the real bound address. Raises ``AddressInUse`` if the port is taken."""
        if self._server is not None:
            raise RuntimeError("the registry server is already started")
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: Connection(self), self._host, self._port
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise AddressInUse(
                    f"cannot listen on {self._host}:{self._port}: the address is already in use"
                ) from exc
            raise
        sockname = self._server.sockets[0].getsockname()
        self._address = (str(sockname[0]), int(sockname[1]))
        return self._address

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``; only once :meth:`start` returned."""
        if self._address is None:
            raise RuntimeError("the registry server is not started")
        return self._address

    def online(self) -> frozenset[str]:
        """The names registered now."""
        return frozenset(self._names)

    @property
    def connection_count(self) -> int:
        """How many connections are open, registered or not."""
        return len(self._connections)

    async def serve_forever(self) -> None:
        """Start if needed, then serve until cancelled (closing everything on the way out)."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop accepting, close every connection and wait until their tasks are done."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # Nobody is leaving: the registry is. Telling the clients still connected that the
        # others went offline would make them refuse to message peers they can still reach.
        self._shutting_down = True
        for connection in list(self._connections):
            connection.close(why="the registry is shutting down")
        if self._tasks:
            await asyncio.wait(self._tasks)
        if server is not None:
            await server.wait_closed()

    # -- called by connections ---------------------------------------------------------------

    def _attach(self, connection: Connection) -> None:
        self._connections.add(connection)
        task = asyncio.get_running_loop().create_task(connection.watch())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._per_host[connection.peer_ip] += 1
        if (
            len(self._connections) > self.max_connections
            or self._per_host[connection.peer_ip] > self.max_per_host
        ):
            # Slow or idle connections by the thousand must not crowd out everyone else.
            connection.violation("too many connections")
            connection.close(
                error_frame(ErrorCode.BUSY, "too many connections; try again later"), "busy"
            )
            return
        connection.send(self._welcome)

    def _detach(self, connection: Connection) -> None:
        self._connections.discard(connection)
        self._per_host[connection.peer_ip] -= 1
        if self._per_host[connection.peer_ip] <= 0:
            del self._per_host[connection.peer_ip]
        if connection.registration is not None:
            self._leave(connection, "disconnected")

    def _mark_dirty(self, connection: Connection) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush_dirty)
        self._dirty.append(connection)

    def _flush_dirty(self) -> None:
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            connection.flush()

    def _push_presence(self, joined: Iterable[str], left: Iterable[str], skip: Connection) -> None:
        frame = encode(dump(PresenceChanged(joined=list(joined), left=list(left))))
        for registration in self._names.values():
            if registration.connection is not skip:
                registration.connection.send(frame)

    def _register(
        self, connection: Connection, request: Register
    ) -> bytes | Coroutine[Any, Any, Answer]:
        """Register the connection's key under the name; a new binding needs the disk, so it
        is a coroutine the connection awaits before its next request."""
        rid = request.rid
        if connection.registration is not None:
            return error_frame(
                ErrorCode.ALREADY_REGISTERED,
                f"this connection is already registered as {connection.registration.name}",
                rid,
            )
        if request.version != PROTOCOL_VERSION:
            return error_frame(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol version {request.version} is not supported; this registry speaks "
                f"version {PROTOCOL_VERSION}",
                rid,
            )
        try:
            name = _normalize(request.user)
        except InvalidUsername as exc:
            return error_frame(ErrorCode.INVALID_USERNAME, str(exc), rid)
        host = request.host
        if host is None or _is_unspecified(host):
            host = connection.peer_ip
        else:
            try:
                host = validate_host(host)
            except InvalidAddress as exc:
                return error_frame(ErrorCode.INVALID_ADDRESS, str(exc), rid)
        key = connection.identity
        assert key is not None
        bound = self._book.key_of(name)
        if (
            bound != key
            and name not in connection.names_claimed
            and (len(connection.names_claimed) >= MAX_NAMES_PER_CONNECTION)
        ):
            return error_frame(ErrorCode.RATE_LIMITED, "too many names from one connection", rid)
        if bound is None:
            refusal = self._admission.refuse_new(connection.peer_ip, name, key)
            if refusal is not None:
                return error_frame(*refusal, rid)
            self._admission.claim(name, key)  # now, in this pass: a second key is refused at once
            return self._bind(connection, rid, name, host, request.port, key)
        return self._confirm(connection, rid, name, host, request.port, key)

    async def _bind(
        self, connection: Connection, rid: int | None, name: str, host: str, port: int, key: bytes
    ) -> Answer:
        """Bind ``name`` (claimed for ``key`` by the caller) on disk; the first binding wins."""
        connection.names_claimed.add(name)
        try:
            stored = await self._admission.bind(name, key)
        except StorageError as exc:
            log.warning("could not bind %s: %s", name, exc)
            return error_frame(ErrorCode.BUSY, "the registry cannot record new names now", rid)
        if stored != key:
            return error_frame(ErrorCode.NAME_TAKEN, f"{name} is registered to another key", rid)
        log.info("%s is now bound to a key, from %s", name, connection.peer)
        return self._completion(connection, rid, name, host, port, key)

    async def _confirm(
        self, connection: Connection, rid: int | None, name: str, host: str, port: int, key: bytes
    ) -> Answer:
        """``name`` is bound in memory: the file decides (the operator may have released it
        since, and then the old key must not sign in with it any more)."""
        current = await self._admission.current(name)
        if current == key:
            return self._completion(connection, rid, name, host, port, key)
        if current is not None:
            return error_frame(ErrorCode.NAME_TAKEN, f"{name} is registered to another key", rid)
        refusal = self._admission.refuse_new(connection.peer_ip, name, key)
        if refusal is not None:
            return error_frame(*refusal, rid)
        self._admission.claim(name, key)
        return await self._bind(connection, rid, name, host, port, key)

    def _completion(
        self, connection: Connection, rid: int | None, name: str, host: str, port: int, key: bytes
    ) -> Callable[[], bytes]:
        # Completed by the connection when it takes the answer, in the same step as it queues
        # it: a presence push in between would otherwise reach it before its `registered`.
        return functools.partial(self._complete, connection, rid, name, host, port, key)

    def _complete(
        self, connection: Connection, rid: int | None, name: str, host: str, port: int, key: bytes
    ) -> bytes:
        if connection.closing:
            return b""
        if connection.registration is not None:
            return error_frame(ErrorCode.ALREADY_REGISTERED, "this connection is registered", rid)
        connection.names_claimed.add(name)
        holder = self._names.get(name)
        if holder is not None and holder.key != key:  # released, and bound to us since
            holder.connection.registration = None
            holder.connection.close(
                error_frame(
                    ErrorCode.RELEASED,
                    f"{name} was released by the registry's operator and is another key's now",
                )
            )
        elif holder is not None:
            holder.connection.registration = None
            holder.connection.close(
                error_frame(ErrorCode.REPLACED, f"{name} signed in again from another connection")
            )
            log.info(
                "%s reconnected from %s (replaces %s)",
                name,
                connection.peer,
                holder.connection.peer,
            )
        else:
            log.info("%s joined from %s, listening at %s:%d", name, connection.peer, host, port)
        registration = Registration(name, host, port, key, connection)
        connection.registration = registration
        self._names[name] = registration
        if holder is None:
            self._push_presence((name,), (), skip=connection)
        return encode(dump(Registered(rid=rid, user=name, host=host, port=port))) + encode(
            dump(Presence(online=sorted(self._names)))
        )

    def _leave(self, connection: Connection, why: str) -> None:
        registration = connection.registration
        assert registration is not None
        connection.registration = None
        if self._names.get(registration.name) is registration:
            del self._names[registration.name]
            log.info("%s left (%s)", registration.name, why)
            if not self._shutting_down:
                self._push_presence((), (registration.name,), skip=connection)

    def _lookup(self, request: Lookup) -> bytes:
        registration = self._names.get(request.user)
        if registration is None:
            try:
                registration = self._names.get(_normalize(request.user))
            except InvalidUsername as exc:
                return error_frame(ErrorCode.INVALID_USERNAME, str(exc), request.rid)
        if registration is None:
            name = _known_name(request.user)
            if name in self._book:
                return error_frame(ErrorCode.OFFLINE, f"{name} is offline", request.rid)
            return error_frame(
                ErrorCode.UNKNOWN_USER,
                f"nobody called {request.user} has ever signed in here",
                request.rid,
            )
        return encode(
            dump(
                Found(
                    rid=request.rid,
                    user=registration.name,
                    host=registration.host,
                    port=registration.port,
                    key=base64.b64encode(registration.key).decode("ascii"),
                )
            )
        )

    def _handle(
        self, connection: Connection, payload: bytes
    ) -> bytes | Coroutine[Any, Any, Answer]:
        """The answer to one request frame (a coroutine for the answer, if it needs the disk)."""
        try:
            request = REQUEST_ADAPTER.validate_json(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            text = f"{where}: {first['msg']}" if where else first["msg"]
            connection.violation(f"bad request ({text[:MAX_ERROR_TEXT]})")
            return error_frame(ErrorCode.BAD_REQUEST, text, probe_rid(payload))
        if isinstance(request, Ping):
            return encode(dump(Pong(rid=request.rid)))
        if isinstance(request, Register):
            return self._register(connection, request)
        if connection.registration is None:
            return error_frame(ErrorCode.NOT_REGISTERED, "register first", request.rid)
        if isinstance(request, Lookup):
            return self._lookup(request)
        if isinstance(request, ListOnline):
            return encode(dump(Online(rid=request.rid, online=sorted(self._names))))
        assert isinstance(request, Unregister)
        self._leave(connection, "unregistered")
        return encode(dump(Unregistered(rid=request.rid)))
