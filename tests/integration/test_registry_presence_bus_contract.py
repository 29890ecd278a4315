"""The :class:`~chinwag.application.registry.ports.presence_bus.PresenceBus` contract (with the
:class:`~chinwag.application.registry.ports.relay_router.RelayRouter` that sends its notes), run
on every bus: a change reaches each other registry that follows its name (or follows all), in
the order published, and no other; ``unfollow`` and ``follow_all(False)`` stop it; offers and
kicks for another registry arrive there as notes; those for this registry reach the session
holding the epoch; and a bus that lost its network says so with ``on_resync`` and hears again.

Whether a registry hears its own publishes is left open: Redis echoes them, the local bus does
not, and the fan-out drops the duplicate either way.

Each bus comes as a *kit* (one parameter of :func:`kit`); the Redis bus adds one kit class and
one parameter. A rule a bus cannot have is skipped by the kit's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest
from redis.asyncio import Redis

from chinwag.adapters.registry.store.local_bus import (
    LocalNetwork,
    LocalPresenceBus,
    LocalRelayRouter,
)
from chinwag.adapters.registry.store.redis_bus import RedisPresenceBus
from chinwag.adapters.registry.store.redis_router import RedisRelayRouter
from chinwag.application.registry.ports.presence_bus import (
    KickNote,
    Note,
    OfferNote,
    PresenceBus,
)
from chinwag.application.registry.ports.relay_router import RelayOffer, RelayRouter
from chinwag.application.registry.sessions import ClientSession, LocalClients, LocalRegistration
from chinwag.domain.registry.presence import OnlineEntry, PresenceChange
from chinwag.domain.registry.refusals import KickCode
from tests.services import RedisServer

WAIT = 5.0
"""Seconds a change or a note may take to arrive."""


class BusWorld(Protocol):
    def bus(self, registry: str) -> PresenceBus:
        """The bus of ``registry`` on this test's network (the same one each call)."""
        ...

    def router(self, clients: LocalClients, urls: Sequence[str]) -> RelayRouter:
        """The router of the registry whose sessions are ``clients``, advertising ``urls``."""
        ...

    async def interrupt(self) -> bool:
        """Cut the network and bring it back (a Redis restart); False if it cannot be lost."""
        ...


