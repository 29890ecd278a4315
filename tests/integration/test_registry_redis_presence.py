"""What only the Redis presence store has (design §4), against a real ``redis-server``: several
registries share one online set, a registry's names expire with its liveness key and are swept
with their leaves published, and after Redis came back (from its AOF, or empty) the entries and
their epochs are right again, republished without doubling.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from chinwag.adapters.registry.store.redis_presence_scripts import (
    REGS,
    decode_change,
    encode_change,
    entry_key,
    online_key,
    registry_key,
)
from chinwag.domain.registry.presence import OnlineEntry, PresenceChange
from tests.integration.redis_presence_kit import (
    WAIT,
    RedisNetwork,
    answering,
    client,
    redis_network,
)


def entry(name: str, n: int, registry: str, reachable: bool | None = None) -> OnlineEntry:
    return OnlineEntry(
        name, bytes([n]) * 32, "203.0.113.9", 7000 + n, registry, f"{registry}:{n}", 3, reachable
    )


def ignore(_: object = None) -> None:
    return None


def run(tmp_path: Path, scenario: Callable[[RedisNetwork], Awaitable[None]]) -> None:
    async def main() -> None:
        async with redis_network(tmp_path) as network:
            await scenario(network)

    asyncio.run(main())


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        await asyncio.sleep(0.01)


async def hear(heard: list[PresenceChange], n: int) -> None:
    """Wait until ``n`` changes were heard (the last one published last: an unwanted change
    before it would be in ``heard`` by then, as Redis delivers one publisher's in order)."""

    async def enough() -> bool:
        return len(heard) >= n

    await wait_until(enough, f"{n} changes heard")


def test_two_registries_share_one_online_set(tmp_path: Path) -> None:
    async def scenario(network: RedisNetwork) -> None:
        one, two = network.store("r1"), network.store("r2")
        await one.heartbeat()
        await two.heartbeat()
        alice, anna, bob = entry("alice", 1, "r1"), entry("anna", 2, "r2"), entry("bob", 3, "r2")
        for store, held in ((one, alice), (two, anna), (two, bob), (one, entry("ann", 4, "r1"))):
            assert await store.join(held) is None
        for store in (one, two):
            assert await store.get_many(["alice", "anna", "bob"]) == {
                "alice": alice,
                "anna": anna,
                "bob": bob,
            }
            assert await store.count() == 4
            # each registry's names merged in order, paged across both
            assert await store.prefix("an", 1, None) == (["ann"], True)
            assert await store.prefix("an", 1, "ann") == (["anna"], False)
            assert await store.everyone(10) == ["alice", "ann", "anna", "bob"]
        # alice signs in on r2: r1's entry is the holder replaced, and counts once
        moved = entry("alice", 5, "r2")
        assert await two.join(moved) == alice
        assert await one.get("alice") == moved
        assert await one.count() == 4
        assert await one.leave("alice", alice.epoch) is False  # r1's late leave undoes nothing
        raw = client(network.redis.url)
        try:
            assert await raw.zrange(online_key("r1"), 0, -1) == [b"ann"]
            assert await raw.zrange(online_key("r2"), 0, -1) == [b"alice", b"anna", b"bob"]
        finally:
            await raw.aclose()
        assert await one.leave("alice", moved.epoch) is True  # whoever leaves with its epoch
        assert await two.get("alice") is None
        assert await two.count() == 3

    run(tmp_path, scenario)


def test_a_dead_registrys_names_vanish_and_are_swept(tmp_path: Path) -> None:
    """A registry that stops heartbeating counts for nobody once its key expired; the sweep
    then deletes its entries and publishes their leaves, once."""

    async def scenario(network: RedisNetwork) -> None:
        gone: list[str] = []
        live = network.store("r1")
        dying = network.store("r2", idle_timeout=0.3, on_gone=lambda: gone.append("r2"))
        await live.heartbeat()
        await dying.heartbeat()
        carol, dave = entry("carol", 1, "r2"), entry("dave", 2, "r2")
        await dying.join(carol)
        await dying.join(dave)
        await live.join(entry("erin", 3, "r1"))
        assert await live.count() == 3
        heard: list[PresenceChange] = []
        listener = network.listener()
        listener.listen(heard.append, ignore, ignore)
        await listener.follow(["carol", "dave"])

        async def dead() -> bool:
            return await live.get("carol") is None

        await wait_until(dead, "r2's names no longer count")  # no heartbeat since
        assert await live.get_many(["carol", "dave", "erin"]) == {"erin": entry("erin", 3, "r1")}
        assert await live.count() == 1
        assert await live.prefix("", 10, None) == (["erin"], False)
        assert heard == []  # expiry alone publishes nothing
        # dave moves to r1: the dead holder is no holder to end
        assert await live.join(entry("dave", 4, "r1")) is None
        assert await live.sweep() == 1  # carol only: dave is r1's now
        assert await live.sweep() == 0  # r2 is out of cw:regs: swept once
        await hear(heard, 2)
        assert heard == [
            PresenceChange("dave", True, "r1:4", "r1"),
            PresenceChange("carol", False, carol.epoch, "r2"),  # dave's was no leave
        ]
        raw = client(network.redis.url)
        try:
            assert await raw.exists(entry_key("carol"), online_key("r2")) == 0
            assert await raw.smembers(REGS) == {b"r1"}
        finally:
            await raw.aclose()
        assert await live.get("dave") == entry("dave", 4, "r1")
        # r2 was only paused: its next heartbeat finds its key gone and asks for a republish
        await dying.heartbeat()
        assert gone == ["r2"]
        await dying.republish([carol])
        assert await live.get("carol") == carol
        assert await live.count() == 3

    run(tmp_path, scenario)


def test_after_a_redis_restart_entries_are_right_again(tmp_path: Path) -> None:
    """Restarted cleanly, Redis reads its AOF back and a republish changes and publishes
    nothing; back empty (its files lost), the heartbeat says so and a republish fills it."""

    async def scenario(network: RedisNetwork) -> None:
        gone: list[str] = []
        store = network.store("r1", on_gone=lambda: gone.append("r1"))
        await store.heartbeat()
        mine = [entry("alice", 1, "r1"), entry("bob", 2, "r1", reachable=True)]
        for held in mine:
            await store.join(held)

        await asyncio.to_thread(network.redis.restart)  # SIGTERM: the AOF is complete
        assert await answering(store) == 2
        assert await store.get_many(["alice", "bob"]) == {held.name: held for held in mine}
        heard: list[PresenceChange] = []
        listener = network.listener()
        listener.listen(heard.append, ignore, ignore)
        await listener.follow(["alice", "bob", "zed"])
        await store.heartbeat()
        await store.republish(mine)
        await store.join(entry("zed", 3, "r1"))  # the last one: anything before it is in
        await hear(heard, 1)
        assert heard == [PresenceChange("zed", True, "r1:3", "r1")]  # nothing republished
        assert gone == []

        await asyncio.to_thread(network.redis.kill)
        shutil.rmtree(network.redis.directory / "appendonlydir")  # back empty
        await asyncio.to_thread(network.redis.restart)
        assert await answering(store) == 0
        await store.heartbeat()
        assert gone == ["r1"]
        listener = network.listener()  # the old one's connection died with Redis
        heard = []
        listener.listen(heard.append, ignore, ignore)
        await listener.follow(["alice", "bob"])
        await store.republish(mine)
        assert await store.count() == 2
        assert await store.get_many(["alice", "bob"]) == {held.name: held for held in mine}
        assert await store.leave("bob", "r1:2") is True  # its epoch was kept
        await hear(heard, 3)
        assert heard == [
            PresenceChange("alice", True, "r1:1", "r1"),
            PresenceChange("bob", True, "r1:2", "r1"),
            PresenceChange("bob", False, "r1:2", "r1"),
        ]

    run(tmp_path, scenario)


def test_keep_alive_holds_this_registry_and_sweeps_a_dead_one(tmp_path: Path) -> None:
    async def scenario(network: RedisNetwork) -> None:
        keeper = network.store("r1", idle_timeout=0.3)
        dead = network.store("r2", idle_timeout=0.3)
        await dead.heartbeat()
        await dead.join(entry("carol", 1, "r2"))
        raw = client(network.redis.url)

        async def alive() -> bool:
            return bool(await raw.exists(registry_key("r1")))

        async def swept() -> bool:
            return not await raw.exists(entry_key("carol"))

        task = asyncio.create_task(keeper.keep_alive())
        try:
            await wait_until(alive, "r1's first heartbeat")
            await keeper.join(entry("alice", 2, "r1"))
            loop = asyncio.get_running_loop()
            since = loop.time()

            async def later() -> bool:  # long past r1's first heartbeat's 0.3 s
                return loop.time() > since + 3 * 0.3 and await swept()

            await wait_until(later, "r2's names swept, and 0.9 s gone")
            # r1's heartbeats kept it counting all along
            assert await keeper.get_many(["alice", "carol"]) == {"alice": entry("alice", 2, "r1")}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await raw.aclose()

    run(tmp_path, scenario)


def test_a_change_reads_back_as_it_was_written() -> None:
    for change in (
        PresenceChange("zoë", True, "r1:7", "r1"),
        PresenceChange("bob", False, "a-b:1", "a-b"),
    ):
        assert decode_change(encode_change(change)) == change
    assert decode_change('{"n": "x", "on": true, "e": "r:1", "r": "r"}').online is True
    for bad in (b"", b"[]", b'{"n": "x"}', b'{"n": 1, "on": 1, "e": "e", "r": "r"}'):
        with pytest.raises(ValueError, match="not a presence change"):
            decode_change(bad)
    with pytest.raises(ValueError, match="not a presence change"):
        decode_change(b'{"n": "x", "on": 2, "e": "e", "r": "r"}')
