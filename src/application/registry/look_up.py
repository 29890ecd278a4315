"""``lookup``: where a name is online, or why it cannot be reached (offline, or nobody by that
name ever signed in). From ``adapters/registry/registrar.py`` (251-288).

Anyone registered may look up anyone (the dispatcher checks the registration; a name's address
is no secret from those who may message it). A name held here is answered from
:class:`LocalClients` without I/O; any other from the presence store, and only then, if it is
offline, the name store tells ``offline`` from ``unknown_user``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import NameStore
from chinwag.application.registry.ports.presence_store import PresenceStore
from chinwag.application.registry.sessions import LocalClients
from chinwag.application.registry.stats import RegistryStats
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.registry.presence import OnlineEntry
from chinwag.domain.registry.refusals import Refusal, RefusalCode
from chinwag.domain.user import normalize_username

log = logging.getLogger(__name__)

CANNOT_LOOK_UP = Refusal(RefusalCode.BUSY, "the registry cannot look names up now; try again later")


@dataclass(frozen=True, slots=True)
class LookedUp:
    """A ``found``: the name's entry (its key, where it listens, what the probe found) and
    whether this registry relays (the asker may ask it to, if it cannot connect)."""

    entry: OnlineEntry
    relay: bool


class LookUp:
    """Answer ``lookup`` (:meth:`execute`); :meth:`find` is the same search for the other use
    cases that need a name's entry (a relay offer)."""

    def __init__(
        self,
        clients: LocalClients,
        presence: PresenceStore,
        names: NameStore,
        stats: RegistryStats,
        relay: bool,
    ) -> None:
        self._clients = clients
        self._presence = presence
        self._names = names
        self._stats = stats
        self._relay = relay

    async def execute(self, user: str) -> LookedUp | Refusal:
        """``user``'s entry and the relay flag, or why not."""
        found = await self.find(user)
        if isinstance(found, Refusal):
            self._stats.lookups[found.code.value] += 1
            return found
        self._stats.lookups["found"] += 1
        return LookedUp(found, self._relay)

    async def find(self, user: str) -> OnlineEntry | Refusal:
        """The entry of ``user`` (online now, here or on another registry of the network), or
        the refusal saying why not."""
        clients = self._clients
        session = clients.get(user)  # a name as registered needs no normalising
        name = user
        if session is None:
            try:
                name = normalize_username(user)
            except InvalidUsername as exc:
                return Refusal(RefusalCode.INVALID_USERNAME, str(exc))
            session = clients.get(name)
        if session is not None and session.registration is not None:
            return clients.entry(session)
        try:
            entry = await self._presence.get(name)
            # An entry of this registry's that it does not hold is a leave not written yet.
            if entry is not None and entry.registry != clients.registry:
                return entry
            known = self._names.cached_key(name) is not None or await self._names.known(name)
        except StoreUnavailable as exc:
            log.warning("could not look %s up: %s", name, exc)
            return CANNOT_LOOK_UP
        if known:
            return Refusal(RefusalCode.OFFLINE, f"{name} is offline")
        return Refusal(RefusalCode.UNKNOWN_USER, f"nobody called {user} has ever signed in here")
