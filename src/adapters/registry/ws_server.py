"""The registry's WebSocket binding: the same byte stream as over TCP, one codec frame per binary
message, so the secure channel, the relay and every stream above run over it unchanged.

Both ends are thin shells around websockets' sans-I/O protocols, inside an
:class:`asyncio.Protocol` (no task per connection: a connection must stay a few KiB):

- :class:`WsEnd` is the socket's protocol: it feeds the bytes read to the WebSocket protocol,
  writes what that wants sent, and turns each binary message back into a codec frame (the
  message length is the frame length, so the 4-byte header is not sent) for the protocol above.
  Every message of one read reaches it in one ``data_received``, as the frames of one TCP read
  would.
- :class:`WsTransport` is what the protocol above sees: an :class:`asyncio.Transport` whose
  ``write`` takes codec frames (whole or in pieces) and sends each as one binary message, and
  whose flow control is the socket's (pausing, the write buffer and its limits).
- :class:`WsConnection` and :class:`WsListener` are the server side: the upgrade on one path
  (others get 404) within a deadline, then the protocol made by the listener's factory (the
  registry's ``Connection``). :mod:`chinwag.adapters.registry.ws_client` is the client side.

Limits: a message over ``max_message`` (65,535, a Noise message) closes the connection (1009)
when its header is read, before any of it is buffered; a text message closes it (1003); the HTTP
request is bounded by the library (8 KiB lines, 128 headers). No compression, no subprotocols;
pings are answered by the library and count as activity. Behind a reverse proxy the client's
address is the last ``X-Forwarded-For`` hop, taken only from a peer in ``trusted_proxies``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Sequence

from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from chinwag.adapters.registry.endpoints import WS_PATH
from chinwag.adapters.registry.frames import ip_of
from chinwag.adapters.registry.limits import OUT, ConnectionCaps
from chinwag.adapters.registry.listen import listen
from chinwag.adapters.registry.ws_stream import WsEnd, quiet_logger
from chinwag.adapters.secure.channel import CLOSE_GRACE
from chinwag.adapters.secure.noise import MAX_MESSAGE
from chinwag.domain.registry.addresses import address_group

__all__ = ["WsConnection", "WsListener"]

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 5.0
"""Seconds a new connection has to finish its HTTP upgrade (as the registry's TCP handshake)."""

ProtocolFactory = Callable[[], asyncio.Protocol]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class WsConnection(WsEnd):
    """One accepted socket: the upgrade on the listener's path within ``handshake_timeout``,
    then the listener's protocol over a :class:`WsTransport`; idle past ``idle_timeout`` (when
    the listener has one) it is closed (1000, "idle").

    With the listener's ``caps`` it is counted from its accept (a :class:`~.limits.Slot`): its
    upgrade and the handshake of the protocol above are one handshake in progress, and the
    protocol above finds it as the transport's ``chinwag_slot`` (its ``accepted`` time is where
    that handshake's deadline counts from)."""

    def __init__(self, listener: WsListener) -> None:
        super().__init__(ServerProtocol(max_size=listener.max_message, logger=quiet_logger()))
        self._listener = listener
        self.accepted = self._loop.time()
        self.cap_address: str | None = None
        self.cap_state = OUT
        self.cap_key: bytes | None = None
        if listener.caps is not None:
            self.slot = self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        listener = self._listener
        listener.connections.add(self)
        if listener.caps is not None:
            peer = transport.get_extra_info("peername")
            address = None if listener.trusts(peer) else address_group(ip_of(peer))
            if listener.caps.admit(self, "ws", address) is not None:
                self.abort()  # no request read yet: nothing to answer it with
                return
        self._arm(listener.handshake_timeout, self._too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        listener = self._listener
        if listener.caps is not None:
            listener.caps.release(self)
        connections = listener.connections
        connections.discard(self)
        if not connections:
            listener.emptied()
        super().connection_lost(exc)

    def evict(self, why: str) -> None:
        """The caps drop this connection for a newcomer's handshake."""
        self.abort()

    def _too_slow(self) -> None:
        self._timer = None
        log.info("%s did not finish its WebSocket upgrade in time; dropped", self._peer())
        if self._sock is not None:
            self._sock.abort()

    def _handshake(self, event: Request | Response) -> None:
        assert isinstance(event, Request) and isinstance(self._ws, ServerProtocol)
        listener = self._listener
        peername = listener.peername(self._sock, event)
        if event.path.partition("?")[0] != listener.path:
            response = self._ws.reject(404, "Not Found\n")
        elif self._refused_behind_proxy(peername):
            response = self._ws.reject(503, "Too many connections from your address\n")
        else:
            response = self._ws.accept(event)
        self._ws.send_response(response)
        if response.status_code != 101:
            self.flush()
            return
        self._open(listener.protocol_factory(), peername)
        if listener.idle_timeout is not None:
            self._arm(listener.idle_timeout, self._check_idle)

    def _refused_behind_proxy(self, peername: object) -> bool:
        """A trusted proxy's connection is counted under its client's address now that the
        request names it; True if that address is over its cap."""
        caps = self._listener.caps
        if caps is None or self.cap_state == OUT or self.cap_address is not None:
            return False
        return caps.place(self, address_group(ip_of(peername))) is not None

    def _check_idle(self) -> None:
        self._timer = None
        timeout = self._listener.idle_timeout
        assert timeout is not None
        remaining = self.heard + timeout - self._loop.time()
        if remaining > 0:
            self._arm(remaining, self._check_idle)
        elif self.facade is not None:
            log.info("%s was silent for %g s over WebSocket; closed", self._peer(), timeout)
            self.facade.close(CloseCode.NORMAL_CLOSURE, "idle")

    def _peer(self) -> str:
        name = self._sock.get_extra_info("peername") if self._sock is not None else None
        return f"{name[0]}:{name[1]}" if isinstance(name, tuple) else "?"


class WsListener:
    """A WebSocket listener: every connection upgraded on ``path`` gets a protocol from
    ``protocol_factory`` (the registry's ``Connection``); other paths get 404.

    ``idle_timeout`` (None: left to the protocol, as the registry's ``Connection`` has its own)
    closes a connection that sent nothing, pings included, for that long. ``trusted_proxies``:
    peers whose ``X-Forwarded-For`` is believed (its last hop is the client's address).
    ``caps``: the registry's, counted into from each accept (a trusted proxy's connections
    under their client's address once the request names it)."""

    def __init__(
        self,
        protocol_factory: ProtocolFactory,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        path: str = WS_PATH,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        idle_timeout: float | None = None,
        max_message: int = MAX_MESSAGE,
        trusted_proxies: Sequence[Network] = (),
        caps: ConnectionCaps | None = None,
    ) -> None:
        self.protocol_factory = protocol_factory
        self.caps = caps
        self.path = path
        self.handshake_timeout = handshake_timeout
        self.idle_timeout = idle_timeout
        self.max_message = max_message
        self.trusted_proxies = tuple(trusted_proxies)
        self.connections: set[WsConnection] = set()
        self._emptied = asyncio.Event()
        self._host, self._port = host, port
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None

    async def start(self) -> tuple[str, int]:
        """Listen; return the bound address. Raises ``AddressInUse`` if the port is taken."""
        if self._server is not None:
            raise RuntimeError("the WebSocket listener is already started")
        self._server, self._address = await listen(
            lambda: WsConnection(self), self._host, self._port, " for WebSocket"
        )
        return self._address

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError("the WebSocket listener is not started")
        return self._address

    def emptied(self) -> None:
        self._emptied.set()

    def peername(self, sock: asyncio.BaseTransport | None, request: Request) -> object:
        """The client's address: the socket's peer, or the last ``X-Forwarded-For`` hop when
        that peer is a trusted proxy (the hops before it are the client's to forge)."""
        peer = sock.get_extra_info("peername") if sock is not None else None
        if not isinstance(peer, tuple) or not self.trusts(peer):
            return peer
        hops = request.headers.get_all("X-Forwarded-For")
        last = hops[-1].rsplit(",", 1)[-1].strip() if hops else ""
        try:
            return (str(ipaddress.ip_address(last)), peer[1])
        except ValueError:
            return peer

    def trusts(self, peer: object) -> bool:
        """Whether ``peer`` (a socket's peer name) is one of the trusted proxies."""
        if not self.trusted_proxies or not isinstance(peer, tuple):
            return False
        try:
            proxy = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(proxy, ipaddress.IPv6Address) and proxy.ipv4_mapped is not None:
            proxy = proxy.ipv4_mapped
        return any(proxy in network for network in self.trusted_proxies)

    async def close(self) -> None:
        """Stop listening; close every connection (1001, going away) and wait until each has
        ended (at most ``CLOSE_GRACE`` and a little)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self.connections):
            if connection.facade is not None:
                connection.facade.close(CloseCode.GOING_AWAY, "the server is shutting down")
            else:
                connection.abort()
        if self.connections:
            self._emptied.clear()
            async with asyncio.timeout(CLOSE_GRACE + 1.0):
                await self._emptied.wait()
        if server is not None:
            await server.wait_closed()
