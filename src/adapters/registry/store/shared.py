"""What a store shared by several registries (Redis) needs while one of them serves, beside the
use cases: the registry's liveness in it, its entries joined again whenever the store lost them,
the bus's own connection, and cached bindings forgotten on an operator's release.

Each need is a small protocol that the Redis adapters meet and the embedded stores do not, so
:class:`SharedStoreLife` does nothing for a registry alone (its stores have no liveness, no
connection and no cache that another registry could make stale).

- **Liveness**: names in the shared store expire with their registry, so
  :meth:`SharedPresence.keep_alive` (heartbeats, and the sweep of dead registries) runs while
  the registry serves; the first heartbeat is awaited at start, so that the first sign-in
  here is seen by the others.
- **Republish**: when the store lost this registry (``on_gone``: a Redis that came back empty,
  a pause longer than its timeout) and whenever the bus came back from a loss (a Redis
  restarted after a crash may have lost the last second of joins while keeping the registry's
  key), every local registration is joined again, epochs kept. A republish is idempotent (an
  entry already there is not published again), retried until Redis answers, and coalesced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import NameStore
from chinwag.application.registry.ports.presence_bus import PresenceBus
from chinwag.application.registry.ports.presence_store import PresenceStore
from chinwag.application.registry.sessions import LocalClients

log = logging.getLogger(__name__)

RETRY_FIRST = 0.1
RETRY_MAX = 2.0
"""Seconds between two tries of a republish that met a store still away (doubling)."""
BUS_START_TIMEOUT = 10.0
"""Seconds a shared bus may take to subscribe at start before the registry gives up."""


@runtime_checkable
class SharedPresence(Protocol):
    """A presence store shared with other registries: names expire with this registry unless
    :meth:`keep_alive` runs; ``on_gone`` is called when the store had lost this registry."""

    on_gone: Callable[[], None] | None

    async def heartbeat(self) -> None: ...

    async def keep_alive(self) -> None: ...


@runtime_checkable
class ConnectedBus(Protocol):
    """A bus with a connection of its own: started before serving, closed after."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class CachingNames(Protocol):
    """A name store caching bindings that a release on another registry makes stale."""

    def forget(self, name: str) -> None: ...


class SharedStoreLife:
    """The run time of ``presence``, ``bus`` and ``names`` for the registry of ``clients``
    (see the module); :meth:`start` before serving, :meth:`close` after."""

    def __init__(
        self,
        presence: PresenceStore,
        bus: PresenceBus,
        names: NameStore,
        clients: LocalClients,
    ) -> None:
        self.presence = presence
        self.bus = bus
        self.names = names
        self.clients = clients
        self.shared = isinstance(presence, SharedPresence)
        """Whether the presence store is shared (then its entries are republished)."""
        self._keeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._republishing = False
        self._again = False
        self._then: list[Callable[[], None]] = []
        self._closing = False
        self._unrecorded: dict[tuple[str, str], None] = {}
        """Leaves (name, epoch) the store did not take: tried again until it does."""
        self._leaving = False

    async def start(self) -> None:
        """Count as alive in the shared store and keep so; start the bus's connection. Raises
        StoreUnavailable if the store cannot be reached."""
        presence = self.presence
        if isinstance(presence, SharedPresence):
            presence.on_gone = self.republish
            await presence.heartbeat()
            self._keeper = asyncio.get_running_loop().create_task(
                presence.keep_alive(), name=f"keep-alive-{self.clients.registry}"
            )
            self._keeper.add_done_callback(_ended)
        if isinstance(self.bus, ConnectedBus):
            try:
                async with asyncio.timeout(BUS_START_TIMEOUT):
                    await self.bus.start()
            except TimeoutError:
                raise StoreUnavailable(
                    f"the presence bus did not subscribe within {BUS_START_TIMEOUT:g} s"
                ) from None

    async def close(self) -> None:
        """Stop the liveness (this registry's names expire with it, as for a kill: nobody is
        leaving, the registry is) and whatever is under way; close the bus's connection."""
        self._closing = True
        tasks = [task for task in (self._keeper, *self._tasks) if task is not None]
        self._keeper = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if isinstance(self.bus, ConnectedBus):
            await self.bus.close()

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold ``task`` until it ends (cancelled at :meth:`close`)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def leave_later(self, name: str, epoch: str) -> None:
        """The store could not take ``name``'s leave (of ``epoch``) now: try again, backing
        off, until it does. A leave only ends its own epoch, so a later sign-in of the name
        is never undone by it."""
        self._unrecorded[name, epoch] = None
        if not self._leaving and not self._closing:
            self._leaving = True
            self.keep(asyncio.get_running_loop().create_task(self._leave_unrecorded()))

    async def _leave_unrecorded(self) -> None:
        delay = RETRY_FIRST
        try:
            while self._unrecorded and not self._closing:
                await asyncio.sleep(delay)
                for name, epoch in list(self._unrecorded):
                    try:
                        await self.presence.leave(name, epoch)
                    except StoreUnavailable:
                        delay = min(2 * delay, RETRY_MAX)
                        break
                    del self._unrecorded[name, epoch]
                    log.info("recorded at last that %s left", name)
        finally:
            self._leaving = False

    def released(self, name: str) -> None:
        """The operator released ``name`` (on any registry): forget its cached binding."""
        if isinstance(self.names, CachingNames):
            self.names.forget(name)

    def resynced(self, then: Callable[[], None]) -> None:
        """The bus came back from a loss: a shared store may have lost entries meanwhile, so
        republish them, and only then call ``then`` (the fan-out's resync: read before, this
        registry's own names would read as gone, and its own joins are not heard back)."""
        if self.shared:
            self.republish(then)
        else:
            then()

    def republish(self, then: Callable[[], None] | None = None) -> None:
        """Join every registration of this registry again, epochs kept, until the store took
        them (once more if asked again meanwhile); then call ``then``."""
        if self._closing:
            return
        if then is not None:
            self._then.append(then)
        if self._republishing:
            self._again = True
            return
        self._republishing = True
        self.keep(asyncio.get_running_loop().create_task(self._republish()))

    async def _republish(self) -> None:
        delay = RETRY_FIRST
        clients = self.clients
        try:
            while not self._closing:
                self._again = False
                entries = [clients.entry(session) for session in list(clients.sessions())]
                try:
                    await self.presence.republish(entries)
                except StoreUnavailable as exc:
                    log.warning("republishing %d names failed (%s); again soon", len(entries), exc)
                    await asyncio.sleep(delay)
                    delay = min(2 * delay, RETRY_MAX)
                    continue
                log.info("republished %d names of registry %s", len(entries), clients.registry)
                if not self._again:
                    break
        finally:
            self._republishing = False
        then, self._then = self._then, []
        for done in then:
            try:
                done()
            except Exception:
                log.exception("what follows a republish failed")


def _ended(task: asyncio.Task[None]) -> None:
    """The liveness must run until the registry stops: say so if it died."""
    if not task.cancelled() and task.exception() is not None:
        log.error("this registry's liveness in the shared store stopped", exc_info=task.exception())
