"""The client side of the registry's WebSocket binding: ``ws://`` and ``wss://`` endpoints as an
asyncio stream pair, so :class:`~chinwag.adapters.registry.link.RegistryGate` runs the welcome,
the Noise handshake and its requests over it exactly as over TCP.

The socket (TCP, or TLS for ``wss://`` with ``ssl.create_default_context()``, so
``SSL_CERT_FILE`` is honoured) carries websockets' sans-I/O
:class:`~websockets.client.ClientProtocol` in a :class:`~chinwag.adapters.registry.ws_server.WsEnd`,
and the stream pair sits on its :class:`~chinwag.adapters.registry.ws_server.WsTransport`: one
codec frame per binary message each way, the socket's flow control, a close frame on
``writer.close()``. Every failure to open is an ``OSError`` (``ConnectionError`` when the server
answered but did not upgrade, ``TimeoutError`` when ``timeout`` passed), as for TCP.
"""

from __future__ import annotations

import asyncio
import ssl

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus
from websockets.http11 import Request, Response
from websockets.uri import parse_uri

from chinwag.adapters.registry.endpoints import RegistryEndpoint
from chinwag.adapters.registry.ws_stream import WsEnd, quiet_logger
from chinwag.adapters.secure.channel import READ_CHUNK
from chinwag.adapters.secure.noise import MAX_MESSAGE

__all__ = ["WsRefused", "open_ws"]

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class WsRefused(ConnectionError):
    """The server answered the upgrade with something else than ``101``: not a WebSocket
    there (``status`` 404: a wrong path), or not a WebSocket server at all (``status`` 0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class _WsClientEnd(WsEnd):
    """The client's socket: sends the upgrade at once, and on ``101`` makes the stream pair
    before any message after it is delivered."""

    def __init__(self, ws: ClientProtocol, where: str) -> None:
        super().__init__(ws)
        self._where = where
        self.opened: asyncio.Future[Streams] = self._loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(self._ws, ClientProtocol)
        self._ws.send_request(self._ws.connect())
        self.flush()

    def _handshake(self, event: Request | Response) -> None:
        assert isinstance(event, Response)
        if self.opened.done():
            return
        failure = self._ws.handshake_exc
        if failure is not None or event.status_code != 101:
            status = failure.response.status_code if isinstance(failure, InvalidStatus) else 0
            self.opened.set_exception(
                WsRefused(
                    f"{self._where} answered HTTP {event.status_code} {event.reason_phrase}, "
                    f"not a WebSocket upgrade: {failure or 'refused'}",
                    status or event.status_code,
                )
            )
            return
        assert self._sock is not None
        reader = asyncio.StreamReader(limit=READ_CHUNK, loop=self._loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=self._loop)
        self._open(protocol, self._sock.get_extra_info("peername"))
        assert self.facade is not None
        writer = asyncio.StreamWriter(self.facade, protocol, reader, self._loop)
        self.opened.set_result((reader, writer))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            failure = self._ws.handshake_exc or exc
            self.opened.set_exception(
                ConnectionError(
                    f"{self._where} closed the connection before the WebSocket opened"
                    + (f": {failure}" if failure else "")
                )
            )
        super().connection_lost(exc)


async def open_ws(
    endpoint: RegistryEndpoint,
    timeout: float,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> Streams:
    """Connect to a ``ws://`` or ``wss://`` endpoint and upgrade within ``timeout`` seconds;
    return the stream pair over it. ``ssl_context`` replaces the default one for ``wss://``.
    Nothing is left open on failure."""
    if not endpoint.websocket:
        raise ValueError(f"{endpoint} is not a WebSocket endpoint")
    loop = asyncio.get_running_loop()
    context: ssl.SSLContext | None = None
    if endpoint.secure:
        context = ssl_context or ssl.create_default_context()
    ws = ClientProtocol(parse_uri(endpoint.url), max_size=MAX_MESSAGE, logger=quiet_logger())
    end: _WsClientEnd | None = None
    try:
        async with asyncio.timeout(timeout):
            _, end = await loop.create_connection(
                lambda: _WsClientEnd(ws, endpoint.pin_name),
                endpoint.host,
                endpoint.port,
                ssl=context,
                server_hostname=endpoint.host if context is not None else None,
            )
            return await end.opened
    except BaseException:
        if end is not None:
            end.abort()
        raise
