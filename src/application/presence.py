"""Presence goes to the user, to the courier (which sends to whoever comes online), to the
group sync (which hands a member who comes online what it missed, and asks it for what we
missed), to the transfers engine (which sends notices and goes on pulling files from whoever
comes online), and to the note of when each person was last seen leaving (the doctor's
"offline since …")."""

from __future__ import annotations

from datetime import datetime

from chinwag.application.delivery import Courier
from chinwag.application.files.engine import Transfers
from chinwag.application.groups.sync import GroupSync
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.events import ChatEvents

MAX_REMEMBERED = 10_000
"""People whose departure is remembered (the oldest are forgotten): presence lists come from
the registry, and a registry with many users must not make the client hold them all forever."""


class LastSeen:
    """When each person was last seen going offline, in memory only (this run).

    Only a departure seen while the registry connection was up counts: when the connection is
    lost, the list empties or goes stale, and that says nothing about anybody.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._online: frozenset[str] | None = None
        self._left: dict[str, datetime] = {}
        self._connected = True

    def presence(self, online: frozenset[str]) -> None:
        before, self._online = self._online, online
        if before is None or not self._connected:
            return
        now = self._clock.now()
        for name in before - online:
            self._left.pop(name, None)
            self._left[name] = now
        for name in online:
            self._left.pop(name, None)
        while len(self._left) > MAX_REMEMBERED:
            del self._left[next(iter(self._left))]

    def registry(self, status: RegistryStatus) -> None:
        connected = status is RegistryStatus.CONNECTED
        if connected and not self._connected:
            self._online = None  # the first list after reconnecting is a new start
        self._connected = connected

    def since(self, name: str) -> datetime | None:
        """When ``name`` was seen leaving, if they were, and have not come back since."""
        return self._left.get(name)

    def now(self) -> datetime:
        return self._clock.now()


class PresenceRelay:
    """The ``DirectoryListener`` given to the registry client at sign-in."""

    def __init__(
        self,
        events: ChatEvents,
        courier: Courier,
        last_seen: LastSeen | None = None,
        groups: GroupSync | None = None,
        files: Transfers | None = None,
    ) -> None:
        self._files = files
        self._events = events
        self._courier = courier
        self._last_seen = last_seen
        self._groups = groups

    def presence_changed(self, online: frozenset[str]) -> None:
        self._events.presence_changed(online)
        self._courier.online(online)
        if self._groups is not None:
            self._groups.online(online)
        if self._files is not None:
            self._files.online(online)
        if self._last_seen is not None:
            self._last_seen.presence(online)

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        self._events.registry_status_changed(status, detail)
        self._courier.registry_status(status)
        if self._groups is not None:
            self._groups.registry_status(status)
        if self._last_seen is not None:
            self._last_seen.registry(status)
