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
import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError

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
from chinwag.adapters.registry.protocol import Error as ErrorMessage
from chinwag.adapters.secure.channel import Handshake, RecordLayer, SecureError, Security
from chinwag.adapters.secure.noise import MAX_MESSAGE
from chinwag.adapters.sqlite.database import StorageError
from chinwag.adapters.wire.codec import EmptyFrame, FrameDecoder, FrameTooLarge, encode
from chinwag.application.errors import AddressInUse
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.user import (
    InvalidAddress,
    normalize_username,
    poses_as_latin,
    username_skeleton,
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

MAX_NAMES_PER_CONNECTION = 4
"""Different names one connection may register in its life (a client uses one)."""

MAX_NEW_NAMES_PER_MINUTE = 30
"""New names (first bindings) one address may make in a minute; each is a durable write, and a
loop of fresh names would fill the name book for good."""

CLOSE_GRACE = 1.0
"""Seconds a closing connection gets to take its last frames before it is aborted."""

_MAX_LOGGED_VIOLATIONS = 5
_MAX_ERROR_TEXT = 200


@functools.lru_cache(maxsize=4096)
def _normalize(name: str) -> str:
    return normalize_username(name)


def _looks_like_json(frame: bytes) -> bool:
    """Whether a first frame is a version-1 client's clear request rather than Noise message 1
    (32 random bytes, which may well start with ``{`` but never parse as a JSON object)."""
    if frame[:1] != b"{" or len(frame) == 32:
        return False
    try:
        return isinstance(json.loads(frame), dict)
    except ValueError:
        return False


def _error(code: ErrorCode, message: str, rid: int | None = None) -> bytes:
    return encode(dump(ErrorMessage(rid=rid, code=code, message=message[:_MAX_ERROR_TEXT])))


def _ip_of(peername: object) -> str:
    """The IP address of a socket's peer name, IPv4-mapped IPv6 addresses as plain IPv4."""
    if not isinstance(peername, tuple) or not peername:
        return "127.0.0.1"
    ip = str(peername[0])
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return ip


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


@dataclass(slots=True)
class _Registration:
    name: str
    host: str
    port: int
    key: bytes
    connection: _Connection


@dataclass(slots=True)
class _NewNames:
    """When one address bound its recent new names (a sliding minute)."""

    times: deque[float] = field(default_factory=deque)


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
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._names: dict[str, _Registration] = {}
        self._dirty: list[_Connection] = []
        self._shutting_down = False
        self._book = names if names is not None else NameBook()
        self.security = security
        self.handshake_timeout = handshake_timeout
        self.max_new_names_per_minute = max_new_names_per_minute
        self._new_names: dict[str, _NewNames] = {}
        self._claiming: dict[str, bytes] = {}
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
                lambda: _Connection(self), self._host, self._port
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

    def _attach(self, connection: _Connection) -> None:
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
                _error(ErrorCode.BUSY, "too many connections; try again later"), "busy"
            )
            return
        connection.send(self._welcome)

    def _detach(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        self._per_host[connection.peer_ip] -= 1
        if self._per_host[connection.peer_ip] <= 0:
            del self._per_host[connection.peer_ip]
        if connection.registration is not None:
            self._leave(connection, "disconnected")

    def _mark_dirty(self, connection: _Connection) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush_dirty)
        self._dirty.append(connection)

    def _flush_dirty(self) -> None:
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            connection.flush()

    def _push_presence(self, joined: Iterable[str], left: Iterable[str], skip: _Connection) -> None:
        frame = encode(dump(PresenceChanged(joined=list(joined), left=list(left))))
        for registration in self._names.values():
            if registration.connection is not skip:
                registration.connection.send(frame)

    def _register(
        self, connection: _Connection, request: Register
    ) -> bytes | Coroutine[Any, Any, Answer]:
        """Register the connection's key under the name; a new binding needs the disk, so it
        is a coroutine the connection awaits before its next request."""
        rid = request.rid
        if connection.registration is not None:
            return _error(
                ErrorCode.ALREADY_REGISTERED,
                f"this connection is already registered as {connection.registration.name}",
                rid,
            )
        if request.version != PROTOCOL_VERSION:
            return _error(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol version {request.version} is not supported; this registry speaks "
                f"version {PROTOCOL_VERSION}",
                rid,
            )
        try:
            name = _normalize(request.user)
        except InvalidUsername as exc:
            return _error(ErrorCode.INVALID_USERNAME, str(exc), rid)
        host = request.host
        if host is None or _is_unspecified(host):
            host = connection.peer_ip
        else:
            try:
                host = validate_host(host)
            except InvalidAddress as exc:
                return _error(ErrorCode.INVALID_ADDRESS, str(exc), rid)
        key = connection.identity
        assert key is not None
        bound = self._book.key_of(name)
        if bound == key:
            return self._complete(connection, rid, name, host, request.port, key)
        if name not in connection.names_claimed and (
            len(connection.names_claimed) >= MAX_NAMES_PER_CONNECTION
        ):
            return _error(ErrorCode.RATE_LIMITED, "too many names from one connection", rid)
        if bound is not None:
            return self._claim_released(connection, rid, name, host, request.port, key)
        refusal = self._refuse_new(connection, name, key)
        if refusal is not None:
            return _error(
                ErrorCode.NAME_TAKEN if "looks" in refusal else ErrorCode.RATE_LIMITED, refusal, rid
            )
        return self._bind(connection, rid, name, host, request.port, key)

    def _refuse_new(self, connection: _Connection, name: str, key: bytes) -> str | None:
        """Why ``name`` cannot be bound to ``key`` now, or None."""
        claimant = self._claiming.get(name)
        if claimant is not None and claimant != key:
            return f"{name} is being registered to another key"
        other = self._book.lookalike(name)
        if other is not None:
            return f"{name} looks like {other}, which is registered"
        if poses_as_latin(name):
            return f"{name} looks like the Latin name {username_skeleton(name)}"
        window = self._new_names.setdefault(connection.peer_ip, _NewNames())
        now = asyncio.get_running_loop().time()
        while window.times and window.times[0] <= now - 60:
            window.times.popleft()
        if len(window.times) >= self.max_new_names_per_minute:
            return (
                f"too many new names from {connection.peer_ip}: at most "
                f"{self.max_new_names_per_minute} a minute"
            )
        window.times.append(now)
        return None

    async def _bind(
        self, connection: _Connection, rid: int | None, name: str, host: str, port: int, key: bytes
    ) -> Answer:
        self._claiming[name] = key
        connection.names_claimed.add(name)
        try:
            await self._book.bind(name, key)
        except StorageError as exc:
            log.warning("could not bind %s: %s", name, exc)
            return _error(ErrorCode.BUSY, "the registry cannot record new names now", rid)
        finally:
            if self._claiming.get(name) == key:
                del self._claiming[name]
        log.info("%s is now bound to a key, from %s", name, connection.peer)
        # Completed by the connection when it takes the answer, in the same step as it queues
        # it: a presence push in between would otherwise reach it before its `registered`.
        return functools.partial(self._complete, connection, rid, name, host, port, key)

    async def _claim_released(
        self, connection: _Connection, rid: int | None, name: str, host: str, port: int, key: bytes
    ) -> Answer:
        """Another key holds ``name`` in memory: the operator may have released it since."""
        if await self._book.refresh(name) is not None:
            return _error(ErrorCode.NAME_TAKEN, f"{name} is registered to another key", rid)
        refusal = self._refuse_new(connection, name, key)
        if refusal is not None:
            return _error(ErrorCode.NAME_TAKEN, refusal, rid)
        return await self._bind(connection, rid, name, host, port, key)

    def _complete(
        self, connection: _Connection, rid: int | None, name: str, host: str, port: int, key: bytes
    ) -> bytes:
        if connection.closing:
            return b""
        if connection.registration is not None:
            return _error(ErrorCode.ALREADY_REGISTERED, "this connection is registered", rid)
        connection.names_claimed.add(name)
        holder = self._names.get(name)
        if holder is not None:
            holder.connection.registration = None
            holder.connection.close(
                _error(ErrorCode.REPLACED, f"{name} signed in again from another connection")
            )
            log.info(
                "%s reconnected from %s (replaces %s)",
                name,
                connection.peer,
                holder.connection.peer,
            )
        else:
            log.info("%s joined from %s, listening at %r:%d", name, connection.peer, host, port)
        registration = _Registration(name, host, port, key, connection)
        connection.registration = registration
        self._names[name] = registration
        if holder is None:
            self._push_presence((name,), (), skip=connection)
        return encode(dump(Registered(rid=rid, user=name, host=host, port=port))) + encode(
            dump(Presence(online=sorted(self._names)))
        )

    def _leave(self, connection: _Connection, why: str) -> None:
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
                return _error(ErrorCode.INVALID_USERNAME, str(exc), request.rid)
        if registration is None:
            name = _known_name(request.user)
            if name in self._book:
                return _error(ErrorCode.OFFLINE, f"{name} is offline", request.rid)
            return _error(
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
        self, connection: _Connection, payload: bytes
    ) -> bytes | Coroutine[Any, Any, Answer]:
        """The answer to one request frame (a coroutine for the answer, if it needs the disk)."""
        try:
            request = REQUEST_ADAPTER.validate_json(payload)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in first["loc"])
            text = f"{where}: {first['msg']}" if where else first["msg"]
            connection.violation(f"bad request ({text[:_MAX_ERROR_TEXT]})")
            return _error(ErrorCode.BAD_REQUEST, text, probe_rid(payload))
        if isinstance(request, Ping):
            return encode(dump(Pong(rid=request.rid)))
        if isinstance(request, Register):
            return self._register(connection, request)
        if connection.registration is None:
            return _error(ErrorCode.NOT_REGISTERED, "register first", request.rid)
        if isinstance(request, Lookup):
            return self._lookup(request)
        if isinstance(request, ListOnline):
            return encode(dump(Online(rid=request.rid, online=sorted(self._names))))
        assert isinstance(request, Unregister)
        self._leave(connection, "unregistered")
        return encode(dump(Unregistered(rid=request.rid)))


