"""A secure link to a registry: the clear welcome, the handshake that must prove the key pinned
for the registry's address (or given with ``--registry-key``), then framed requests and answers.

A registry is reached at an endpoint (:mod:`chinwag.adapters.registry.endpoints`): over TCP, or
over WebSocket (:func:`~chinwag.adapters.registry.ws_client.open_ws`), which gives the same
stream pair, so everything from the welcome on is the same on both. Each endpoint's key is
pinned under its own :attr:`~chinwag.adapters.registry.endpoints.RegistryEndpoint.pin_name`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError

from chinwag.adapters.registry.endpoints import RegistryEndpoint
from chinwag.adapters.registry.pins import RegistryPins
from chinwag.adapters.registry.protocol import (
    MAX_SERVER_FRAME,
    PROLOGUE,
    PROTOCOL_VERSION,
    SERVER_MESSAGE_ADAPTER,
    Error,
    ErrorCode,
    Found,
    Ping,
    ServerMessage,
    Welcome,
    dump,
    register_version,
)
from chinwag.adapters.registry.ws_client import WsRefused, open_ws
from chinwag.adapters.secure.channel import (
    RemoteIdentity,
    SecureError,
    SecureStream,
    Security,
    close_writer,
    open_secure,
    read_clear_frame,
)
from chinwag.adapters.secure.keys import decode_raw_key
from chinwag.adapters.wire.codec import FrameDecoder, encode
from chinwag.application.errors import (
    HistoryUnavailable,
    NameTaken,
    RegistryKeyChanged,
    RegistryUnavailable,
    UnknownUser,
    UserOffline,
)
from chinwag.application.ports.directory import PeerLocation
from chinwag.domain.errors import DomainError, InvalidUsername
from chinwag.domain.identity import fingerprint, same_fingerprint
from chinwag.domain.user import PeerAddress

log = logging.getLogger("chinwag.adapters.registry.client")

_MIN_HEARTBEAT = 0.05
SILENT_HEARTBEATS = 3
"""The connection is dead once nothing was heard for this many heartbeat intervals."""

T = TypeVar("T")


def location(answer: Found, name: str) -> PeerLocation:
    """Where ``name`` listens and its key, from the registry's ``found``; RegistryUnavailable if
    the answer is malformed."""
    key = decode_raw_key(
        answer.key,
        f"{name}'s key",
        lambda why: RegistryUnavailable(f"the registry sent a malformed key: {why}"),
    )
    address = None
    if answer.host is not None and answer.port is not None:
        try:
            address = PeerAddress(host=answer.host, port=answer.port)
        except ValueError:
            raise RegistryUnavailable(f"the registry sent a malformed address for {name}") from None
    return PeerLocation(address=address, key=key, reachable=answer.reachable, relay=answer.relay)


def reason(exc: OSError) -> str:
    """What went wrong, in words (``connection refused``, not ``Connect call failed``)."""
    if exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    return str(exc.strerror or exc)


def refusal(answer: ServerMessage, where: str) -> DomainError:
    """The exception for a registry's answer that is not what was asked for."""
    if not isinstance(answer, Error):
        return RegistryUnavailable(f"unexpected {answer.type!r} from the registry at {where}")
    if answer.code == ErrorCode.NAME_TAKEN:
        return NameTaken(answer.message)
    if answer.code == ErrorCode.UNKNOWN_USER:
        return UnknownUser(answer.message)
    if answer.code == ErrorCode.OFFLINE:
        return UserOffline(answer.message)
    if answer.code == ErrorCode.INVALID_USERNAME:
        return InvalidUsername(answer.message)
    return RegistryUnavailable(f"the registry at {where} refused: {answer.message} ({answer.code})")


class UnsupportedVersion(RegistryUnavailable):
    code = "unsupported_version"


