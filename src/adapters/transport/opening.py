"""Opening a session to a peer: a TCP connection of our own (direct), then, over it or over
a stream the relay gave, the clear ``hello``, the Noise handshake as initiator (which must
prove the key the registry gave for the name), and the peer's ``welcome``. The transport
(:mod:`~chinwag.adapters.transport.tcp`) chooses the route and keeps the sessions."""

from __future__ import annotations

import asyncio

from chinwag.adapters.secure.channel import (
    READ_CHUNK,
    RemoteIdentity,
    SecureError,
    Security,
    open_secure,
)
from chinwag.adapters.transport import protocol
from chinwag.adapters.transport.inbound import claimed_name, tune
from chinwag.adapters.transport.outbound import PeerLink
from chinwag.adapters.transport.settings import TransportSettings
from chinwag.adapters.wire.codec import encode
from chinwag.application.errors import PeerRefused, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.user import PeerAddress

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_tcp(peer: str, address: PeerAddress, timeout: float) -> Streams:
    """A TCP connection to ``peer``'s ``address``; PeerUnreachable with the doctor's word
    (``refused``, ``timeout``, ``unreachable``) if there is none within ``timeout``."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                address.host, address.port, limit=READ_CHUNK
            )
    except (OSError, TimeoutError) as exc:
        raise PeerUnreachable(
            f"cannot reach {peer} at {address}: {_describe(exc)}", _cause(exc)
        ) from None
    tune(writer)
    return reader, writer


async def secure_session(
    security: Security,
    settings: TransportSettings,
    me: str,
    peer: str,
    location: PeerLocation,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    route: Route,
) -> PeerLink:
    """The handshake as ``me``, which must prove ``location.key``, then the peer's
    ``welcome``: an open session, or PeerUnreachable/PeerRefused saying why not."""
    where = "through the relay" if route is Route.RELAYED else f"at {location.address}"

    def expect(remote: RemoteIdentity) -> None:
        # Checked before we say who we are: a stale address now used by somebody else, or
        # anybody posing as the peer, learns nothing and gets nothing.
        if claimed_name(remote.name) != peer:
            raise SecureError("wrong_peer", f"{where} is not {peer} any more")
        if remote.key != location.key:
            raise SecureError("wrong_key", f"{where} does not hold {peer}'s key")

    hello = encode(protocol.hello())
    try:
        async with asyncio.timeout(settings.handshake_timeout):
            stream = await open_secure(
                reader,
                writer,
                security,
                prologue=protocol.PROLOGUE + hello,
                max_frame=settings.max_frame,
                name=me,
                to=peer,
                expect=expect,
                preamble=hello,
            )
        # The peer may ask its registry before it answers: wait longer than it may take.
        async with asyncio.timeout(settings.authorize_timeout + settings.handshake_timeout):
            answer = protocol.parse((await stream.receive())[0])
    except (OSError, TimeoutError, ValueError, SecureError) as exc:
        writer.close()
        cause = "timeout" if isinstance(exc, TimeoutError) else "lost"
        if isinstance(exc, SecureError):
            cause = "key_mismatch"
        raise PeerUnreachable(
            f"no secure session with {peer} {where}: {_describe(exc)}", cause
        ) from None
    except BaseException:  # cancelled (the transport is closing): no socket left behind
        writer.transport.abort()
        raise
    link = PeerLink(peer, stream, route, settings.max_frame)
    if isinstance(answer, protocol.Error):
        link.fail(answer.message)
        raise PeerRefused(answer.code, f"{peer} refused: {answer.message}")
    if not isinstance(answer, protocol.Welcome):
        link.fail("unexpected answer")
        raise PeerUnreachable(f"{peer} {where} answered {answer.type!r}, not welcome")
    return link


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _cause(exc: BaseException) -> str:
    """The doctor's word for why a TCP connection could not be opened."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    return "unreachable"
