"""The registry core's ports faked for its unit tests: stores, bus, router and relay sessions
(each can fail or hold its answers); :mod:`tests.unit.registry_world` puts them together."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import BindResult
from chinwag.application.registry.ports.presence_bus import Note
from chinwag.application.registry.ports.relay_router import RelayOffer
from chinwag.application.registry.sessions import LocalClients
from chinwag.domain.registry.presence import OnlineEntry, PresenceChange
from chinwag.domain.registry.refusals import KickCode, Refusal, RefusalCode
from chinwag.domain.registry.relay import Places, RelaySettings
from chinwag.domain.user import username_skeleton


class _Store:
    """What every fake store can do: be away (``fail``: each I/O call raises
    StoreUnavailable) and hold its answers until the test lets them go (``hold``/``let_go``)."""

    def __init__(self) -> None:
        self.fail = False
        self.calls: list[str] = []
        self._gate: asyncio.Event | None = None

    def hold(self) -> None:
        """From now on, calls wait for :meth:`let_go` before they act."""
        self._gate = asyncio.Event()

    def let_go(self) -> None:
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def _io(self, what: str) -> None:
        self.calls.append(what)
        gate = self._gate
        if gate is not None:
            await gate.wait()
        if self.fail:
            raise StoreUnavailable(f"the store is away ({what})")


class FakeNameStore(_Store):
    """A :class:`~chinwag.application.registry.ports.name_store.NameStore` over dicts. Like the
    SQLite one, it caches what it read: ``cached_key`` shows a release only after ``key_of``."""

    def __init__(self) -> None:
        super().__init__()
        self.bindings: dict[str, bytes] = {}
        self.known_names: set[str] = set()
        """Names known without a binding (version 1's)."""
        self._cache: dict[str, bytes] = {}
        self._skeletons: dict[str, str] = {}

    def bound(self, name: str, owner: bytes) -> None:
        """Set up: ``name`` is bound to ``owner`` already (and cached)."""
        self.bindings[name] = self._cache[name] = owner
        self._skeletons.setdefault(username_skeleton(name), name)

    def released_elsewhere(self, name: str) -> None:
        """The operator released ``name`` behind this registry's back: the cache still has it."""
        self.bindings.pop(name, None)
        self.known_names.discard(name)
        skeleton = username_skeleton(name)
        if self._skeletons.get(skeleton) == name:
            del self._skeletons[skeleton]

    async def key_of(self, name: str) -> bytes | None:
        await self._io(f"key_of {name}")
        bound = self.bindings.get(name)
        if bound is None:
            self._cache.pop(name, None)
        else:
            self._cache[name] = bound
        return bound

    def cached_key(self, name: str) -> bytes | None:
        return self._cache.get(name)

    async def lookalike(self, name: str) -> str | None:
        await self._io(f"lookalike {name}")
        other = self._skeletons.get(username_skeleton(name))
        return other if other is not None and other != name else None

    async def bind(self, name: str, key: bytes) -> BindResult:
        await self._io(f"bind {name}")
        bound = self.bindings.get(name)
        if bound is None:
            other = self._skeletons.get(username_skeleton(name))
            if other is not None and other != name:
                return BindResult(None, other)
            self.bound(name, key)
            bound = key
        self._cache[name] = bound
        return BindResult(bound)

    async def known(self, name: str) -> bool:
        await self._io(f"known {name}")
        return name in self.bindings or name in self.known_names

    async def release(self, name: str) -> bool:
        await self._io(f"release {name}")
        had = name in self.bindings or name in self.known_names
        self.released_elsewhere(name)
        return had

    async def close(self) -> None:
        self.calls.append("close")


class FakePresenceStore(_Store):
    """A :class:`~chinwag.application.registry.ports.presence_store.PresenceStore` over a dict.
    Like the memory store, it publishes each join and leave on its bus (if it has one)."""

    def __init__(self, bus: FakeBus | None = None) -> None:
        super().__init__()
        self.entries: dict[str, OnlineEntry] = {}
        self.bus = bus
        self.heartbeats = 0
        self.republished: list[OnlineEntry] = []

    async def join(self, entry: OnlineEntry) -> OnlineEntry | None:
        await self._io(f"join {entry.name}")
        previous = self.entries.get(entry.name)
        self.entries[entry.name] = entry
        if self.bus is not None:
            await self.bus.publish(PresenceChange(entry.name, True, entry.epoch, entry.registry))
        return previous

    async def leave(self, name: str, epoch: str) -> bool:
        await self._io(f"leave {name}")
        entry = self.entries.get(name)
        if entry is None or entry.epoch != epoch:
            return False
        del self.entries[name]
        if self.bus is not None:
            await self.bus.publish(PresenceChange(name, False, epoch, entry.registry))
        return True

    async def get(self, name: str) -> OnlineEntry | None:
        await self._io(f"get {name}")
        return self.entries.get(name)

    async def get_many(self, names: Iterable[str]) -> dict[str, OnlineEntry]:
        wanted = list(names)
        await self._io(f"get_many {len(wanted)}")
        return {name: self.entries[name] for name in wanted if name in self.entries}

    async def set_reachable(self, name: str, epoch: str, reachable: bool | None) -> None:
        await self._io(f"set_reachable {name}")
        entry = self.entries.get(name)
        if entry is not None and entry.epoch == epoch:
            self.entries[name] = OnlineEntry(
                entry.name,
                entry.key,
                entry.host,
                entry.port,
                entry.registry,
                entry.epoch,
                entry.version,
                reachable,
            )

    async def prefix(self, prefix: str, limit: int, after: str | None) -> tuple[list[str], bool]:
        await self._io(f"prefix {prefix}")
        names = sorted(
            name
            for name in self.entries
            if name.startswith(prefix) and (after is None or name > after)
        )
        return names[:limit], len(names) > limit

    async def count(self) -> int:
        await self._io("count")
        return len(self.entries)

    async def everyone(self, limit: int) -> list[str]:
        await self._io("everyone")
        return sorted(self.entries)[:limit]

    async def heartbeat(self) -> None:
        await self._io("heartbeat")
        self.heartbeats += 1

    async def republish(self, entries: Sequence[OnlineEntry]) -> None:
        await self._io("republish")
        for entry in entries:
            self.entries[entry.name] = entry
            self.republished.append(entry)

    async def close(self) -> None:
        self.calls.append("close")


class FakeBus(_Store):
    """A :class:`~chinwag.application.registry.ports.presence_bus.PresenceBus` that records
    what it is asked; the test plays the network with :meth:`hear`, :meth:`note` and
    :meth:`resync`. With ``echo`` it hands this registry's own publishes back to its listener,
    as Redis does (the memory bus does not)."""

    def __init__(self, echo: bool = False) -> None:
        super().__init__()
        self.echo = echo
        self.published: list[PresenceChange] = []
        self.followed: set[str] = set()
        self.follows: list[tuple[str, tuple[str, ...]]] = []
        """``("follow" | "unfollow", names)`` in order."""
        self.all = False
        self._on_change: Callable[[PresenceChange], None] | None = None
        self._on_note: Callable[[Note], None] | None = None
        self._on_resync: Callable[[], None] | None = None

    async def publish(self, change: PresenceChange) -> None:
        await self._io(f"publish {change.name}")
        self.published.append(change)
        if self.echo:
            self.hear(change)

    async def follow(self, names: Iterable[str]) -> None:
        wanted = tuple(names)
        await self._io("follow")
        self.follows.append(("follow", wanted))
        self.followed.update(wanted)

    async def unfollow(self, names: Iterable[str]) -> None:
        wanted = tuple(names)
        await self._io("unfollow")
        self.follows.append(("unfollow", wanted))
        self.followed.difference_update(wanted)

    async def follow_all(self, on: bool) -> None:
        await self._io(f"follow_all {on}")
        self.all = on

    def listen(
        self,
        on_change: Callable[[PresenceChange], None],
        on_note: Callable[[Note], None],
        on_resync: Callable[[], None],
    ) -> None:
        self._on_change, self._on_note, self._on_resync = on_change, on_note, on_resync

    def follows_name(self, name: str) -> bool:
        return self.all or name in self.followed

    def hear(self, change: PresenceChange) -> bool:
        """A change from the network: handed on if this registry follows its name."""
        if self._on_change is None or not self.follows_name(change.name):
            return False
        self._on_change(change)
        return True

    def note(self, note: Note) -> None:
        assert self._on_note is not None, "nobody listens to the bus"
        self._on_note(note)

    def resync(self) -> None:
        assert self._on_resync is not None, "nobody listens to the bus"
        self._on_resync()


class FakeRouter:
    """A :class:`~chinwag.application.registry.ports.relay_router.RelayRouter`: an entry of this
    registry is reached through ``clients`` directly; one of another is recorded (``sent``) and
    reached if ``remote_up``."""

    def __init__(self, clients: LocalClients, urls: Sequence[str] = ("tcp://r1.test:7400",)):
        self.clients = clients
        self.urls = list(urls)
        self.remote_up = True
        self.sent: list[tuple[OnlineEntry, RelayOffer]] = []
        self.kicks: list[tuple[OnlineEntry, KickCode]] = []

    async def offer(self, target: OnlineEntry, offer: RelayOffer) -> bool:
        if target.registry != self.clients.registry:
            via = offer.via if offer.via is not None else tuple(self.urls)
            self.sent.append((target, RelayOffer(offer.sid, offer.from_, offer.timeout, via)))
            return self.remote_up
        session = self.clients.holding(target.name, target.epoch)
        if session is None:
            return False
        self.sent.append((target, offer))
        session.client.relay_incoming(offer.sid, offer.from_, offer.timeout, offer.via)
        return True

    async def kick(self, entry: OnlineEntry, code: KickCode) -> None:
        self.kicks.append((entry, code))

    def advertised(self) -> list[str]:
        return list(self.urls)


@dataclass(slots=True)
class FakeRelaySession:
    """What the fake hub keeps of a session (enough for :class:`Places`)."""

    sid: str
    keys: tuple[bytes, bytes]
    address: str
    joined: bool = False


class FakeRelaySessions:
    """A :class:`~chinwag.application.registry.ports.relay_router.RelaySessions` over the
    domain's :class:`Places`; ``holding`` stands for the bytes the relay holds."""

    def __init__(self, settings: RelaySettings | None = None) -> None:
        self.settings = settings if settings is not None else RelaySettings()
        self.places = Places(self.settings)
        self.sessions: dict[str, FakeRelaySession] = {}
        self.cancelled: list[str] = []
        self.holding = 0
        self._ids = itertools.count(1)

    def refusal(
        self, asker_key: bytes, target_key: bytes, target_name: str, address: str
    ) -> Refusal | None:
        refusal = self.places.refusal(
            asker_key, target_key, target_name, address, len(self.sessions)
        )
        if refusal is None and self.holding > self.settings.max_buffered:
            refusal = Refusal(RefusalCode.RELAY_FULL, "the relay holds all it can now")
        return refusal

    def open(self, asker_key: bytes, target_key: bytes, address: str) -> str:
        sid = f"sid-{next(self._ids)}"
        session = FakeRelaySession(sid, (asker_key, target_key), address)
        self.sessions[sid] = session
        self.places.take(session)
        return sid

    def cancel(self, sid: str) -> None:
        session = self.sessions.pop(sid)
        self.places.free(session)
        self.cancelled.append(sid)


# -- a registry's world ----------------------------------------------------------------------