class _Connection(asyncio.Protocol):
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
        self._opened = self.last_heard = self._loop.time()
        self._tokens = 2 * server.max_rate  # a burst of two seconds' worth, then the rate
        self._refilled = self.last_heard
        self._first: FrameDecoder | None = FrameDecoder(MAX_MESSAGE)
        self._handshake: Handshake | None = Handshake(
            server.security, initiator=False, prologue=server.prologue
        )
        self._records: RecordLayer | None = None
        self._held: list[bytes] = []
        self._busy = False
        self._shaken: asyncio.Future[None] = self._loop.create_future()
        self.identity: bytes | None = None
        self.names_claimed: set[str] = set()
        self.peer = "?"
        self.peer_ip = "127.0.0.1"
        self.registration: _Registration | None = None

    @property
    def closing(self) -> bool:
        return self._closing

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's are not asyncio.Transport subclasses, so no isinstance.
        self._transport = cast(asyncio.Transport, transport)
        peername = transport.get_extra_info("peername")
        self.peer_ip = _ip_of(peername)
        self.peer = f"{self.peer_ip}:{peername[1]}" if isinstance(peername, tuple) else "?"
        self._server._attach(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            if self._records is None:
                self._shake(data)
                return
            frames = self._decoder.feed(self._records.open(data))
        except SecureError as exc:
            self.violation(str(exc))
            self._abort()
            return
        except FrameTooLarge as exc:
            self.violation(str(exc))
            self.close(_error(ErrorCode.FRAME_TOO_LARGE, str(exc)), "frame too large")
            return
        except EmptyFrame:
            self.violation("empty frame")
            self.close(_error(ErrorCode.BAD_REQUEST, "a frame cannot be empty"), "empty frame")
            return
        if frames:
            self._take(frames)

    def _shake(self, data: bytes) -> None:
        """Handshake bytes: a version-1 client's clear request is told ``unsupported_version``."""
        if self._first is not None:
            first = self._first.feed(data, max_frames=1)
            if not first:
                return
            if _looks_like_json(first[0]):
                self.violation("a version 1 client")
                self.close(
                    _error(
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
        self._records = handshake.records()
        self._handshake = None
        self._shaken.set_result(None)  # the watch now counts idleness, not the handshake
        self.last_heard = self._loop.time()
        self.data_received(b"")  # requests that came with the last handshake message

    def _take(self, frames: list[bytes]) -> None:
        """Answer ``frames`` in order, within the rate limit."""
        now = self.last_heard = self._loop.time()
        allowed = self._budget(now, len(frames))
        if allowed < len(frames):
            self.violation(f"over {self._server.max_rate:g} requests/s")
            rate_limited = _error(
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
        handle = self._server._handle
        held, self._held = self._held, []
        for index, payload in enumerate(held):
            answer = handle(self, payload)
            if isinstance(answer, bytes):
                self._outbox.append(answer)
                continue
            self._held = held[index + 1 :] + self._held
            self._busy = True
            if self._transport is not None:  # later requests wait in the socket, not here
                self._transport.pause_reading()
            task = self._loop.create_task(answer)
            task.add_done_callback(self._answered)
            return

    def _answered(self, task: asyncio.Task[Answer]) -> None:
        self._busy = False
        if self._closing:
            return
        if self._transport is not None and not self._reading_paused:
            self._transport.resume_reading()
        try:
            answer = task.result()
            self._outbox.append(answer if isinstance(answer, bytes) else answer())
        except Exception:
            log.exception("registering from %s failed", self.peer)
            self._outbox.append(_error(ErrorCode.BUSY, "the registry could not do that now"))
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
        # The peer is not taking its answers: stop reading its requests until it does.
        if self._transport is not None and not self._closing:
            self._transport.pause_reading()
            self._reading_paused = True

    def resume_writing(self) -> None:
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

    # -- used by the server ------------------------------------------------------------------

    def send(self, frame: bytes) -> None:
        """Queue ``frame``; it leaves with this pass's other frames."""
        if self._closing:
            return
        if not self._outbox:
            self._server._mark_dirty(self)
        self._outbox.append(frame)

    def flush(self) -> None:
        """Write every queued frame at once (one record); drop the peer if its unread output is
        too big. Before the session exists only refusals are queued, and they go in clear."""
        if not self._outbox or self._closing or self._transport is None:
            return
        data = b"".join(self._outbox)
        self._outbox.clear()
        self._transport.write(data if self._records is None else self._records.seal(data))
        if self._transport.get_write_buffer_size() > self._server.max_write_buffer:
            self.violation("does not read its answers; dropped")
            self._abort()

    def violation(self, what: str) -> None:
        """Log a protocol violation (the first few of each connection), escaped."""
        self._violations += 1
        if self._violations <= _MAX_LOGGED_VIOLATIONS:
            log.warning("protocol violation from %s: %r", self.peer, what)
            if self._violations == _MAX_LOGGED_VIOLATIONS:
                log.warning("further violations from %s are not logged", self.peer)

    def close(self, last_frame: bytes | None = None, why: str = "closed") -> None:
        """Send ``last_frame`` (if any) after what is queued, then close; abort if it lingers."""
        if self._closing or self._transport is None:
            return
        if self.registration is not None:
            self._server._leave(self, why)
        if last_frame is not None:
            self._outbox.append(last_frame)
        self.flush()
        if self._closing:  # the flush found it over its output bound and aborted it
            return
        self._closing = True
        self._outbox.clear()
        self._transport.close()
        self._abort_handle = self._loop.call_later(CLOSE_GRACE, self._transport.abort)

    def _abort(self) -> None:
        if self.registration is not None:
            self._server._leave(self, "dropped")
        self._closing = True
        self._outbox.clear()
        if self._transport is not None:
            self._transport.abort()

    async def watch(self) -> None:
        """The connection's task: drop it if the handshake is not done in time, or after
        ``idle_timeout`` without a frame; end with it."""
        server = self._server
        idle_timeout = server.idle_timeout
        while not self._closing:
            now = self._loop.time()
            if self._records is None:
                remaining = self._opened + server.handshake_timeout - now
                if remaining <= 0:
                    self.violation(f"no handshake within {server.handshake_timeout:g} s")
                    self._abort()
                    break
            else:
                remaining = self.last_heard + idle_timeout - now
                if remaining <= 0:
                    if self._reading_paused:
                        self.violation(f"took none of its answers for {idle_timeout:g} s")
                        self._abort()
                        break
                    self.violation(f"silent for {idle_timeout:g} s; dropped")
                    self.close(
                        _error(ErrorCode.IDLE_TIMEOUT, f"nothing received for {idle_timeout:g} s"),
                        "silent",
                    )
                    break
            waits = (self._closed,) if self._shaken.done() else (self._closed, self._shaken)
            await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        await self._closed  # close() and abort() always end in connection_lost
