"""A secure link to a registry: the clear welcome, the handshake that must prove the key pinned
for the registry's address (or given with ``--registry-key``), then framed requests and answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError

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
)
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

    def __init__(self, stream: SecureStream) -> None:
        self._stream = stream
        self._ready: deque[ServerMessage] = deque()
        self.heartbeat = 5.0

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
    """Opens secure links to one registry, and lets through only the registry holding the key
    pinned for its address (pinned on first use), or the one given with ``--registry-key``."""

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
        host: str,
        port: int,
        connect_timeout: float,
        timeout: float,
        then: Callable[[Link], Awaitable[T]],
    ) -> T:
        """Open a new connection, run the handshake, then ``then(link)`` (register, join a relay
        session...) within ``timeout``; every failure is a ``RegistryUnavailable`` in words, or
        the registry's refusal in the application's terms. Nothing is left open on failure."""
        try:
            async with asyncio.timeout(connect_timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            raise RegistryUnavailable(
                f"the registry at {self.where} did not accept a connection within "
                f"{connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise RegistryUnavailable(
                f"cannot reach the registry at {self.where}: {reason(exc)}"
            ) from exc
        try:
            try:
                async with asyncio.timeout(timeout):
                    return await then(await self.open(reader, writer))
            except BaseException:
                await close_writer(writer)
                raise
        except DomainError:  # a refusal, already in the application's terms
            raise
        except TimeoutError:
            raise RegistryUnavailable(
                f"the registry at {self.where} did not answer within {timeout:g} s"
            ) from None
        except SecureError as exc:
            raise RegistryUnavailable(
                f"no secure session with the registry at {self.where}: {exc}"
            ) from None
        except (OSError, ValueError) as exc:  # connection lost, malformed frame
            raise RegistryUnavailable(f"the registry at {self.where} failed: {exc}") from exc

    async def open(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Link:
        """Read the clear welcome, then the handshake, which must prove the pinned key."""
        decoder = FrameDecoder(MAX_SERVER_FRAME)
        first = await read_clear_frame(reader, decoder)
        try:
            welcome = SERVER_MESSAGE_ADAPTER.validate_json(first)
        except ValidationError:
            raise RegistryUnavailable(
                f"{self.where} did not greet like a chinwag registry"
            ) from None
        if isinstance(welcome, Error) and welcome.code == ErrorCode.BUSY:
            raise RegistryUnavailable(f"the registry at {self.where} is busy: {welcome.message}")
        if not isinstance(welcome, Welcome):
            raise RegistryUnavailable(f"{self.where} did not greet like a chinwag registry")
        if welcome.version != PROTOCOL_VERSION:
            raise UnsupportedVersion(
                f"the registry at {self.where} speaks protocol version {welcome.version}; "
                f"this chinwag speaks {PROTOCOL_VERSION}"
            )
        if decoder.take_buffer():
            raise RegistryUnavailable(
                f"{self.where} sent more than its welcome before the handshake"
            )
        stream = await open_secure(
            reader,
            writer,
            self._security,
            prologue=PROLOGUE + encode(first),
            max_frame=MAX_SERVER_FRAME,
            expect=self._check,
        )
        if self._pinned() != stream.remote.key:
            # The file is synced before it is replaced: off the event loop, which serves
            # every other connection in the meantime.
            await asyncio.to_thread(self._pin, stream.remote.key)
        heartbeat = self._heartbeat_interval or welcome.heartbeat_interval
        link = Link(stream)
        # Never slower than half the server's patience, never a busy loop.
        link.heartbeat = max(min(heartbeat, welcome.idle_timeout / 2), _MIN_HEARTBEAT)
        return link

    def _pinned(self) -> bytes | None:
        """The key pinned for this registry; HistoryUnavailable (``storage``) if the pins file
        cannot be read: a local problem, not the registry's."""
        if self._pins is None:
            return None
        try:
            return self._pins.get(self.where)
        except OSError as exc:  # PinsError, UnsafePath
            raise HistoryUnavailable(str(exc)) from None

    def _pin(self, key: bytes) -> None:
        if self._pins is None:
            return
        try:
            self._pins.pin(self.where, key)
        except OSError as exc:
            raise HistoryUnavailable(f"cannot pin the registry's key: {exc}") from None

    def _check(self, remote: RemoteIdentity) -> None:
        """Refuse a registry that proves another key than the one pinned for its address."""
        shown = fingerprint(remote.key)
        if self._registry_key is not None:
            if not same_fingerprint(shown, self._registry_key):
                raise RegistryKeyChanged(
                    f"the registry at {self.where} proved the key {shown}, not the "
                    f"{self._registry_key} given with --registry-key"
                )
            return
        pinned = self._pinned()
        if pinned is not None and pinned != remote.key:
            raise RegistryKeyChanged(
                f"the registry at {self.where} now proves the key {shown}, not the "
                f"{fingerprint(pinned)} it had before: somebody may be posing as it. If its "
                "operator confirms the new key, start with --registry-key "
                f"'{shown}'"
            )
