"""A name leaves: ``unregister`` (:class:`Unregister`), or its connection went away
(:class:`Disconnect`). From ``adapters/registry/registrar.py`` (241-249).

The session stops holding the name here at once (before any await: a lookup in the same pass
no longer finds it), then the presence store takes it offline for that sign-in's epoch only, so
a late leave never undoes a newer sign-in, and publishes the leave itself; this registry's own
fan-out is told too (even if the store is away: the sessions here are still served).

A registry shutting down leaves nothing: nobody is leaving, the registry is. Telling the clients
still connected that the others went offline would make them refuse to message peers they can
still reach (and over a shared store, a registry that stops does what one that died does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.presence_store import PresenceStore
from chinwag.application.registry.sessions import ClientSession, LocalClients
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.registry.presence import PresenceChange

log = logging.getLogger(__name__)


class LocalChanges(Protocol):
    """This registry's presence fan-out, as a leave tells it (``PresenceFanOut`` is one)."""

    def local(self, change: PresenceChange) -> None: ...


class _Leaving:
    """What both ways of leaving share."""

    def __init__(
        self,
        clients: LocalClients,
        presence: PresenceStore,
        stats: RegistryStats,
        fanout: LocalChanges | None = None,
        later: Callable[[str, str], None] | None = None,
    ) -> None:
        self._clients = clients
        self._presence = presence
        self._stats = stats
        self._fanout = fanout
        self._later = later
        """Told a leave the store could not take now (name, epoch): it tries again, so the
        name does not stay online elsewhere while its registry lives."""

    async def _leave(self, session: ClientSession, why: str, publish: bool) -> bool:
        registration = session.registration
        if registration is None:
            return False
        held = self._clients.remove(session)
        session.registration = None
        self._stats.registered_clients = len(self._clients)
        self._stats.legacy_clients = len(self._clients.legacy())
        if not held:  # replaced by a newer sign-in of its name, which stays online
            return False
        log.info("%s left (%s)", registration.name, why)
        if not publish:
            return True
        name, epoch = registration.name, registration.epoch
        try:
            left = await self._presence.leave(name, epoch)
        except StoreUnavailable as exc:
            log.warning("could not record that %s left (tried again later): %s", name, exc)
            left = True  # for the sessions here it did
            if self._later is not None:
                self._later(name, epoch)
        if left and self._fanout is not None:
            self._fanout.local(PresenceChange(name, False, epoch, self._clients.registry))
        return True


class Unregister(_Leaving):
    """``unregister``: the session's name goes offline; the connection stays and may register
    again (with the names it tried already, or new ones up to its limit)."""

    async def execute(self, session: ClientSession) -> bool:
        """Whether a name went offline (False: the session held none any more)."""
        return await self._leave(session, "unregistered", publish=True)


class Disconnect(_Leaving):
    """A connection is gone (closed, dropped, idle, refused...): its session is closed, so a
    use case still awaiting for it does not act on it, and its name goes offline unless the
    registry is shutting down."""

    shutting_down = False
    """Set (on the instance) by the server once it closes: connections closed from then on
    leave silently."""

    async def execute(self, session: ClientSession, why: str = "disconnected") -> bool:
        """Whether a name went offline with it (``why`` is for the log)."""
        session.closed = True
        return await self._leave(session, why, publish=not self.shutting_down)
