from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from chinwag.domain.user import PeerAddress


@dataclass(frozen=True, slots=True)
class PeerLocation:
    """Where a user listens, and the identity key the registry binds their name to."""

    address: PeerAddress
    key: bytes


class RegistryStatus(StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


class DirectoryListener(Protocol):
    """Told by the directory when the world it sees changes."""

    def presence_changed(self, online: frozenset[str]) -> None: ...

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None: ...


class Directory(Protocol):
    """The registry, as a client sees it: who is online and where they listen.

    Once signed in, an implementation keeps the registration alive on its own (heartbeats,
    reconnecting with backoff and registering again) until :meth:`sign_out`.
    """

    async def sign_in(self, user: str, address: PeerAddress, listener: DirectoryListener) -> str:
        """Register ``user`` as listening at ``address``; return the name as the registry spells it.

        Raises ``NameTaken`` if the name is bound to another key (or looks like a registered
        name), ``RegistryKeyChanged`` if the registry is not the one pinned, and
        ``RegistryUnavailable`` if it cannot be reached.
        """
        ...

    async def sign_out(self) -> None: ...

    async def lookup(self, user: str) -> PeerLocation:
        """Where ``user`` listens and their key; ``UserOffline`` if they are known but not
        online, ``UnknownUser`` if the registry never heard of them."""
        ...

    def online(self) -> frozenset[str]:
        """Who is online now, as last pushed by the registry."""
        ...
