"""Watch lists and ``who``: what a ``watch`` answers and applies (bounded per connection and per
registry, all or nothing), the bus followed from the first watcher to the last, ``unwatch`` and
the end of a connection's watches, and ``who`` as a paged prefix search or the session's own set."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from chinwag.application.registry.watch import Watched
from chinwag.application.registry.who import OnlinePage, WhoOnline, WhoWatched, case_map
from chinwag.domain.registry.presence import (
    MAX_WATCH_ENTRIES,
    MAX_WATCH_REQUEST,
    MAX_WATCHED,
    MAX_WHO_LIMIT,
    WHO_DEFAULT,
    OnlineEntry,
)
from chinwag.domain.registry.refusals import Refusal, RefusalCode
from tests.unit.registry_world import World, client_of
from tests.unit.test_registry_fanout import Core, change, join, leave


def refused(answer: object, code: RefusalCode) -> bool:
    return isinstance(answer, Refusal) and answer.code is code


async def watching_core(below: int = 1) -> tuple[World, Core]:
    """A registry that tells watchers only (someone is online, so the mode is WATCHED)."""
    world = World()
    core = Core(world, below=below)
    await world.online("operator")
    await core.fanout.start()
    return world, core


# -- watch -------------------------------------------------------------------------------------


def test_watch_answers_who_is_online_now_and_lists_what_is_no_name() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        watcher = await world.online("watcher")
        await world.online("alice")
        world.elsewhere("bob")
        answer = await core.watches(watcher, "Alice", "bob", "carol", "", "a b", "ALICE")
        assert answer.online == ["alice", "bob"]
        assert answer.invalid == ["", "a b"]
        assert watcher.watched == {"alice", "bob", "carol"}
        assert world.bus.followed == {"alice", "bob", "carol"}
        assert world.stats.watched_names == 3 and core.index.entries == 3
        assert client_of(watcher).calls == []  # the answer is all it is told now

    asyncio.run(scenario())


def test_the_bus_follows_a_name_from_its_first_watcher_to_its_last() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        first, second = await world.online("first"), await world.online("second")
        await core.watches(first, "bob", "carol")
        await core.watches(second, "bob", "dave")
        await core.watches(first, "bob")  # again: nothing new
        assert world.bus.follows == [("follow", ("bob", "carol")), ("follow", ("dave",))]
        assert core.index.entries == 4
        assert await core.unwatch.execute(first, ["bob", "BOB", "nobody", "a b"]) is None
        assert len(world.bus.follows) == 2  # second still watches bob
        await core.unwatch.everything(second)  # its connection is gone
        assert world.bus.follows[2:] == [("unfollow", ("bob", "dave"))]
        assert second.watched is None and first.watched == {"carol"}
        assert core.index.entries == 1 and world.stats.watched_names == 1
        assert await core.unwatch.execute(first, ["carol"]) is None
        assert world.bus.followed == set() and core.index.entries == 0

    asyncio.run(scenario())


def test_watchers_hear_a_name_until_they_unwatch_it() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        watcher = await world.online("watcher")
        await core.watches(watcher, "bob")
        bob = await join(core, "bob")
        world.ticker.settle()
        assert client_of(watcher).changes == [(["bob"], [])]
        await core.unwatch.execute(watcher, ["bob"])
        assert not core.fanout.is_online("bob")  # no longer heard: forgotten
        leave(core, bob)
        world.ticker.settle()
        assert client_of(watcher).pushes == 1

    asyncio.run(scenario())


def test_a_connection_may_watch_1000_names_and_a_refused_request_applies_nothing() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        watcher = await world.online("watcher")
        for start in range(0, MAX_WATCHED - 10, MAX_WATCH_REQUEST):
            stop = min(start + MAX_WATCH_REQUEST, MAX_WATCHED - 10)
            await core.watches(watcher, *(f"u{n}" for n in range(start, stop)))
        assert watcher.watched is not None and len(watcher.watched) == MAX_WATCHED - 10
        follows = len(world.bus.follows)
        answer = await core.watch.execute(watcher, [f"v{n}" for n in range(11)])
        assert refused(answer, RefusalCode.WATCH_LIMIT)
        assert len(watcher.watched) == MAX_WATCHED - 10 and len(world.bus.follows) == follows
        # names it watches already do not count again
        await core.watches(watcher, "u1", "u2", *(f"v{n}" for n in range(10)))
        assert len(watcher.watched) == MAX_WATCHED

    asyncio.run(scenario())


def test_a_registry_holds_at_most_its_watch_entries() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        watcher = await world.online("watcher")
        core.index.entries = MAX_WATCH_ENTRIES - 2  # as if 2,000 sessions watched 999 each
        answer = await core.watch.execute(watcher, ["a", "b", "c"])
        assert refused(answer, RefusalCode.WATCH_LIMIT) and watcher.watched is None
        await core.watches(watcher, "a", "b")
        assert core.index.entries == MAX_WATCH_ENTRIES

    asyncio.run(scenario())


def test_watch_needs_a_version_3_registration_and_a_bounded_request() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        stranger = world.session("stranger")
        legacy = await world.online("legacy", version=2)
        watcher = await world.online("watcher")
        assert refused(await core.watch.execute(stranger, ["bob"]), RefusalCode.NOT_REGISTERED)
        assert refused(await core.watch.execute(legacy, ["bob"]), RefusalCode.BAD_REQUEST)
        assert refused(await core.unwatch.execute(legacy, ["bob"]), RefusalCode.BAD_REQUEST)
        many = [f"u{n}" for n in range(MAX_WATCH_REQUEST + 1)]
        assert refused(await core.watch.execute(watcher, many), RefusalCode.BAD_REQUEST)
        assert core.index.entries == 0 and world.bus.follows == []

    asyncio.run(scenario())


def test_a_watch_while_the_store_is_away_is_busy_and_leaves_nothing_behind() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        watcher = await world.online("watcher")
        world.presence.fail = True
        answer = await core.watch.execute(watcher, ["bob", "carol"])
        assert refused(answer, RefusalCode.BUSY)
        assert watcher.watched is None and core.index.entries == 0
        assert core.index.reserved == 0 and not core.index.follows("bob")
        assert world.bus.followed == set()  # followed for the read, unfollowed again
        world.presence.fail = False
        world.bus.fail = True
        assert refused(await core.watch.execute(watcher, ["bob"]), RefusalCode.BUSY)
        assert core.index.entries == 0 and core.index.reserved == 0

    asyncio.run(scenario())


def test_the_answer_and_the_pushes_agree_when_a_change_comes_during_the_read() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        early, late = await world.online("early"), await world.online("late")
        await core.watches(early, "bob")
        world.presence.hold()
        watching = asyncio.ensure_future(core.watch.execute(late, ["bob"]))
        await asyncio.sleep(0)  # the read is on its way
        assert core.index.reserved == 1 and core.index.entries == 1
        world.elsewhere("bob")
        world.bus.hear(change("bob", True, "r2:1"))  # heard before the read came back
        world.presence.let_go()
        answer = await watching
        assert isinstance(answer, Watched) and answer.online == ["bob"]
        world.ticker.settle()
        assert client_of(early).changes == [(["bob"], [])]
        assert client_of(late).calls == []  # its answer said so already
        world.bus.hear(change("bob", False, "r2:1"))
        world.ticker.settle()
        assert client_of(late).changes == [([], ["bob"])]
        assert client_of(late).seen_online() == set()

    asyncio.run(scenario())


def test_a_read_older_than_a_change_heard_meanwhile_does_not_undo_it() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        early, late = await world.online("early"), await world.online("late")
        world.elsewhere("bob")
        await core.watches(early, "bob")
        entries, gate = world.presence.entries, asyncio.Event()

        async def stale_read(names: Iterable[str]) -> dict[str, OnlineEntry]:
            seen = {name: entries[name] for name in names if name in entries}
            await gate.wait()  # bob leaves while this answer is on its way
            return seen

        world.presence.get_many = stale_read  # type: ignore[method-assign]
        watching = asyncio.ensure_future(core.watch.execute(late, ["bob"]))
        await asyncio.sleep(0)
        entries.pop("bob")
        world.bus.hear(change("bob", False, "r2:1"))
        gate.set()
        answer = await watching
        assert isinstance(answer, Watched) and answer.online == []
        world.ticker.settle()
        assert client_of(early).changes == [([], ["bob"])]  # told once, not undone
        assert not core.fanout.is_online("bob")

    asyncio.run(scenario())


def test_a_read_that_finds_what_the_bus_missed_tells_the_other_watchers() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        early, late = await world.online("early"), await world.online("late")
        await core.watches(early, "bob")
        world.elsewhere("bob")  # bob came while the bus was away: nobody heard it
        assert (await core.watches(late, "bob")).online == ["bob"]
        world.ticker.settle()
        assert client_of(early).changes == [(["bob"], [])]
        assert client_of(late).calls == []

    asyncio.run(scenario())


# -- who ---------------------------------------------------------------------------------------


def test_who_with_a_prefix_pages_the_networks_online_names() -> None:
    async def scenario() -> None:
        world = World()
        asker = await world.online("asker")
        for n in range(7):
            await world.online(f"bob{n}")
        world.elsewhere("bobby")
        world.elsewhere("carol")
        who = WhoOnline(world.presence, world.stats)
        page = await who.execute(asker, "BOB", limit=5)
        assert page == OnlinePage("bob", ["bob0", "bob1", "bob2", "bob3", "bob4"], True)
        page = await who.execute(asker, "bob", limit=5, after="Bob4")
        assert page == OnlinePage("bob", ["bob5", "bob6", "bobby"], False)
        page = await who.execute(asker, "")
        assert isinstance(page, OnlinePage) and len(page.online) == 10 and not page.more
        assert world.stats.who_queries == 3

    asyncio.run(scenario())


def test_who_is_bounded_and_for_registered_version_3_sessions() -> None:
    async def scenario() -> None:
        world = World()
        asker = await world.online("asker")
        legacy = await world.online("legacy", version=2)
        who = WhoOnline(world.presence, world.stats)
        for limit in (0, MAX_WHO_LIMIT + 1):
            assert refused(await who.execute(asker, "a", limit=limit), RefusalCode.BAD_REQUEST)
        assert refused(await who.execute(asker, "a" * 33), RefusalCode.BAD_REQUEST)
        assert refused(await who.execute(legacy, "a"), RefusalCode.BAD_REQUEST)
        stranger = world.session("stranger")
        assert refused(await who.execute(stranger, "a"), RefusalCode.NOT_REGISTERED)
        for n in range(WHO_DEFAULT + 5):
            world.elsewhere(f"x{n:03d}")
        page = await who.execute(asker, "x")
        assert isinstance(page, OnlinePage) and len(page.online) == WHO_DEFAULT and page.more
        world.presence.fail = True
        assert refused(await who.execute(asker, "x"), RefusalCode.BUSY)

    asyncio.run(scenario())


def test_a_prefix_is_case_mapped_like_a_name_even_when_it_is_no_whole_name() -> None:
    assert case_map("BoB") == "bob"
    assert case_map("ＡＬＩＣＥ") == "alice"  # full-width
    assert case_map("a b") == "a b"  # no name, but still a prefix: it simply finds nobody


def test_who_without_a_prefix_is_the_sessions_own_presence_set() -> None:
    async def scenario() -> None:
        world, core = await watching_core()
        watcher = await world.online("watcher")
        world.elsewhere("bob")
        await core.watches(watcher, "bob", "carol")
        who = WhoWatched(core.fanout, world.stats)
        assert await who.execute(watcher) == ["bob", "watcher"]
        await join(core, "carol")
        assert await who.execute(watcher) == ["bob", "carol", "watcher"]
        world.ticker.settle()
        assert client_of(watcher).pushes == 0  # the answer had it: nothing left to push
        legacy = await world.online("legacy", version=2)
        everyone = await who.execute(legacy)
        assert everyone == sorted(world.presence.entries) and world.bus.all
        assert refused(await who.execute(world.session("x")), RefusalCode.NOT_REGISTERED)

    asyncio.run(scenario())
