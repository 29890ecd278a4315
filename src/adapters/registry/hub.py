"""The registry's open connections, as they come, change and go: the half of
:class:`~chinwag.adapters.registry.server.RegistryServer` that connections call (the other half
listens and holds the settings). A new connection is counted by the caps and welcomed (or told
``busy``); its frames queued in a loop pass are flushed together at its end; a connection that
closes leaves presence once (the use cases' leave may wait for a shared store: its task is kept
until done); the metrics read the census.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

from chinwag.adapters.registry.connection import Connection
from chinwag.adapters.registry.dispatch import Dispatcher
from chinwag.adapters.registry.frames import error_frame
from chinwag.adapters.registry.limits import ConnectionCaps
from chinwag.adapters.registry.protocol import ErrorCode
from chinwag.adapters.registry.reachability import ReachabilityDesk
from chinwag.adapters.registry.relay import RelayHub
from chinwag.domain.registry.addresses import address_group

log = logging.getLogger("chinwag.adapters.registry.server")


class ConnectionHub:
    """Every open connection of one registry (the server sets the attributes below)."""

    caps: ConnectionCaps
    dispatcher: Dispatcher
    reachability: ReachabilityDesk
    relay_hub: RelayHub
    _welcome: bytes

    def __init__(self) -> None:
        self._connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        """Each connection's watch, until it ends."""
        self._dirty: list[Connection] = []
        self._leaving: set[asyncio.Task[Any]] = set()
        """Leaves still waiting for the store."""

    def connection_states(self) -> dict[tuple[str, str], int]:
        """Open connections by (transport, state): ``tcp``/``ws``, and ``handshake``, ``open``
        (authenticated), ``registered`` or ``relay_leg``. For the metrics' scrape thread: the
        set is copied in one step (``list`` of a set runs without releasing the GIL), and
        each connection's state is read as it is then."""
        states: Counter[tuple[str, str]] = Counter()
        for connection in list(self._connections):
            if connection.leg is not None:
                state = "relay_leg"
            elif connection.session is None:
                state = "handshake"
            elif connection.registration is not None:
                state = "registered"
            else:
                state = "open"
            states[connection.transport_name, state] += 1
        return dict(states)

    @property
    def connection_count(self) -> int:
        """How many connections are open, registered or not (relay legs included)."""
        return len(self._connections)

    async def _close_connections(self) -> None:
        """Close every connection; return once their watches and leaves are done."""
        for connection in list(self._connections):
            connection.close(why="the registry is shutting down")
        await self.reachability.close()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._leaving:
            await asyncio.wait(self._leaving)

    # -- called by connections ---------------------------------------------------------------

    def _attach(self, connection: Connection) -> None:
        self._connections.add(connection)
        task = asyncio.get_running_loop().create_task(connection.watch())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # A WebSocket was counted at its accept; a TCP connection is counted now.
        if connection.slot is connection and self.caps.admit(
            connection, connection.transport_name, address_group(connection.peer_ip)
        ):
            connection.close(
                error_frame(ErrorCode.BUSY, "too many connections; try again later"), "busy"
            )
            return
        connection.send(self._welcome)

    def _detach(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if connection.slot is connection:
            self.caps.release(connection)
        self.gone(connection, "disconnected")
        self.reachability.forget(connection)
        if connection.leg is not None:
            self.relay_hub.lost(connection.leg)

    def _mark_dirty(self, connection: Connection) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self._flush_dirty)
        self._dirty.append(connection)

    def _flush_dirty(self) -> None:
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            connection.flush()

    def gone(self, connection: Connection, why: str) -> None:
        """``connection`` is closing or closed: its name goes offline, once (``why`` is for
        the log)."""
        try:
            tasks = self.dispatcher.gone(connection, why)
        except Exception:  # a store's bug must not stop a connection from closing
            log.exception("the leave of %s failed", connection.peer)
            return
        for task in tasks:
            self._leaving.add(task)
            task.add_done_callback(self._left)

    def _left(self, task: asyncio.Task[Any]) -> None:
        self._leaving.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a leave failed", exc_info=task.exception())
