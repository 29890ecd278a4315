"""The :class:`~chinwag.application.registry.ports.presence_store.PresenceStore` contract, run
on every store: one entry per name, a join returns the holder it replaced, a leave only for its
epoch, the probe's finding only for its epoch, prefix search sorted with keyset paging and
``more``, counts, republishing, each join and leave published to the registries following the
name, and ``StoreUnavailable`` from a store that cannot answer.

Each store comes as a *kit* (one parameter of :func:`kit`); a shared store (Redis) adds one
kit class and one parameter. A rule a store cannot have is skipped by the kit's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Protocol

import pytest

from chinwag.adapters.registry.store.local_bus import LocalNetwork, LocalPresenceBus
from chinwag.adapters.registry.store.memory import MemoryPresenceStore
from chinwag.adapters.registry.store.redis_presence import RedisPresenceStore
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.presence_bus import PresenceBus
from chinwag.application.registry.ports.presence_store import PresenceStore
from chinwag.domain.registry.presence import OnlineEntry, PresenceChange
from tests.integration.redis_presence_kit import RedisKit

REGISTRY = "r1"
WAIT = 5.0
"""Seconds a change published may take to be heard."""


def entry(
    name: str, n: int = 1, registry: str = REGISTRY, reachable: bool | None = None
) -> OnlineEntry:
    return OnlineEntry(
        name=name,
        key=bytes([n % 256]) * 32,
        host="198.51.100.7",
        port=7000 + n,
        registry=registry,
        epoch=f"{registry}:{n}",
        version=3,
        reachable=reachable,
    )


class PresenceWorld(Protocol):
    def store(self) -> PresenceStore:
        """The store of this test's registry (``r1``)."""
        ...

    def listener(self) -> PresenceBus:
        """The bus of another registry of the network (``r2``), to hear what the store
        publishes."""
        ...

    async def fail(self) -> bool:
        """Make the store unreachable from now on; False if it cannot fail (memory)."""
        ...


