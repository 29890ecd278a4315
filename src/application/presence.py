"""Presence goes both to the user and to the courier, which sends to whoever comes online."""

from __future__ import annotations

from chinwag.application.delivery import Courier
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.events import ChatEvents


class PresenceRelay:
    """The ``DirectoryListener`` given to the registry client at sign-in."""

    def __init__(self, events: ChatEvents, courier: Courier) -> None:
        self._events = events
        self._courier = courier

    def presence_changed(self, online: frozenset[str]) -> None:
        self._events.presence_changed(online)
        self._courier.online(online)

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        self._events.registry_status_changed(status, detail)