class BusKit(Protocol):
    def world(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[BusWorld]: ...


class LocalWorld:
    def __init__(self) -> None:
        self.network = LocalNetwork()
        self._buses: dict[str, LocalPresenceBus] = {}

    def bus(self, registry: str) -> PresenceBus:
        if registry not in self._buses:
            self._buses[registry] = LocalPresenceBus(registry, self.network)
        return self._buses[registry]

    def router(self, clients: LocalClients, urls: Sequence[str]) -> RelayRouter:
        return LocalRelayRouter(clients, urls, self.network)

    async def interrupt(self) -> bool:
        return False

    async def close(self) -> None:
        for bus in self._buses.values():
            await bus.close()


class LocalKit:
    @contextlib.asynccontextmanager
    async def world(self, tmp_path: Path) -> AsyncIterator[BusWorld]:
        world = LocalWorld()
        try:
            yield world
        finally:
            await world.close()


class RedisWorld:
    """Registries on one real ``redis-server``. A Redis bus must be started (subscribed to its
    notes) before it hears anything, and :meth:`bus` cannot await: the buses of the registries
    these tests use are started before the scenario runs."""

    REGISTRIES = ("r1", "r2", "r3")

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.client: Redis = Redis.from_url(server.url)
        self._buses: dict[str, RedisPresenceBus] = {}

    async def start(self) -> None:
        for registry in self.REGISTRIES:
            bus = self._buses[registry] = RedisPresenceBus(self.client, registry)
            await asyncio.wait_for(bus.start(), WAIT)

    def bus(self, registry: str) -> PresenceBus:
        return self._buses[registry]

    def router(self, clients: LocalClients, urls: Sequence[str]) -> RelayRouter:
        return RedisRelayRouter(self.client, clients, urls)

    async def interrupt(self) -> bool:
        await asyncio.to_thread(self.server.restart)
        return True

    async def close(self) -> None:
        for bus in self._buses.values():
            await bus.close()
        await self.client.aclose()


class RedisKit:
    @contextlib.asynccontextmanager
    async def world(self, tmp_path: Path) -> AsyncIterator[BusWorld]:
        with RedisServer(tmp_path / "redis") as server:
            world = RedisWorld(server)
            try:
                await world.start()
                yield world
            finally:
                await world.close()


@pytest.fixture(params=["local", "redis"])
def kit(request: pytest.FixtureRequest) -> BusKit:
    kits: dict[str, Callable[[], BusKit]] = {"local": LocalKit, "redis": RedisKit}
    return kits[request.param]()


def run(kit: BusKit, tmp_path: Path, scenario: Callable[[BusWorld], Awaitable[None]]) -> None:
    async def main() -> None:
        async with kit.world(tmp_path) as world:
            await scenario(world)

    asyncio.run(main())


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        await asyncio.sleep(0.005)


@dataclass
class Ear:
    """What one registry's bus handed its listener."""

    changes: list[PresenceChange] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    resyncs: int = 0

    def listen(self, bus: PresenceBus) -> Ear:
        bus.listen(self.changes.append, self.notes.append, self._resync)
        return self

    def _resync(self) -> None:
        self.resyncs += 1

    def names(self) -> list[tuple[str, bool]]:
        return [(change.name, change.online) for change in self.changes]


def change(name: str, online: bool = True, n: int = 1, registry: str = "r1") -> PresenceChange:
    return PresenceChange(name, online, f"{registry}:{n}", registry)


async def published_through(
    bus: PresenceBus, ear: Ear, changes: Sequence[PresenceChange], fence: str = "fence"
) -> None:
    """Publish ``changes`` then a change of ``fence`` (which ``ear`` follows) and wait for the
    fence: whatever of ``changes`` was to be heard has been by then (one publisher's order)."""
    for one in changes:
        await bus.publish(one)
    await bus.publish(change(fence))
    await wait_until(lambda: (fence, True) in ear.names(), f"{fence} heard")
    del ear.changes[-1]


# -- changes -----------------------------------------------------------------------------------


def test_a_change_reaches_the_registries_following_its_name_in_order(
    kit: BusKit, tmp_path: Path
) -> None:
    async def scenario(world: BusWorld) -> None:
        r1, r2, r3 = world.bus("r1"), world.bus("r2"), world.bus("r3")
        two, three = Ear().listen(r2), Ear().listen(r3)
        await r2.follow(["alice", "bob", "fence"])
        await r3.follow(["alice", "fence"])
        sent = [change("alice"), change("bob"), change("carol"), change("alice", False)]
        await published_through(r1, two, sent)
        await wait_until(lambda: ("fence", True) in three.names(), "fence heard by r3")
        del three.changes[-1]
        assert two.changes == [sent[0], sent[1], sent[3]]
        assert three.changes == [sent[0], sent[3]]

    run(kit, tmp_path, scenario)


def test_unfollow_stops_a_name_and_keeps_the_others(kit: BusKit, tmp_path: Path) -> None:
    async def scenario(world: BusWorld) -> None:
        r1, r2 = world.bus("r1"), world.bus("r2")
        ear = Ear().listen(r2)
        await r2.follow(["alice", "bob", "fence"])
        await r2.unfollow(["alice", "nobody"])
        await published_through(r1, ear, [change("alice"), change("bob")])
        assert ear.names() == [("bob", True)]
        await r2.follow(["alice"])
        await published_through(r1, ear, [change("alice", False)])
        assert ear.names() == [("bob", True), ("alice", False)]

    run(kit, tmp_path, scenario)


def test_follow_all_hears_every_name_until_turned_off(kit: BusKit, tmp_path: Path) -> None:
    async def scenario(world: BusWorld) -> None:
        r1, r2 = world.bus("r1"), world.bus("r2")
        ear = Ear().listen(r2)
        await r2.follow(["fence", "bob"])
        await r2.follow_all(True)
        await published_through(r1, ear, [change("alice"), change("bob"), change("carol")])
        assert ear.names() == [("alice", True), ("bob", True), ("carol", True)]
        await r2.follow_all(False)  # back to the names followed one by one
        ear.changes.clear()
        await published_through(r1, ear, [change("alice", False), change("bob", False)])
        assert ear.names() == [("bob", False)]

    run(kit, tmp_path, scenario)


def test_changes_from_several_registries_all_arrive(kit: BusKit, tmp_path: Path) -> None:
    async def scenario(world: BusWorld) -> None:
        r1, r2, r3 = world.bus("r1"), world.bus("r2"), world.bus("r3")
        ear = Ear().listen(r3)
        await r3.follow(["alice", "bob"])
        await r1.publish(change("alice", n=4, registry="r1"))
        await r2.publish(change("bob", n=7, registry="r2"))
        await wait_until(lambda: len(ear.changes) == 2, "both changes heard")
        assert sorted(ear.changes, key=lambda c: c.name) == [
            PresenceChange("alice", True, "r1:4", "r1"),
            PresenceChange("bob", True, "r2:7", "r2"),
        ]

    run(kit, tmp_path, scenario)


def test_a_bus_that_lost_its_network_resyncs_and_hears_again(kit: BusKit, tmp_path: Path) -> None:
    async def scenario(world: BusWorld) -> None:
        r1, r2 = world.bus("r1"), world.bus("r2")
        ear = Ear().listen(r2)
        await r2.follow(["alice", "fence"])
        if not await world.interrupt():
            pytest.skip("the bus cannot lose its network")
        await wait_until(lambda: ear.resyncs >= 1, "on_resync after the network came back")
        await published_through(r1, ear, [change("alice")])  # still followed
        assert ear.names() == [("alice", True)]

    run(kit, tmp_path, scenario)


# -- notes: offers and kicks -------------------------------------------------------------------


class Client:
    """A :class:`~chinwag.application.registry.ports.client.ClientPort` that keeps what it was
    told."""

    def __init__(self) -> None:
        self.incoming: list[tuple[str, str, float, tuple[str, ...] | None]] = []
        self.kicks: list[KickCode] = []

    def presence(self, online: Sequence[str]) -> None:
        return None

    def presence_changed(self, joined: Sequence[str], left: Sequence[str]) -> None:
        return None

    def relay_incoming(
        self, sid: str, from_: str, timeout: float, via: Sequence[str] | None
    ) -> None:
        self.incoming.append((sid, from_, timeout, None if via is None else tuple(via)))

    def kick(self, code: KickCode, text: str) -> None:
        assert text
        self.kicks.append(code)


def registered(clients: LocalClients, name: str) -> tuple[ClientSession, Client, OnlineEntry]:
    client = Client()
    session = ClientSession(bytes(32), "198.51.100.7", client)
    session.version = 3
    session.registration = LocalRegistration(name, None, None, bytes(32), clients.new_epoch())
    clients.put(session)
    return session, client, clients.entry(session)


def elsewhere(name: str, registry: str, n: int = 1) -> OnlineEntry:
    return OnlineEntry(name, bytes(32), None, None, registry, f"{registry}:{n}", 3, None)


def test_an_offer_for_another_registry_arrives_there_as_a_note(kit: BusKit, tmp_path: Path) -> None:
    async def scenario(world: BusWorld) -> None:
        world.bus("r1")
        ear = Ear().listen(world.bus("r2"))
        router = world.router(LocalClients("r1"), ["tcp://r1.test:7400", "ws://r1.test/chinwag"])
        assert router.advertised() == ["tcp://r1.test:7400", "ws://r1.test/chinwag"]
        bob = elsewhere("bob", "r2", 5)
        assert await router.offer(bob, RelayOffer("sid-1", "alice", 10.0)) is True
        assert await router.offer(bob, RelayOffer("sid-2", "alice", 9.0, ("tcp://x:1",)))
        await router.kick(bob, KickCode.REPLACED)
        await wait_until(lambda: len(ear.notes) == 3, "three notes at r2")
        assert ear.notes == [
            OfferNote(
                "bob",
                "r2:5",
                RelayOffer("sid-1", "alice", 10.0, ("tcp://r1.test:7400", "ws://r1.test/chinwag")),
            ),
            OfferNote("bob", "r2:5", RelayOffer("sid-2", "alice", 9.0, ("tcp://x:1",))),
            KickNote("bob", "r2:5", KickCode.REPLACED),
        ]
        assert ear.changes == []

    run(kit, tmp_path, scenario)


def test_an_offer_to_a_registry_that_is_gone_is_not_handed_on(kit: BusKit, tmp_path: Path) -> None:
    async def scenario(world: BusWorld) -> None:
        world.bus("r1")
        router = world.router(LocalClients("r1"), ["tcp://r1.test:7400"])
        offer = RelayOffer("sid-1", "alice", 10.0)
        assert await router.offer(elsewhere("bob", "r9"), offer) is False
        await router.kick(elsewhere("bob", "r9"), KickCode.RELEASED)  # nobody to tell: no error

    run(kit, tmp_path, scenario)


def test_an_offer_or_kick_for_this_registry_reaches_the_session_of_that_epoch(
    kit: BusKit, tmp_path: Path
) -> None:
    async def scenario(world: BusWorld) -> None:
        ear = Ear().listen(world.bus("r1"))
        clients = LocalClients("r1")
        router = world.router(clients, ["tcp://r1.test:7400"])
        _, first, old = registered(clients, "bob")
        _, second, new = registered(clients, "bob")  # bob signed in again
        offer = RelayOffer("sid-1", "alice", 10.0)
        assert await router.offer(old, offer) is False
        assert await router.offer(new, offer) is True
        assert first.incoming == []
        assert second.incoming == [("sid-1", "alice", 10.0, None)]  # here: no via
        await router.kick(old, KickCode.REPLACED)
        assert first.kicks == [] and second.kicks == []
        await router.kick(new, KickCode.RELEASED)
        assert second.kicks == [KickCode.RELEASED]
        assert await router.offer(elsewhere("carol", "r1", 99), offer) is False
        assert ear.notes == []

    run(kit, tmp_path, scenario)
