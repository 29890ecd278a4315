"""Whom a presence change is told to: the fan-out.

:class:`~chinwag.application.registry.watch.WatchIndex` maps each name to the sessions of this
registry watching it, so a change of one name costs its watchers and never everyone online.
:class:`PresenceFanOut` takes every change (this registry's own, from the use cases, and the
others' from the bus), keeps what it knows of the names it hears (online, and as which epoch),
drops repeats and stale leaves, and notes each real change in the outbox
(:mod:`~chinwag.application.registry.outbox`) of every session told about that name: its
watchers, every legacy (version 2) session, and every session while few are online
(:class:`~chinwag.domain.registry.presence.PresenceMode`). Once a second it reads the online
count; a mode change (at most one per :data:`MODE_SWITCH_EVERY`) sends each watching session its
whole ``presence``.

What it knows is what it hears: the names someone here watches (followed on the bus from the
first watcher to the last) and, while the registry hears every change (EVERYONE mode, or a
legacy session here), every name, seeded from the store when hearing starts. A name it does not
know is offline. That knowledge is the presence set of every session (:meth:`presence_of`),
with no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from chinwag.application.registry.outbox import PresenceOutboxes
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.presence_bus import PresenceBus
from chinwag.application.registry.ports.presence_store import PresenceStore
from chinwag.application.registry.ports.ticker import Handle, Ticker
from chinwag.application.registry.sessions import ClientSession, LocalClients
from chinwag.application.registry.stats import RegistryStats
from chinwag.application.registry.watch import WatchIndex
from chinwag.domain.registry.presence import (
    MODE_CHECK_EVERY,
    MODE_SWITCH_EVERY,
    OnlineEntry,
    PresenceChange,
    PresenceMode,
    next_mode,
)

log = logging.getLogger(__name__)

SNAPSHOT_LIMIT = 100_000
"""Names in a whole ``presence`` of everyone online (a legacy session's when many are; about
3 MB, within the client's 4 MiB frame)."""
PRESENCE_ALL_BELOW = 500
"""The default of ``--presence-all-below``: below it, everyone is told every change."""

Spawn = Callable[[Coroutine[Any, Any, None]], object]
"""Runs a coroutine on its own (the ticker's callbacks cannot await)."""


class _Window:
    """Names that changed while a store read was on its way (the read may predate them)."""

    __slots__ = ("changed",)

    def __init__(self) -> None:
        self.changed: set[str] = set()


_running: set[asyncio.Future[None]] = set()
"""Checks and resyncs running as tasks (held, so none is collected mid-way)."""


def _spawn(coro: Coroutine[Any, Any, None]) -> object:
    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


class PresenceFanOut:
    """Every presence change, told to exactly the sessions that should hear it."""

    def __init__(
        self,
        clients: LocalClients,
        index: WatchIndex,
        outboxes: PresenceOutboxes,
        presence: PresenceStore,
        bus: PresenceBus,
        ticker: Ticker,
        stats: RegistryStats,
        below: int = PRESENCE_ALL_BELOW,
        spawn: Spawn = _spawn,
    ) -> None:
        if below < 1:
            raise ValueError("presence_all_below must be at least 1")
        self.clients = clients
        self.index = index
        self.outboxes = outboxes
        self.presence = presence
        self.bus = bus
        self.ticker = ticker
        self.stats = stats
        self.below = below
        self.mode = PresenceMode.EVERYONE
        self._spawn = spawn
        self._online: dict[str, str | None] = {}
        """Names heard online, with the epoch holding them (None: seeded from a read that
        gave no epoch)."""
        self._all = False
        """Whether every change is heard (the bus follows all)."""
        self._windows: list[_Window] = []
        self._switched_at = float("-inf")
        self._timer: Handle | None = None
        self._checking = False
        stats.presence_mode = self.mode.value

    # -- life ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the mode the online count asks for (no hysteresis yet), hear what it needs,
        and check the count every :data:`MODE_CHECK_EVERY` from now on."""
        try:
            count = await self.presence.count()
        except StoreUnavailable:
            count = 0
        self._set_mode(
            PresenceMode.WATCHED if count >= self.below else PresenceMode.EVERYONE, switched=False
        )
        if self.mode is PresenceMode.EVERYONE or self.clients.legacy():
            try:
                await self._hear_everything()
            except StoreUnavailable:
                log.warning("presence store away at start: everyone's changes wait for it")
        self._timer = self.ticker.later(MODE_CHECK_EVERY, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = self.ticker.later(MODE_CHECK_EVERY, self._tick)
        if not self._checking:
            self._checking = True
            self._spawn(self.check())

    async def check(self) -> None:
        """Read the online count; switch the mode if it asks for another (at most once per
        :data:`MODE_SWITCH_EVERY`), and hear every change exactly while that is needed."""
        try:
            count = await self.presence.count()
            wanted = next_mode(self.mode, count, self.below)
            if (
                wanted is not self.mode
                and self.ticker.monotonic() - self._switched_at >= MODE_SWITCH_EVERY
            ):
                await self._switch(wanted)
            needed = self.mode is PresenceMode.EVERYONE or bool(self.clients.legacy())
            if needed and not self._all:
                await self._hear_everything()
            elif self._all and not needed:
                await self._hear_watched()
        except StoreUnavailable as exc:
            log.warning("presence check skipped: %s", exc)
        finally:
            self._checking = False

    # -- changes ---------------------------------------------------------------------------

    def local(self, change: PresenceChange) -> None:
        """A change made by this registry (a ``register``, a leave), once the store took it."""
        self._apply(change, "local")

    def heard(self, change: PresenceChange) -> None:
        """A change from the bus (the bus listener). This registry's own come back from a
        shared store's bus too: :meth:`local` took them already."""
        if change.registry == self.clients.registry:
            return
        self._apply(change, "bus")

    def _apply(self, change: PresenceChange, source: str) -> None:
        name = change.name
        if not (self._all or self.index.follows(name)):
            return  # nobody here is told about it
        online = self._online
        if change.online:
            if name in online:  # signed in again (replaced): no change for anybody
                online[name] = change.epoch
                return
            online[name] = change.epoch
        else:
            if name not in online:
                return  # told already
            known = online[name]
            if known is not None and known != change.epoch:
                return  # an older sign-in's leave: the newer one holds the name
            del online[name]
        self.stats.presence_changes[source] += 1
        for window in self._windows:
            window.changed.add(name)
        skip = self.clients.holding(name, change.epoch) if change.online else None
        self._tell(name, change.online, skip)

    def _tell(self, name: str, online: bool, skip: ClientSession | None) -> None:
        outboxes = self.outboxes
        if self.mode is PresenceMode.EVERYONE:
            recipients: Iterable[ClientSession] = self.clients.sessions()
        else:
            recipients = self.index.watchers(name)
        for session in recipients:
            if session is not skip and not session.closed:
                outboxes.of(session).note(name, online)
        if self.mode is PresenceMode.WATCHED:
            for session in self.clients.legacy():
                if session is not skip and not session.closed:
                    outboxes.of(session).note(name, online)

    # -- what is known ---------------------------------------------------------------------

    def is_online(self, name: str) -> bool:
        """Whether ``name`` is online, as far as this registry hears it."""
        return name in self._online

    def presence_of(self, session: ClientSession) -> list[str]:
        """``session``'s whole presence set, sorted: itself, the names it watches online, and
        everyone online while everyone is told (always, for a legacy session)."""
        if self.mode is PresenceMode.EVERYONE or session.legacy:
            names = set(self._online)
        elif session.watched:
            names = {name for name in session.watched if name in self._online}
        else:
            names = set()
        if session.registration is not None:
            names.add(session.registration.name)
        return sorted(names)

    async def snapshot(self, session: ClientSession) -> list[str]:
        """:meth:`presence_of` for a session that just registered (or asked ``who``): a legacy
        one first makes this registry hear everyone. What its outbox held is in the set, so it
        is forgotten: the caller sends the set before anything else is pushed. Raises
        StoreUnavailable if it cannot."""
        if session.legacy and not self._all:
            await self._hear_everything()
        if session.outbox is not None:
            session.outbox.clear()
        return self.presence_of(session)

    def window(self) -> _Window:
        """Collect the names that change from now on, until :meth:`close_window` (a store read
        on its way may be older than them)."""
        window = _Window()
        self._windows.append(window)
        return window

    def close_window(self, window: _Window) -> None:
        self._windows.remove(window)

    def reconcile(self, names: Iterable[str], entries: Mapping[str, OnlineEntry]) -> None:
        """A store read says of ``names`` that those in ``entries`` are online and the others
        are not: where that differs from what is known, the sessions told about them are told
        (a change missed while the bus was away, or a name newly followed)."""
        for name in names:
            if not (self._all or self.index.follows(name)):
                continue
            entry = entries.get(name)
            if entry is not None:
                self._settle(name, True, entry.epoch)
            elif not self._held_here(name):
                self._settle(name, False, None)

    def _held_here(self, name: str) -> bool:
        """Whether a session of this registry holds ``name``: online whatever a store read
        says (a store that lost this registry's names gets them republished)."""
        session = self.clients.get(name)
        return session is not None and session.registration is not None and not session.closed

    def _settle(self, name: str, online: bool, epoch: str | None) -> None:
        was = name in self._online
        if online:
            self._online[name] = epoch
        elif was:
            del self._online[name]
        if was != online:
            self.stats.presence_changes["resync"] += 1
            for window in self._windows:
                window.changed.add(name)
            self._tell(name, online, None)

    def forget(self, names: Iterable[str]) -> None:
        """``names`` are no longer followed: unless every change is heard, what is known of
        them would go stale."""
        if self._all:
            return
        for name in names:
            if not self.index.follows(name):
                self._online.pop(name, None)

    async def unfollow(self, names: list[str]) -> None:
        """Stop hearing ``names``, no longer followed here (their last watcher is gone). If
        the bus cannot say so now, their changes still come and are dropped: nobody follows."""
        if not names:
            return
        self.forget(names)
        with contextlib.suppress(StoreUnavailable):
            await self.bus.unfollow(names)

    def on_resync(self) -> None:
        """The bus listener's ``on_resync``: changes may have been missed."""
        self._spawn(self.resync())

    async def resync(self) -> None:
        """Read again every name heard (every name online, while all are) and tell the
        differences, after the bus came back from a loss."""
        window = self.window()
        try:
            names = self.index.followed() | set(self._online)
            if self._all:
                names.update(await self.presence.everyone(SNAPSHOT_LIMIT))
            entries = await self.presence.get_many(sorted(names))
        except StoreUnavailable as exc:
            log.warning("presence resync failed: %s", exc)
            return
        finally:
            self.close_window(window)
        self.reconcile((name for name in names if name not in window.changed), entries)

    # -- modes -----------------------------------------------------------------------------

    def _set_mode(self, mode: PresenceMode, switched: bool = True) -> None:
        self.mode = mode
        self.stats.presence_mode = mode.value
        if switched:
            self._switched_at = self.ticker.monotonic()

    async def _switch(self, mode: PresenceMode) -> None:
        """Tell everyone from now on, or only the watchers; every watching session gets its
        whole new ``presence`` (whatever it had pending is in it)."""
        if mode is PresenceMode.EVERYONE and not self._all:
            await self._hear_everything()
        self._set_mode(mode)
        log.info("presence mode %s (%d names known online)", mode.value, len(self._online))
        for session in list(self.clients.sessions()):
            if session.legacy or session.closed:
                continue  # a legacy session is told everyone in either mode
            if session.outbox is not None:
                session.outbox.clear()
            session.client.presence(self.presence_of(session))

    async def _hear_everything(self) -> None:
        """Hear every change from now on, and learn who is online now."""
        self._all = True
        window = self.window()
        try:
            await self.bus.follow_all(True)
            names = await self.presence.everyone(SNAPSHOT_LIMIT)
        except StoreUnavailable:
            self._all = False
            self.forget(list(self._online))
            raise
        finally:
            self.close_window(window)
        # A name followed here was known, and its watchers told: a difference is news to
        # them. Any other was not heard until now: learnt quietly (whoever is told about it
        # from now on gets a whole `presence` first).
        fresh = set(names)
        for name in names:
            if name in window.changed or name in self._online:
                continue
            if self.index.follows(name):
                self._settle(name, True, None)
            else:
                self._online[name] = None
        if len(names) < SNAPSHOT_LIMIT:  # the whole set: names not in it are offline
            for name in [name for name in self._online if name not in fresh]:
                if name not in window.changed and not self._held_here(name):
                    self._settle(name, False, None)

    async def _hear_watched(self) -> None:
        """Hear only the names watched here from now on."""
        self._all = False
        self.forget(list(self._online))
        try:
            await self.bus.follow_all(False)
        except StoreUnavailable as exc:
            log.warning("could not stop hearing everyone: %s", exc)
