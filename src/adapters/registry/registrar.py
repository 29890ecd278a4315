"""Who is online and where: ``register``, ``unregister`` and ``lookup`` of the registry server.

Names are bound to keys in the name book (through :class:`NameAdmission`); this keeps the online
set (one :class:`Registration` per name), pushes presence changes to every registered connection
and answers lookups. Binding a new name is the one step that waits for the disk, so
:meth:`Registrar.register` answers with bytes or with a coroutine the connection awaits before
its next request. The connection shell is :mod:`chinwag.adapters.registry.server`.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from chinwag.adapters.registry.admission import MAX_NAMES_PER_CONNECTION, NameAdmission
from chinwag.adapters.registry.connection import Connection
from chinwag.adapters.registry.frames import Registration, error_frame
from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.probe import NOT_PROBED
from chinwag.adapters.registry.protocol import (
    PROTOCOL_VERSION,
    ErrorCode,
    Found,
    Lookup,
    Presence,
    PresenceChanged,
    Register,
    Registered,
    dump,
)
from chinwag.adapters.sqlite.database import StorageError
from chinwag.adapters.wire.codec import encode
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.user import InvalidAddress, normalize_username, validate_host

log = logging.getLogger("chinwag.adapters.registry.server")

Answer = bytes | Callable[[], bytes]
"""What a request that waited for the disk ends with: the answer, or what makes it."""


@functools.lru_cache(maxsize=4096)
def normalize(name: str) -> str:
    return normalize_username(name)


def _known_name(user: str) -> str:
    try:
        return normalize(user)
    except InvalidUsername:
        return user


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


class Registrar:
    """The online set: names (bound to keys) registered by live connections, and where they
    listen. ``registered`` is called once a registration is complete, in the same step as its
    ``registered`` and ``presence`` frames are queued; what it returns is queued after them."""

    def __init__(
        self,
        book: NameBook,
        max_new_names_per_minute: int,
        registered: Callable[[Registration], bytes] = lambda _: b"",
    ) -> None:
        self.book = book
        self.names: dict[str, Registration] = {}
        self.shutting_down = False
        self._admission = NameAdmission(book, max_new_names_per_minute)
        self._registered = registered

    def push_presence(self, joined: Iterable[str], left: Iterable[str], skip: Connection) -> None:
        frame = encode(dump(PresenceChanged(joined=list(joined), left=list(left))))
        for registration in self.names.values():
            if registration.connection is not skip:
                registration.connection.send(frame)

    def register(
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
            name = normalize(request.user)
        except InvalidUsername as exc:
            return error_frame(ErrorCode.INVALID_USERNAME, str(exc), rid)
        host: str | None = request.host
        if request.port is None:
            host = None  # accepts no connections: there is no address to record
        elif host is None or _is_unspecified(host):
            host = connection.peer_ip
        else:
            try:
                host = validate_host(host)
            except InvalidAddress as exc:
                return error_frame(ErrorCode.INVALID_ADDRESS, str(exc), rid)
        key = connection.identity
        assert key is not None
        bound = self.book.key_of(name)
        if (
            bound != key
            and name not in connection.names_claimed
            and (len(connection.names_claimed) >= MAX_NAMES_PER_CONNECTION)
        ):
            return error_frame(ErrorCode.RATE_LIMITED, "too many names from one connection", rid)
        place = (host, request.port)
        if bound is None:
            refusal = self._admission.refuse_new(connection.peer_ip, name, key)
            if refusal is not None:
                return error_frame(*refusal, rid)
            self._admission.claim(name, key)  # now, in this pass: a second key is refused at once
            return self._bind(connection, rid, name, place, key)
        return self._confirm(connection, rid, name, place, key)

    async def _bind(
        self,
        connection: Connection,
        rid: int | None,
        name: str,
        place: tuple[str | None, int | None],
        key: bytes,
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
        return self._completion(connection, rid, name, place, key)

    async def _confirm(
        self,
        connection: Connection,
        rid: int | None,
        name: str,
        place: tuple[str | None, int | None],
        key: bytes,
    ) -> Answer:
        """``name`` is bound in memory: the file decides (the operator may have released it
        since, and then the old key must not sign in with it any more)."""
        current = await self._admission.current(name)
        if current == key:
            return self._completion(connection, rid, name, place, key)
        if current is not None:
            return error_frame(ErrorCode.NAME_TAKEN, f"{name} is registered to another key", rid)
        refusal = self._admission.refuse_new(connection.peer_ip, name, key)
        if refusal is not None:
            return error_frame(*refusal, rid)
        self._admission.claim(name, key)
        return await self._bind(connection, rid, name, place, key)

    def _completion(
        self,
        connection: Connection,
        rid: int | None,
        name: str,
        place: tuple[str | None, int | None],
        key: bytes,
    ) -> Callable[[], bytes]:
        # Completed by the connection when it takes the answer, in the same step as it queues
        # it: a presence push in between would otherwise reach it before its `registered`.
        return functools.partial(self._complete, connection, rid, name, place, key)

    def _complete(
        self,
        connection: Connection,
        rid: int | None,
        name: str,
        place: tuple[str | None, int | None],
        key: bytes,
    ) -> bytes:
        if connection.closing:
            return b""
        if connection.registration is not None:
            return error_frame(ErrorCode.ALREADY_REGISTERED, "this connection is registered", rid)
        host, port = place
        connection.names_claimed.add(name)
        holder = self.names.get(name)
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
        elif port is None:
            log.info("%s joined from %s, accepting no connections", name, connection.peer)
        else:
            log.info("%s joined from %s, listening at %s:%d", name, connection.peer, host, port)
        registration = Registration(name, host, port, key, connection)
        connection.registration = registration
        self.names[name] = registration
        if holder is None:
            self.push_presence((name,), (), skip=connection)
        return (
            encode(dump(Registered(rid=rid, user=name, host=host, port=port)))
            + encode(dump(Presence(online=sorted(self.names))))
            + self._registered(registration)
        )

    def leave(self, connection: Connection, why: str) -> None:
        registration = connection.registration
        assert registration is not None
        connection.registration = None
        if self.names.get(registration.name) is registration:
            del self.names[registration.name]
            log.info("%s left (%s)", registration.name, why)
            if not self.shutting_down:
                self.push_presence((), (registration.name,), skip=connection)

    def find(self, user: str, rid: int | None) -> Registration | bytes:
        """The registration of ``user`` (online now), or the error frame saying why not."""
        registration = self.names.get(user)
        if registration is None:
            try:
                registration = self.names.get(normalize(user))
            except InvalidUsername as exc:
                return error_frame(ErrorCode.INVALID_USERNAME, str(exc), rid)
        if registration is None:
            name = _known_name(user)
            if name in self.book:
                return error_frame(ErrorCode.OFFLINE, f"{name} is offline", rid)
            return error_frame(
                ErrorCode.UNKNOWN_USER, f"nobody called {user} has ever signed in here", rid
            )
        return registration

    def lookup(self, request: Lookup, relay: bool) -> bytes:
        """``found`` (with what the probe found and whether ``relay`` is on), or an error."""
        registration = self.find(request.user, request.rid)
        if isinstance(registration, bytes):
            return registration
        probed = registration.reachability
        return encode(
            dump(
                Found(
                    rid=request.rid,
                    user=registration.name,
                    host=registration.host,
                    port=registration.port,
                    key=base64.b64encode(registration.key).decode("ascii"),
                    reachable=(
                        None if probed is None or probed.reason == NOT_PROBED else probed.reachable
                    ),
                    relay=relay,
                )
            )
        )