class Link:
    """One live, secure connection to the registry."""

    def __init__(self, stream: SecureStream, where: str = "the registry") -> None:
        self._stream = stream
        self._ready: deque[ServerMessage] = deque()
        self.heartbeat = 5.0
        self.where = where
        """The registry's endpoint, as messages name it."""
        self.version = PROTOCOL_VERSION
        """The ``register`` version this registry and this client share (its welcome says)."""

    @property
    def stream(self) -> SecureStream:
        return self._stream

    def send(self, payload: bytes) -> None:
        self._stream.send([payload])

    async def receive(self) -> list[ServerMessage]:
        """The messages already decoded, else those that the next read completes."""
        if self._ready:
            batch = list(self._ready)
            self._ready.clear()
            return batch
        while True:
            try:
                payloads = await self._stream.receive()
            except ConnectionError:
                raise ConnectionError("the registry closed the connection") from None
            except SecureError as exc:
                raise ConnectionError(f"the secure session broke: {exc}") from None
            batch = []
            for payload in payloads:
                try:
                    batch.append(SERVER_MESSAGE_ADAPTER.validate_json(payload))
                except ValidationError:
                    log.warning("ignoring a registry frame this client does not understand")
            if batch:
                return batch

    async def serve(self, dispatch: Callable[[ServerMessage], None]) -> str:
        """Read and dispatch frames and send heartbeats until the link dies; return why it did."""
        loop = asyncio.get_running_loop()
        silence_limit = SILENT_HEARTBEATS * self.heartbeat
        last_heard = loop.time()
        next_ping = last_heard + self.heartbeat
        while True:
            now = loop.time()
            if now - last_heard >= silence_limit:
                return f"nothing heard for {silence_limit:g} s"
            if now >= next_ping:
                self.send(dump(Ping()))
                next_ping = now + self.heartbeat
            try:
                async with asyncio.timeout_at(min(next_ping, last_heard + silence_limit)):
                    batch = await self.receive()
            except TimeoutError:
                continue
            except (OSError, ValueError) as exc:  # ConnectionError, FrameTooLarge, EmptyFrame
                return str(exc) or type(exc).__name__
            last_heard = loop.time()
            for message in batch:
                dispatch(message)

    async def next(self) -> ServerMessage:
        """The next message from the registry."""
        if not self._ready:
            self._ready.extend(await self.receive())
        return self._ready.popleft()

    async def aclose(self) -> None:
        await close_writer(self._stream.writer)


