"""The clients of this registry: one :class:`ClientSession` per authenticated connection, its
:class:`LocalRegistration` once it registered, and :class:`LocalClients`, the names registered
here (the network's online set is the presence store's; this is the part this registry holds,
answered without I/O).

A session has no socket: it talks to its client through a
:class:`~chinwag.application.registry.ports.client.ClientPort` (the connection). ``__slots__``
everywhere, and the watch set made on first use: a registry holds 10,000 of these.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, KeysView, Set
from dataclasses import dataclass
from typing import Protocol

from chinwag.application.ports.directory import Reachability
from chinwag.application.registry.ports.client import ClientPort
from chinwag.domain.registry.presence import WATCHING_VERSION, OnlineEntry


class Probed(Protocol):
    """What a probe found (the adapter's ``ProbeResult`` is one)."""

    @property
    def reachable(self) -> bool: ...

    @property
    def reason(self) -> str:
        """A :class:`~chinwag.application.ports.directory.Reachability` word."""
        ...


class Outbox(Protocol):
    """What a change does to a session's presence outbox (``outbox.py``'s ``PresenceOutbox``):
    it is noted, to be pushed with the others of its pass, or forgotten before a whole
    ``presence``."""

    def note(self, name: str, online: bool) -> None: ...

    def clear(self) -> None: ...

    def forget(self, names: Iterable[str]) -> None: ...


@dataclass(slots=True)
class LocalRegistration:
    """A name registered by a session of this registry: where it listens, the ``epoch`` of this
    sign-in (unique network-wide), and what the last probe of its address found."""

    name: str
    host: str | None
    port: int | None
    """None (with ``host``): the client accepts no connections."""
    key: bytes
    epoch: str
    reachability: Probed | None = None
    """What the last probe of this address found; None until one ended."""

    def reachable(self) -> bool | None:
        """What a ``found`` says of it: None unless a probe ended and actually probed."""
        probed = self.reachability
        if probed is None or probed.reason == Reachability.NOT_PROBED:
            return None
        return probed.reachable


class ClientSession:
    """One authenticated connection as the use cases see it: its proven identity ``key``, the
    IP ``address`` it connects from, and what it did so far."""

    __slots__ = (
        "address",
        "client",
        "closed",
        "key",
        "names_claimed",
        "outbox",
        "registration",
        "version",
        "watched",
    )

    def __init__(self, key: bytes, address: str, client: ClientPort) -> None:
        self.key = key
        self.address = address
        """The peer's IP address (IPv4-mapped IPv6 as IPv4); per-address limits count its
        :func:`~chinwag.domain.registry.addresses.address_group`."""
        self.client = client
        self.version = 0
        """The protocol version it registered with (0: not registered yet)."""
        self.names_claimed: set[str] = set()
        """Names it tried to register (at most ``MAX_NAMES_PER_CONNECTION`` new ones)."""
        self.registration: LocalRegistration | None = None
        self.watched: set[str] | None = None
        """The names it watches (None: none yet)."""
        self.outbox: Outbox | None = None
        """Presence changes it has not been pushed yet (None: made on its first change)."""
        self.closed = False
        """Its connection is gone (a use case that awaited must not act on it any more)."""

    @property
    def legacy(self) -> bool:
        """Whether it registered with a version that knows no watch lists (told everything)."""
        return self.version < WATCHING_VERSION

    def __repr__(self) -> str:
        name = self.registration.name if self.registration is not None else None
        return f"ClientSession({name!r}, {self.address!r}, v{self.version})"


class LocalClients:
    """The names registered at this registry, each with its session; and the epochs of its
    sign-ins, ``"{registry}:{n}"``, so that an epoch names the registry holding it."""

    __slots__ = ("_by_name", "_legacy", "_next", "registry")

    def __init__(self, registry: str) -> None:
        self.registry = registry
        self._by_name: dict[str, ClientSession] = {}
        self._legacy: set[ClientSession] = set()
        self._next = 0

    def new_epoch(self) -> str:
        """An epoch for a new sign-in here, never given before by this registry."""
        self._next += 1
        return f"{self.registry}:{self._next}"

    def get(self, name: str) -> ClientSession | None:
        """The session holding ``name`` here, if any."""
        return self._by_name.get(name)

    def holding(self, name: str, epoch: str) -> ClientSession | None:
        """The session holding ``name`` here as ``epoch`` (not a later sign-in), if any."""
        session = self._by_name.get(name)
        if session is None or session.registration is None:
            return None
        return session if session.registration.epoch == epoch else None

    def put(self, session: ClientSession) -> ClientSession | None:
        """``session`` (its ``registration`` and ``version`` set) holds its name here now; the
        session it replaced, if any, whose registration the caller ends (it is no longer
        counted here)."""
        registration = session.registration
        if registration is None:
            raise ValueError("only a registered session holds a name")
        previous = self._by_name.get(registration.name)
        self._by_name[registration.name] = session
        if previous is not None and previous is not session:
            self._legacy.discard(previous)
        if session.legacy:
            self._legacy.add(session)
        return None if previous is session else previous

    def remove(self, session: ClientSession) -> bool:
        """``session`` no longer holds its name here, if it still did; whether it did."""
        registration = session.registration
        if registration is None or self._by_name.get(registration.name) is not session:
            return False
        del self._by_name[registration.name]
        self._legacy.discard(session)
        return True

    def entry(self, session: ClientSession) -> OnlineEntry:
        """``session``'s registration as the network's online set holds it."""
        registration = session.registration
        if registration is None:
            raise ValueError("only a registered session has an entry")
        return OnlineEntry(
            name=registration.name,
            key=registration.key,
            host=registration.host,
            port=registration.port,
            registry=self.registry,
            epoch=registration.epoch,
            version=session.version,
            reachable=registration.reachable(),
        )

    def sessions(self) -> Iterator[ClientSession]:
        """Every registered session here."""
        return iter(self._by_name.values())

    def legacy(self) -> Set[ClientSession]:
        """The registered sessions of a version that knows no watch lists."""
        return self._legacy

    def names(self) -> KeysView[str]:
        """The names registered here."""
        return self._by_name.keys()

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self._by_name)