class PresenceKit(Protocol):
    def world(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[PresenceWorld]: ...


class MemoryWorld:
    def __init__(self) -> None:
        network = LocalNetwork()
        self._store = MemoryPresenceStore(LocalPresenceBus(REGISTRY, network))
        self._listener = LocalPresenceBus("r2", network)

    def store(self) -> PresenceStore:
        return self._store

    def listener(self) -> PresenceBus:
        return self._listener

    async def fail(self) -> bool:
        return False


class MemoryKit:
    @contextlib.asynccontextmanager
    async def world(self, tmp_path: Path) -> AsyncIterator[PresenceWorld]:
        yield MemoryWorld()


@pytest.fixture(params=["memory", "redis"])
def kit(request: pytest.FixtureRequest) -> PresenceKit:
    kits: dict[str, Callable[[], PresenceKit]] = {"memory": MemoryKit, "redis": RedisKit}
    return kits[request.param]()


def run(
    kit: PresenceKit, tmp_path: Path, scenario: Callable[[PresenceWorld], Awaitable[None]]
) -> None:
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


def ignore(_: object = None) -> None:
    return None


async def hearing(world: PresenceWorld, *names: str) -> list[PresenceChange]:
    """What the other registry hears of ``names`` from now on, in order."""
    heard: list[PresenceChange] = []
    listener = world.listener()
    listener.listen(heard.append, ignore, ignore)
    await listener.follow(names)
    return heard


# -- one entry per name --------------------------------------------------------------------------


def test_an_empty_store_has_nobody(kit: PresenceKit, tmp_path: Path) -> None:
    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        assert await store.get("alice") is None
        assert await store.get_many(["alice", "bob"]) == {}
        assert await store.count() == 0
        assert await store.prefix("", 10, None) == ([], False)
        assert await store.everyone(10) == []
        assert await store.leave("alice", "r1:1") is False

    run(kit, tmp_path, scenario)


def test_a_join_holds_the_name_and_returns_the_holder_it_replaced(
    kit: PresenceKit, tmp_path: Path
) -> None:
    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        first = entry("alice", 1)
        assert await store.join(first) is None
        assert await store.get("alice") == first
        offline = OnlineEntry("bob", b"\x07" * 32, None, None, REGISTRY, "r1:2", 2, None)
        assert await store.join(offline) is None
        assert await store.get("bob") == offline  # no address, version 2: all kept as given
        second = entry("alice", 3, reachable=True)
        assert await store.join(second) == first
        assert await store.get("alice") == second
        assert await store.count() == 2

    run(kit, tmp_path, scenario)


def test_a_leave_ends_only_its_own_epoch(kit: PresenceKit, tmp_path: Path) -> None:
    """A late leave of an older sign-in must not undo a newer one."""

    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        old, new = entry("alice", 1), entry("alice", 2)
        await store.join(old)
        await store.join(new)
        assert await store.leave("alice", old.epoch) is False
        assert await store.get("alice") == new
        assert await store.leave("alice", new.epoch) is True
        assert await store.get("alice") is None
        assert await store.count() == 0
        assert await store.leave("alice", new.epoch) is False
        assert await store.prefix("a", 10, None) == ([], False)

    run(kit, tmp_path, scenario)


def test_get_many_gives_those_online(kit: PresenceKit, tmp_path: Path) -> None:
    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        alice, bob = entry("alice", 1), entry("bob", 2)
        await store.join(alice)
        await store.join(bob)
        assert await store.get_many(["alice", "carol", "bob", "alice"]) == {
            "alice": alice,
            "bob": bob,
        }
        assert await store.get_many(iter(["carol"])) == {}
        assert await store.get_many([]) == {}

    run(kit, tmp_path, scenario)


def test_gets_of_one_pass_each_get_their_own_entry(kit: PresenceKit, tmp_path: Path) -> None:
    """Many lookups at once (a shared store answers them in one round trip)."""

    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        alice, bob = entry("alice", 1), entry("bob", 2)
        await store.join(alice)
        await store.join(bob)
        names = ["alice", "carol", "bob", "alice", "dave"]
        calls: list[list[str]] = []
        if isinstance(store, RedisPresenceStore):
            real = store.get_many

            async def counted(wanted: Iterable[str]) -> dict[str, OnlineEntry]:
                listed = list(wanted)
                calls.append(listed)
                return await real(listed)

            setattr(store, "get_many", counted)  # noqa: B010 - counting its round trips
        found = await asyncio.gather(*(store.get(name) for name in names))
        assert found == [alice, None, bob, alice, None]
        if isinstance(store, RedisPresenceStore):
            assert calls == [["alice", "carol", "bob", "dave"]]

    run(kit, tmp_path, scenario)


def test_reachability_is_set_only_for_its_epoch(kit: PresenceKit, tmp_path: Path) -> None:
    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        await store.join(entry("alice", 1))
        await store.set_reachable("alice", "r1:1", True)
        found = await store.get("alice")
        assert found is not None and found.reachable is True
        await store.set_reachable("alice", "r1:1", False)
        assert (await store.get_many(["alice"]))["alice"].reachable is False
        await store.set_reachable("alice", "r1:1", None)
        found = await store.get("alice")
        assert found == entry("alice", 1)  # nothing else changed
        await store.join(entry("alice", 2))
        await store.set_reachable("alice", "r1:1", True)  # the probe of the old sign-in
        found = await store.get("alice")
        assert found is not None and found.reachable is None
        await store.set_reachable("nobody", "r1:9", True)
        assert await store.get("nobody") is None

    run(kit, tmp_path, scenario)


# -- searching and counting ----------------------------------------------------------------------

NAMES = ["ann", "anna", "annabel", "anne", "ano", "bob", "zoë", "émile", "an", "b"]


def test_prefix_search_is_sorted_and_paged_by_key(kit: PresenceKit, tmp_path: Path) -> None:
    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        for n, name in enumerate(NAMES):
            await store.join(entry(name, n))
        assert await store.prefix("ann", 2, None) == (["ann", "anna"], True)
        assert await store.prefix("ann", 2, "anna") == (["annabel", "anne"], False)
        assert await store.prefix("ann", 4, None) == (["ann", "anna", "annabel", "anne"], False)
        assert await store.prefix("ann", 10, "anne") == ([], False)
        assert await store.prefix("ann", 10, "am") == (["ann", "anna", "annabel", "anne"], False)
        assert await store.prefix("ann", 10, "annb") == (["anne"], False)  # not online: a key
        assert await store.prefix("annx", 10, None) == ([], False)
        assert await store.prefix("é", 10, None) == (["émile"], False)
        assert await store.prefix("an", 1, "zz") == ([], False)
        # the whole set, a page at a time: each name once, in code-point order
        pages: list[list[str]] = []
        after: str | None = None
        while True:
            page, more = await store.prefix("", 3, after)
            pages.append(page)
            if not more:
                break
            after = page[-1]
        assert [name for page in pages for name in page] == sorted(NAMES)
        assert all(len(page) == 3 for page in pages[:-1])

    run(kit, tmp_path, scenario)


def test_count_and_everyone_follow_joins_and_leaves(kit: PresenceKit, tmp_path: Path) -> None:
    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        for n, name in enumerate(NAMES):
            await store.join(entry(name, n))
        assert await store.count() == len(NAMES)
        assert await store.everyone(100) == sorted(NAMES)
        assert await store.everyone(3) == sorted(NAMES)[:3]
        await store.leave("anna", entry("anna", NAMES.index("anna")).epoch)
        await store.join(entry("bob", 99))  # a new sign-in is not a second name
        assert await store.count() == len(NAMES) - 1
        assert "anna" not in await store.everyone(100)
        assert await store.prefix("ann", 10, None) == (["ann", "annabel", "anne"], False)

    run(kit, tmp_path, scenario)


def test_heartbeat_and_republish_keep_entries_and_epochs(kit: PresenceKit, tmp_path: Path) -> None:
    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        await store.heartbeat()
        stale = entry("alice", 1)
        await store.join(stale)
        mine = [entry("alice", 2), entry("bob", 3, reachable=True)]
        await store.republish(mine)
        await store.republish(mine)  # again: nothing doubles
        await store.heartbeat()
        assert await store.get_many(["alice", "bob"]) == {e.name: e for e in mine}
        assert await store.count() == 2
        assert await store.leave("alice", "r1:2") is True  # its epoch was kept
        await store.republish([])

    run(kit, tmp_path, scenario)


# -- publishing --------------------------------------------------------------------------------


def test_joins_and_leaves_are_heard_by_registries_following_the_name(
    kit: PresenceKit, tmp_path: Path
) -> None:
    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        heard = await hearing(world, "alice", "zed")
        await store.join(entry("bob", 9))  # nobody follows bob
        await store.join(entry("alice", 1))
        await store.leave("alice", "r1:2")  # not its epoch: no change
        await store.leave("alice", "r1:1")
        await store.join(entry("zed", 5))  # the last one: everything before it is in
        await wait_until(lambda: len(heard) >= 3, "three changes heard")
        assert heard == [
            PresenceChange("alice", True, "r1:1", REGISTRY),
            PresenceChange("alice", False, "r1:1", REGISTRY),
            PresenceChange("zed", True, "r1:5", REGISTRY),
        ]

    run(kit, tmp_path, scenario)


# -- unavailable -------------------------------------------------------------------------------


def test_a_store_that_cannot_answer_says_store_unavailable(
    kit: PresenceKit, tmp_path: Path
) -> None:
    async def scenario(world: PresenceWorld) -> None:
        store = world.store()
        await store.join(entry("alice", 1))
        if not await world.fail():
            pytest.skip("the store cannot fail")
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.join(entry("bob", 2)),
            lambda: store.leave("alice", "r1:1"),
            lambda: store.get("alice"),
            lambda: store.get_many(["alice"]),
            lambda: store.set_reachable("alice", "r1:1", True),
            lambda: store.prefix("", 10, None),
            lambda: store.count(),
            lambda: store.everyone(10),
            lambda: store.heartbeat(),
            lambda: store.republish([entry("alice", 1)]),
        ]
        for call in calls:
            with pytest.raises(StoreUnavailable):
                await call()

    run(kit, tmp_path, scenario)
