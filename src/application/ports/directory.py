from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from chinwag.domain.user import PeerAddress


@dataclass(frozen=True, slots=True)
class PeerLocation:
    """Where a user listens, and the identity key the registry binds their name to."""

    address: PeerAddress | None
    """None: they accept no direct connections (``--listen none``); only the relay reaches them."""
    key: bytes
    reachable: bool | None = None
    """Whether the registry could connect back to ``address`` (its probe); None: not known."""
    relay: bool = False
    """Whether their registry relays sessions to them (relaying is on there)."""


class Reachability(StrEnum):
    """Why the registry could or could not connect back to a client (its probe)."""

    OK = "ok"
    NOT_LISTENING = "not_listening"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    WRONG_KEY = "wrong_key"
    HANDSHAKE_FAILED = "handshake_failed"
    NOT_PROBED = "not_probed"
    UNKNOWN = "unknown"
    """Not heard yet (the probe is under way, or the registry is out of reach)."""


@dataclass(frozen=True, slots=True)
class SelfReachability:
    """What the registry found when it tried to connect back to us."""

    reachable: bool
    cause: Reachability
    detail: str = ""


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

    async def sign_in(
        self, user: str, address: PeerAddress | None, listener: DirectoryListener
    ) -> str:
        """Register ``user`` as listening at ``address`` (None: accepting no direct connections,
        reachable through the relay only); return the name as the registry spells it.

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
        """Who is online now among the people we watch (and everyone, while the registry tells
        everyone everything), as last pushed by the registry."""
        ...

    async def watch(self, names: Collection[str]) -> None:
        """Be told when these people come and go. Kept for the session (sent again after every
        reconnection); allowed before :meth:`sign_in`. Names that cannot be usernames are
        skipped. Raises ``WatchLimit`` past what the registry lets one client watch."""
        ...

    async def unwatch(self, names: Collection[str]) -> None:
        """Stop being told about these people."""
        ...

    def watched(self) -> frozenset[str]:
        """The names watched (normalised), whether or not the registry was told yet."""
        ...

    async def find_online(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` names online that start with ``prefix`` (matched as names are),
        sorted: a search, for people we do not watch. ``RegistryUnavailable`` while out of
        reach."""
        ...

    def status(self) -> RegistryStatus:
        """Whether the registry connection is up now."""
        ...

    async def reachability(self, *, fresh: bool = False) -> SelfReachability:
        """Whether the registry can connect back to us, as its last probe found (``fresh``: ask
        it to probe again and wait for the answer, a few seconds at most). ``UNKNOWN`` while
        the registry is out of reach or has not said yet."""
        ...
