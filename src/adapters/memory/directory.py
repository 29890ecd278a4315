"""An in-memory registry shared by in-memory directories: presence and lookups without sockets."""

from __future__ import annotations

from collections.abc import Collection

from chinwag.application.errors import NameTaken, RegistryUnavailable, UnknownUser, UserOffline
from chinwag.application.ports.directory import (
    DirectoryListener,
    PeerLocation,
    Reachability,
    RegistryStatus,
    SelfReachability,
)
from chinwag.application.registry.who import case_map
from chinwag.domain.user import PeerAddress, normalize_username, valid_usernames


class InMemoryRegistry:
    """What a registry server knows: names bound to keys, who is online, where, and who to tell
    about changes."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[PeerAddress | None, InMemoryDirectory]] = {}
        self._keys: dict[str, bytes] = {}  # every name that ever registered, and its key
        self.available = True
        self.relay = True
        """Whether this registry relays (``--no-relay`` is False)."""
        self.unreachable: set[str] = set()
        """Names whose port the registry's probe finds closed (behind a NAT), for tests."""

    def online(self) -> frozenset[str]:
        return frozenset(self._entries)

    def register(
        self, user: str, address: PeerAddress | None, directory: InMemoryDirectory
    ) -> None:
        self._check_available()
        bound = self._keys.setdefault(user, directory.key)
        if bound != directory.key:
            raise NameTaken(f"{user} is registered to another key")
        self._entries[user] = (address, directory)
        self._broadcast()

    def release(self, user: str) -> None:
        """What ``chinwag-registry release`` does: the name is free for any key again."""
        self._keys.pop(user, None)

    def unregister(self, user: str) -> None:
        if self._entries.pop(user, None) is not None:
            self._broadcast()

    def lookup(self, user: str) -> PeerLocation:
        self._check_available()
        entry = self._entries.get(user)
        if entry is None:
            if user in self._keys:
                raise UserOffline(f"{user} is offline")
            raise UnknownUser(f"nobody called {user} has ever signed in here")
        return PeerLocation(
            address=entry[0],
            key=self._keys[user],
            reachable=self.probe(user, entry[0]).reachable,
            relay=self.relay,
        )

    def probe(self, user: str, address: PeerAddress | None) -> SelfReachability:
        """What the registry's probe finds at ``address`` for ``user``."""
        if address is None:
            return SelfReachability(False, Reachability.NOT_LISTENING, "accepts no connections")
        if user in self.unreachable:
            return SelfReachability(False, Reachability.REFUSED, f"{address} refused")
        return SelfReachability(True, Reachability.OK, f"reached at {address}")

    def _check_available(self) -> None:
        if not self.available:
            raise RegistryUnavailable("the in-memory registry is down")

    def _broadcast(self) -> None:
        online = self.online()
        for _, directory in list(self._entries.values()):
            directory.presence_pushed(online)


class InMemoryDirectory:
    """The ``Directory`` port over an :class:`InMemoryRegistry`."""

    def __init__(self, registry: InMemoryRegistry, key: bytes) -> None:
        self._registry = registry
        self.key = key
        self._user: str | None = None
        self._listener: DirectoryListener | None = None
        self._online: frozenset[str] = frozenset()
        self._address: PeerAddress | None = None
        self._watched: set[str] = set()

    async def sign_in(
        self, user: str, address: PeerAddress | None, listener: DirectoryListener
    ) -> str:
        name = normalize_username(user)
        self._listener = listener
        self._user = name
        self._address = address
        try:
            self._registry.register(name, address, self)
        except BaseException:
            self._user = None
            self._listener = None
            raise
        listener.registry_status_changed(RegistryStatus.CONNECTED, "in-memory registry")
        return name

    async def sign_out(self) -> None:
        if self._user is not None:
            self._registry.unregister(self._user)
        if self._listener is not None:
            self._listener.registry_status_changed(RegistryStatus.DISCONNECTED, "signed out")
        self._user = None
        self._listener = None
        self._online = frozenset()

    async def lookup(self, user: str) -> PeerLocation:
        return self._registry.lookup(normalize_username(user))

    def online(self) -> frozenset[str]:
        return self._online

    async def watch(self, names: Collection[str]) -> None:
        self._watched.update(valid_usernames(names))

    async def unwatch(self, names: Collection[str]) -> None:
        self._watched.difference_update(valid_usernames(names))

    def watched(self) -> frozenset[str]:
        return frozenset(self._watched)

    async def find_online(self, prefix: str, limit: int) -> list[str]:
        if self.status() is not RegistryStatus.CONNECTED:
            raise RegistryUnavailable("the registry is out of reach")
        start = case_map(prefix)
        return sorted(name for name in self._registry.online() if name.startswith(start))[:limit]

    def status(self) -> RegistryStatus:
        if self._user is None:
            return RegistryStatus.DISCONNECTED
        if not self._registry.available:
            return RegistryStatus.RECONNECTING
        return RegistryStatus.CONNECTED

    async def reachability(self, *, fresh: bool = False) -> SelfReachability:
        if self.status() is not RegistryStatus.CONNECTED or self._user is None:
            return SelfReachability(False, Reachability.UNKNOWN, "the registry is out of reach")
        return self._registry.probe(self._user, self._address)

    def presence_pushed(self, online: frozenset[str]) -> None:
        if online != self._online:
            self._online = online
            if self._listener is not None:
                self._listener.presence_changed(online)