class RegistryGate:
    """Opens secure links to registries, and lets through only a registry holding the key pinned
    for the endpoint it is reached at (pinned on first use), or the one given with
    ``--registry-key`` (which holds for every endpoint).

    ``where`` names the registry in messages when no endpoint is given (:meth:`open` on streams
    opened elsewhere, as the tests do)."""

    def __init__(
        self,
        where: str,
        security: Security,
        pins: RegistryPins | None,
        registry_key: str | None,
        heartbeat_interval: float | None,
    ) -> None:
        self.where = where
        self._security = security
        self._pins = pins
        self._registry_key = registry_key
        self._heartbeat_interval = heartbeat_interval

    async def connect(
        self,
        endpoint: RegistryEndpoint,
        connect_timeout: float,
        timeout: float,
        then: Callable[[Link], Awaitable[T]],
        *,
        key: bytes | None = None,
    ) -> T:
        """Open a new connection to ``endpoint``, run the handshake, then ``then(link)``
        (register, join a relay session...) within ``timeout``; every failure is a
        ``RegistryUnavailable`` in words, or the registry's refusal in the application's terms.
        Nothing is left open on failure.

        ``key``: the registry must prove exactly this key, and nothing is pinned (a relay leg at
        another registry of the same network, which must be the same registry to us)."""
        where = endpoint.pin_name
        reader, writer = await self._open_streams(endpoint, connect_timeout)
        try:
            try:
                async with asyncio.timeout(timeout):
                    return await then(await self.open(reader, writer, where=where, key=key))
            except BaseException:
                await close_writer(writer)
                raise
        except DomainError:  # a refusal, already in the application's terms
            raise
        except TimeoutError:
            raise RegistryUnavailable(
                f"the registry at {where} did not answer within {timeout:g} s"
            ) from None
        except SecureError as exc:
            raise RegistryUnavailable(
                f"no secure session with the registry at {where}: {exc}"
            ) from None
        except (OSError, ValueError) as exc:  # connection lost, malformed frame
            raise RegistryUnavailable(f"the registry at {where} failed: {exc}") from exc

    @staticmethod
    async def _open_streams(
        endpoint: RegistryEndpoint, connect_timeout: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection, or a WebSocket (over TLS for ``wss://``) upgraded on its path."""
        where = endpoint.pin_name
        try:
            if endpoint.websocket:
                return await open_ws(endpoint, connect_timeout)
            async with asyncio.timeout(connect_timeout):
                return await asyncio.open_connection(endpoint.host, endpoint.port)
        except TimeoutError:
            raise RegistryUnavailable(
                f"the registry at {where} did not accept a connection within {connect_timeout:g} s"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise RegistryUnavailable(
                f"the registry at {where} showed a certificate this machine does not trust: "
                f"{exc.verify_message or exc.reason}"
            ) from None
        except ssl.SSLError as exc:  # its errno is OpenSSL's, not the system's
            raise RegistryUnavailable(
                f"no TLS session with the registry at {where}: {exc.reason or exc}"
            ) from None
        except WsRefused as exc:  # a web server, but no registry at that path
            raise RegistryUnavailable(f"no registry at {where}: {exc}") from None
        except OSError as exc:
            raise RegistryUnavailable(
                f"cannot reach the registry at {where}: {reason(exc)}"
            ) from exc

    async def open(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        where: str | None = None,
        key: bytes | None = None,
    ) -> Link:
        """Read the clear welcome, then the handshake, which must prove the key pinned for
        ``where`` (else :attr:`where`), or exactly ``key`` when given (then nothing is pinned)."""
        where = where or self.where
        decoder = FrameDecoder(MAX_SERVER_FRAME)
        first = await read_clear_frame(reader, decoder)
        try:
            welcome = SERVER_MESSAGE_ADAPTER.validate_json(first)
        except ValidationError:
            raise RegistryUnavailable(f"{where} did not greet like a chinwag registry") from None
        if isinstance(welcome, Error) and welcome.code == ErrorCode.BUSY:
            raise RegistryUnavailable(f"the registry at {where} is busy: {welcome.message}")
        if not isinstance(welcome, Welcome):
            raise RegistryUnavailable(f"{where} did not greet like a chinwag registry")
        if welcome.version != PROTOCOL_VERSION:
            raise UnsupportedVersion(
                f"the registry at {where} speaks protocol version {welcome.version}; "
                f"this chinwag speaks {PROTOCOL_VERSION}"
            )
        if decoder.take_buffer():
            raise RegistryUnavailable(f"{where} sent more than its welcome before the handshake")

        def check(remote: RemoteIdentity) -> None:
            if key is None:
                self._check(where, remote)
            elif remote.key != key:
                raise RegistryKeyChanged(
                    f"the registry at {where} proved the key {fingerprint(remote.key)}, not "
                    f"{fingerprint(key)}, the key of the registry that sent us there"
                )

        stream = await open_secure(
            reader,
            writer,
            self._security,
            prologue=PROLOGUE + encode(first),
            max_frame=MAX_SERVER_FRAME,
            expect=check,
        )
        if key is None and self._pinned(where) != stream.remote.key:
            # The file is synced before it is replaced: off the event loop, which serves
            # every other connection in the meantime.
            await asyncio.to_thread(self._pin, where, stream.remote.key)
        heartbeat = self._heartbeat_interval or welcome.heartbeat_interval
        link = Link(stream, where)
        link.version = register_version(welcome.versions, welcome.version)
        # Never slower than half the server's patience, never a busy loop.
        link.heartbeat = max(min(heartbeat, welcome.idle_timeout / 2), _MIN_HEARTBEAT)
        return link

    def _pinned(self, where: str) -> bytes | None:
        """The key pinned for the registry at ``where``; HistoryUnavailable (``storage``) if the
        pins file cannot be read: a local problem, not the registry's."""
        if self._pins is None:
            return None
        try:
            return self._pins.get(where)
        except OSError as exc:  # PinsError, UnsafePath
            raise HistoryUnavailable(str(exc)) from None

    def _pin(self, where: str, key: bytes) -> None:
        if self._pins is None:
            return
        try:
            self._pins.pin(where, key)
        except OSError as exc:
            raise HistoryUnavailable(f"cannot pin the registry's key: {exc}") from None

    def _check(self, where: str, remote: RemoteIdentity) -> None:
        """Refuse a registry that proves another key than the one pinned for its endpoint."""
        shown = fingerprint(remote.key)
        if self._registry_key is not None:
            if not same_fingerprint(shown, self._registry_key):
                raise RegistryKeyChanged(
                    f"the registry at {where} proved the key {shown}, not the "
                    f"{self._registry_key} given with --registry-key"
                )
            return
        pinned = self._pinned(where)
        if pinned is not None and pinned != remote.key:
            raise RegistryKeyChanged(
                f"the registry at {where} now proves the key {shown}, not the "
                f"{fingerprint(pinned)} it had before: somebody may be posing as it. If its "
                "operator confirms the new key, start with --registry-key "
                f"'{shown}'"
            )
