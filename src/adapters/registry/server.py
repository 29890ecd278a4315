"""The registry server: names bound to keys, who is online and where, over TCP and WebSocket
(protocol 2, the same byte stream on both: :mod:`.ws_server`); it also probes whether its
clients can be reached, and relays sessions for those that cannot.

Each connection is an :class:`asyncio.Protocol` plus one task (its watchdog). It starts with a
clear ``welcome`` and the Noise handshake (sans-I/O, :mod:`chinwag.adapters.secure.channel`),
which proves the client's identity key; every later frame is inside the session. Every frame of
one read is answered at once where its use case need not wait, and the answers leave in one
record; presence changes are noted in the outboxes of the connections told about them and
flushed once per event-loop pass. A request whose use case waits (binding a new name on the
disk, a shared store) is answered when it is done, and the connection's later requests wait
their turn. A connection that does not finish its
handshake within ``handshake_timeout``, or sends no whole frame for ``idle_timeout`` seconds, is
dropped, as is one whose unread output passes ``max_write_buffer``; hostile input costs an error
frame or a close and never more memory than one frame. See ``docs/protocol.md``.

Both listeners count into the same :class:`~chinwag.adapters.registry.limits.ConnectionCaps`:
connections in all and per address, handshakes in progress (the oldest of an address gives way
to a newcomer), identity keys registered per address; an authenticated connection that does not
register (or join a relay) within ``register_timeout`` is closed.

This module is the shell: it listens, keeps the connections and hands each request to the
:class:`~chinwag.adapters.registry.dispatch.Dispatcher`. Names, presence and relay offers are
the use cases' (:class:`~chinwag.adapters.registry.core.RegistryCore`, over its stores), the
probes the :class:`~chinwag.adapters.registry.reachability.ReachabilityDesk`'s, the relay's data
plane the :class:`~chinwag.adapters.registry.relay.RelayHub`'s.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Sequence

from chinwag.adapters.registry.connection import Connection
from chinwag.adapters.registry.core import RegistryCore, Stores, embedded_stores
from chinwag.adapters.registry.dispatch import Answer, Dispatcher
from chinwag.adapters.registry.frames import ERRORS_MADE
from chinwag.adapters.registry.gate import CapsGate
from chinwag.adapters.registry.hub import ConnectionHub
from chinwag.adapters.registry.limits import (
    HANDSHAKE_GRACE,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_ADDRESS,
    MAX_HANDSHAKES,
    MAX_HANDSHAKES_PER_ADDRESS,
    MAX_KEYS_PER_ADDRESS,
    REGISTER_TIMEOUT,
    CapLimits,
    ConnectionCaps,
    RefusalLog,
)
from chinwag.adapters.registry.listen import listen
from chinwag.adapters.registry.names import NameBook, NameBookStore
from chinwag.adapters.registry.probe import (
    MAX_CONCURRENT_PROBES,
    PROBE_CACHE_SECONDS,
    PROBE_TIMEOUT,
    Prober,
)
from chinwag.adapters.registry.protocol import (
    MAX_REQUEST_FRAME,
    PROLOGUE,
    PROTOCOL_VERSION,
    REGISTER_VERSIONS,
    Welcome,
    dump,
)
from chinwag.adapters.registry.reachability import (
    PROBE_INTERVAL,
    PROBES_PER_ADDRESS_PER_MINUTE,
    REPROBE_AFTER,
    REPROBE_MAX,
    ReachabilityDesk,
)
from chinwag.adapters.registry.relay import RelayHub
from chinwag.adapters.registry.ws_server import WsListener
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.wire.codec import encode
from chinwag.application.registry.admission import MAX_NEW_NAMES_PER_MINUTE
from chinwag.application.registry.fanout import PRESENCE_ALL_BELOW
from chinwag.application.registry.ports.name_store import NameStore
from chinwag.domain.registry.relay import (
    DEFAULT_RELAY_RATE,
    MAX_RELAY_SESSIONS,
    MAX_RELAY_SESSIONS_PER_ADDRESS,
    MAX_RELAY_SESSIONS_PER_CLIENT,
    MAX_RELAY_SESSIONS_PER_TARGET,
    MAX_UNJOINED_PER_ADDRESS,
    RELAY_IDLE_TIMEOUT,
    RELAY_JOIN_TIMEOUT,
    RELAY_MEMORY,
    RelaySettings,
)

__all__ = ["MAX_CONNECTIONS", "MAX_CONNECTIONS_PER_HOST", "Answer", "RegistryServer"]

log = logging.getLogger(__name__)

MAX_WRITE_BUFFER = 1024 * 1024
"""Unread output a connection may pile up before it is dropped."""

MAX_CONNECTIONS_PER_HOST = MAX_CONNECTIONS_PER_ADDRESS
"""Connections at once from one address (the name the entry point knows); past it, or past
``MAX_CONNECTIONS`` in all, a new one is told ``busy``."""

MAX_REQUEST_RATE = 2000.0
"""Requests a second one connection may make (with a burst of twice that); past it, requests are
answered ``rate_limited`` and ignored. A chat client makes a handful a minute."""

HANDSHAKE_TIMEOUT = 5.0
"""Seconds a new connection has to complete its handshake; an unauthenticated one costs little
and goes soon."""


class RegistryServer(ConnectionHub):
    """The registry: accepts connections, keeps the online set, answers lookups, probes its
    clients and relays sessions between them.

    ``probe=False`` turns the reachability probe off (every client is told ``not_probed``). It
    probes only the address a client connects from; real probes are limited to one per identity
    key every ``probe_interval`` seconds and ``max_probes_per_address_per_minute`` per address;
    a failed one is tried again after ``reprobe_after`` seconds, doubling up to ``reprobe_max``
    (``reprobe_after=None``: never by itself).

    ``relay=False`` turns the relay off (``relay_off``). Besides its per-client limits
    (``relay_rate``, ``relay_sessions``), the relay limits each address (an IPv4 address, an
    IPv6 /64), since identity keys cost nothing: ``relay_sessions_per_address`` sessions asked
    for, ``relay_unjoined_per_address`` of them not joined yet, and a byte rate shared by every
    key there (``relay_rate_per_address``; None: four times ``relay_rate``, the burst alike). Past
    ``relay_memory`` bytes held in all, new sessions are refused ``relay_full``.

    ``names`` is where names are bound (a :class:`NameBook`, or any name store; None: a book
    in memory); ``stores`` gives every store at once instead (a shared store, or a test's
    network of registries). ``presence_all_below``: while fewer are online, every client is
    told about everyone (``--presence-all-below``).

    ``relay_hub`` is the relay: a hub, used as it is (its own settings rule, not the ``relay*``
    arguments), or what makes one from the ``relay*`` arguments (:class:`RelayHub` itself, or a
    subclass). A subclass overriding :meth:`RelayHub.forward` lets a test tamper with, drop or
    replay relayed bytes; the hub in use is :attr:`relay_hub`.

    ``ws=(host, port)`` also listens for WebSocket on the path ``/chinwag`` (:attr:`ws_address`).
    ``trusted_proxies`` (CIDR strings such as ``"10.0.0.0/8"``): reverse proxies whose last
    ``X-Forwarded-For`` hop is taken as the client's address; from anyone else the header is
    ignored. The caps (``max_connections``, ``max_per_host``, ``max_handshakes``,
    ``max_handshakes_per_address``, ``max_keys_per_address``) count both listeners together;
    a handshake younger than ``handshake_grace`` seconds is never evicted.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        heartbeat_interval: float = 5.0,
        idle_timeout: float = 15.0,
        max_frame: int = MAX_REQUEST_FRAME,
        max_write_buffer: int = MAX_WRITE_BUFFER,
        names: NameBook | NameStore | None = None,
        stores: Stores | None = None,
        presence_all_below: int = PRESENCE_ALL_BELOW,
        max_rate: float = MAX_REQUEST_RATE,
        max_connections: int = MAX_CONNECTIONS,
        max_per_host: int = MAX_CONNECTIONS_PER_HOST,
        max_handshakes: int = MAX_HANDSHAKES,
        max_handshakes_per_address: int = MAX_HANDSHAKES_PER_ADDRESS,
        max_keys_per_address: int = MAX_KEYS_PER_ADDRESS,
        handshake_grace: float = HANDSHAKE_GRACE,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        register_timeout: float = REGISTER_TIMEOUT,
        ws: tuple[str, int] | None = None,
        trusted_proxies: Sequence[str] = (),
        max_new_names_per_minute: int = MAX_NEW_NAMES_PER_MINUTE,
        security: Security,
        probe: bool = True,
        probe_timeout: float = PROBE_TIMEOUT,
        probe_interval: float = PROBE_INTERVAL,
        probe_cache_seconds: float = PROBE_CACHE_SECONDS,
        max_concurrent_probes: int = MAX_CONCURRENT_PROBES,
        max_probes_per_address_per_minute: int = PROBES_PER_ADDRESS_PER_MINUTE,
        reprobe_after: float | None = REPROBE_AFTER,
        reprobe_max: float = REPROBE_MAX,
        relay: bool = True,
        relay_rate: float = DEFAULT_RELAY_RATE,
        relay_burst: float | None = None,
        relay_sessions: int = MAX_RELAY_SESSIONS_PER_CLIENT,
        relay_sessions_per_target: int = MAX_RELAY_SESSIONS_PER_TARGET,
        max_relay_sessions: int = MAX_RELAY_SESSIONS,
        relay_join_timeout: float = RELAY_JOIN_TIMEOUT,
        relay_idle_timeout: float = RELAY_IDLE_TIMEOUT,
        relay_sessions_per_address: int = MAX_RELAY_SESSIONS_PER_ADDRESS,
        relay_unjoined_per_address: int = MAX_UNJOINED_PER_ADDRESS,
        relay_rate_per_address: float | None = None,
        relay_memory: int = RELAY_MEMORY,
        relay_hub: RelayHub | Callable[[RelaySettings], RelayHub] = RelayHub,
    ) -> None:
        if heartbeat_interval <= 0 or idle_timeout <= heartbeat_interval:
            raise ValueError("need 0 < heartbeat_interval < idle_timeout")
        super().__init__()
        self._host = host
        self._port = port
        self.heartbeat_interval = heartbeat_interval
        self.idle_timeout = idle_timeout
        self.max_frame = max_frame
        self.max_write_buffer = max_write_buffer
        self.max_rate = max_rate
        self.max_connections = max_connections
        self.max_per_host = max_per_host
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] | None = None
        self._ws = ws
        self._trusted = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in trusted_proxies)
        self._ws_listener: WsListener | None = None
        self.security = security
        self.handshake_timeout = handshake_timeout
        self.register_timeout = register_timeout
        self.max_new_names_per_minute = max_new_names_per_minute
        prober = (
            Prober(
                security,
                timeout=probe_timeout,
                max_concurrent=max_concurrent_probes,
                cache_seconds=probe_cache_seconds,
            )
            if probe
            else None
        )
        self.reachability = ReachabilityDesk(
            prober,
            probe_interval,
            per_address_per_minute=max_probes_per_address_per_minute,
            reprobe_after=reprobe_after,
            reprobe_max=reprobe_max,
        )
        relay_settings = RelaySettings(
            enabled=relay,
            rate=relay_rate,
            burst=relay_burst,
            sessions_per_client=relay_sessions,
            sessions_per_target=relay_sessions_per_target,
            max_sessions=max_relay_sessions,
            join_timeout=relay_join_timeout,
            idle_timeout=relay_idle_timeout,
            sessions_per_address=relay_sessions_per_address,
            unjoined_per_address=relay_unjoined_per_address,
            address_rate=relay_rate_per_address,
            max_buffered=relay_memory,
        )
        self.relay_hub = relay_hub if isinstance(relay_hub, RelayHub) else relay_hub(relay_settings)
        if stores is None:
            store = names if names is not None else NameBook()
            stores = embedded_stores(NameBookStore(store) if isinstance(store, NameBook) else store)
        self.core = RegistryCore(
            stores,
            self.relay_hub,
            presence_all_below=presence_all_below,
            max_new_names_per_minute=max_new_names_per_minute,
        )
        self.caps = ConnectionCaps(
            CapLimits(
                max_connections,
                max_per_host,
                max_handshakes,
                max_handshakes_per_address,
                max_keys_per_address,
                handshake_grace,
            ),
            self.core.stats,
            RefusalLog(lambda delay, then: asyncio.get_running_loop().call_later(delay, then)),
            lambda: asyncio.get_running_loop().time(),
        )
        """What both listeners count into; refusals in the log (one line per 10 s at most)."""
        self.reachability.on_probed = self.core.probed
        self.reachability.stats = self.relay_hub.stats = self.core.stats
        self.core.stats.errors = ERRORS_MADE
        self.dispatcher = Dispatcher(self.core, self.reachability, CapsGate(self.caps))
        self._welcome = encode(
            dump(
                Welcome(
                    version=PROTOCOL_VERSION,
                    heartbeat_interval=heartbeat_interval,
                    idle_timeout=idle_timeout,
                    max_frame=max_frame,
                    versions=list(REGISTER_VERSIONS),
                )
            )
        )
        self.prologue = PROLOGUE + self._welcome

    async def start(self) -> tuple[str, int]:
        """Listen; return the real bound address. Raises ``AddressInUse`` if the port is taken."""
        if self._server is not None:
            raise RuntimeError("the registry server is already started")
        await self.core.start()
        self._server, self._address = await listen(lambda: Connection(self), self._host, self._port)
        if self._ws is not None:
            listener = WsListener(
                lambda: Connection(self),
                *self._ws,
                handshake_timeout=self.handshake_timeout,
                trusted_proxies=self._trusted,
                caps=self.caps,
            )
            try:
                await listener.start()
            except BaseException:
                self._server.close()
                self._server = None
                raise
            self._ws_listener = listener
        return self._address

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``; only once :meth:`start` returned."""
        if self._address is None:
            raise RuntimeError("the registry server is not started")
        return self._address

    @property
    def ws_address(self) -> tuple[str, int]:
        """The bound WebSocket ``(host, port)``; only once :meth:`start` returned, with ``ws``."""
        if self._ws_listener is None:
            raise RuntimeError("the registry server does not listen for WebSocket")
        return self._ws_listener.address

    def online(self) -> frozenset[str]:
        """The names registered now."""
        return frozenset(self.core.clients.names())

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
        ws, self._ws_listener = self._ws_listener, None
        if server is not None:
            server.close()
        # Nobody is leaving: the registry is. Telling the clients still connected that the
        # others went offline would make them refuse to message peers they can still reach.
        await self.core.close()
        self.relay_hub.close()
        await self._close_connections()
        if ws is not None:
            await ws.close()
        if server is not None:
            await server.wait_closed()
