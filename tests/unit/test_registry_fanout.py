"""The presence fan-out: a change reaches exactly the sessions told about that name (its
watchers; everyone while few are online; every legacy session), once, coalesced, and the mode
switches with a margin, at most once per 10 s, each watching session getting its whole set."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from chinwag.application.registry.fanout import PresenceFanOut
from chinwag.application.registry.outbox import PresenceOutbox, PresenceOutboxes
from chinwag.application.registry.sessions import ClientSession
from chinwag.application.registry.unwatch import Unwatch
from chinwag.application.registry.watch import Watch, Watched, WatchIndex
from chinwag.domain.registry.presence import (
    MODE_SWITCH_EVERY,
    PUSH_BURST,
    PUSH_RATE,
    PresenceChange,
    PresenceMode,
)
from tests.unit.registry_world import World, client_of

EVERYONE, WATCHED = PresenceMode.EVERYONE, PresenceMode.WATCHED


@dataclass
class Core:
    """The fan-out and the watch use cases over one world; coroutines the fan-out spawns wait
    in ``spawned`` for the test to run them."""

    world: World
    below: int = 500
    spawned: list[Coroutine[Any, Any, None]] = field(default_factory=list)
    index: WatchIndex = field(init=False)
    outboxes: PresenceOutboxes = field(init=False)
    fanout: PresenceFanOut = field(init=False)
    watch: Watch = field(init=False)
    unwatch: Unwatch = field(init=False)

    def __post_init__(self) -> None:
        w = self.world
        self.index = WatchIndex()
        self.outboxes = PresenceOutboxes(w.ticker, w.stats)
        self.fanout = PresenceFanOut(
            w.clients,
            self.index,
            self.outboxes,
            w.presence,
            w.bus,
            w.ticker,
            w.stats,
            below=self.below,
            spawn=self.spawned.append,
        )
        w.bus.listen(self.fanout.heard, lambda note: None, self.fanout.on_resync)
        self.watch = Watch(self.index, self.fanout, w.presence, w.bus, w.stats)
        self.unwatch = Unwatch(self.index, self.fanout, w.stats)

    async def run_spawned(self) -> int:
        ran = 0
        while self.spawned:
            await self.spawned.pop(0)
            ran += 1
        return ran

    def close(self) -> None:
        """Stop the mode checks; drop the checks spawned and never run."""
        self.fanout.stop()
        for coro in self.spawned:
            coro.close()
        self.spawned.clear()

    async def watches(self, session: ClientSession, *names: str) -> Watched:
        answer = await self.watch.execute(session, list(names))
        assert isinstance(answer, Watched), answer
        return answer


async def join(core: Core, name: str, version: int = 3) -> ClientSession:
    """``name`` signs in here: online in the store and told to the fan-out."""
    session = await core.world.online(name, version=version)
    core.fanout.local(change(name, True, epoch_of(session)))
    return session


def leave(core: Core, session: ClientSession) -> None:
    """``session`` signs out: offline in the store and told to the fan-out."""
    assert session.registration is not None
    name = session.registration.name
    core.world.presence.entries.pop(name)
    core.world.clients.remove(session)
    session.closed = True
    core.fanout.local(change(name, False, epoch_of(session)))


def change(name: str, online: bool, epoch: str) -> PresenceChange:
    return PresenceChange(name, online, epoch, epoch.split(":")[0])


def epoch_of(session: ClientSession) -> str:
    assert session.registration is not None
    return session.registration.epoch


def calls(sessions: list[ClientSession]) -> int:
    """Every call the sessions' clients got (pushes, whole sets, anything)."""
    return sum(len(client_of(s).calls) for s in sessions)


def test_a_change_among_10000_online_costs_its_watchers_only() -> None:
    async def scenario() -> None:
        world = World()
        core = Core(world)
        everyone = [await world.online(f"user{n:05d}") for n in range(10_000)]
        await core.fanout.start()
        assert core.fanout.mode is WATCHED and not world.bus.all
        watchers = everyone[100:107]
        for session in watchers:
            await core.watches(session, "zed", "user00000")
        assert world.bus.follows == [("follow", ("zed", "user00000"))]  # the first watcher
        assert calls(everyone) == 0

        zed = await world.online("zed")  # zed signs in here
        core.fanout.local(change("zed", True, epoch_of(zed)))
        world.ticker.settle()
        assert calls(everyone) == 7
        assert all(client_of(s).changes == [(["zed"], [])] for s in watchers)
        assert world.stats.presence_pushes == 7

        core.fanout.local(change("zed", False, epoch_of(zed)))
        world.ticker.settle()
        assert calls(everyone) == 14
        assert all(client_of(s).changes[-1] == ([], ["zed"]) for s in watchers)

        # a name nobody watches costs nobody anything, and is not even remembered
        user = everyone[5000]
        core.fanout.local(change("user05000", False, epoch_of(user)))
        world.bus.hear(change("yan", True, "r2:1"))
        world.ticker.settle()
        assert calls(everyone) == 14 and not core.fanout.is_online("user05000")

    asyncio.run(scenario())


def test_below_the_threshold_everyone_is_told_but_the_one_who_caused_it() -> None:
    async def scenario() -> None:
        world = World()
        core = Core(world)
        sessions = [await world.online(f"user{n}") for n in range(50)]
        await core.fanout.start()
        assert core.fanout.mode is EVERYONE and world.bus.all
        assert world.stats.presence_mode == "everyone"
        assert calls(sessions) == 0  # learning who is online tells nobody anything
        carol = await join(core, "carol")
        world.bus.hear(change("dave", True, "r2:1"))  # another registry's
        world.ticker.settle()
        assert all(client_of(s).changes == [(["carol", "dave"], [])] for s in sessions)
        assert client_of(carol).changes == [(["dave"], [])]  # its own join is in its presence
        assert core.fanout.presence_of(sessions[0]) == sorted(
            [f"user{n}" for n in range(50)] + ["carol", "dave"]
        )

    asyncio.run(scenario())


def test_a_legacy_session_is_told_every_change_even_when_many_are_online() -> None:
    async def scenario() -> None:
        world = World()
        core = Core(world, below=10)
        for n in range(20):
            await world.online(f"user{n:02d}")
        await core.fanout.start()
        assert core.fanout.mode is WATCHED and not world.bus.all
        old = await world.online("old", version=2)
        snapshot = await core.fanout.snapshot(old)  # what its `presence` says
        assert world.bus.all and len(snapshot) == 21 and "old" in snapshot
        new = await world.online("new")
        world.bus.hear(change("yan", True, "r2:1"))
        core.fanout.local(change("new", True, epoch_of(new)))
        world.ticker.settle()
        assert client_of(old).changes == [(["yan", "new"], [])]
        assert client_of(new).calls == []  # watches nobody
        world.clients.remove(old)
        old.closed = True
        await core.fanout.check()  # no legacy session left: back to the watched names only
        assert not world.bus.all and not core.fanout.is_online("yan")

    asyncio.run(scenario())


def test_repeats_replacements_stale_leaves_and_echoes_are_no_changes() -> None:
    async def scenario() -> None:
        world = World()
        core = Core(world, below=1)  # watch lists only
        watcher = await world.online("watcher")
        await core.fanout.start()
        assert core.fanout.mode is WATCHED
        await core.watches(watcher, "bob", "carol")
        hear = world.bus.hear
        hear(change("bob", True, "r2:1"))
        hear(change("bob", True, "r2:1"))  # the same, twice (a pattern and a name)
        hear(change("bob", True, "r3:1"))  # signed in again elsewhere: still online
        hear(change("bob", False, "r2:1"))  # the replaced sign-in's late leave
        hear(change("carol", True, "r1:9"))  # this registry's own, echoed by the bus
        world.ticker.settle()
        assert client_of(watcher).changes == [(["bob"], [])]
        hear(change("bob", False, "r3:1"))
        hear(change("bob", False, "r3:1"))
        world.ticker.settle()
        assert client_of(watcher).changes == [(["bob"], []), ([], ["bob"])]
        assert world.stats.presence_changes == {"bus": 2}

    asyncio.run(scenario())


def test_the_mode_switches_with_a_margin_at_most_once_per_10_s() -> None:
    async def scenario() -> None:
        world = World()
        core = Core(world, below=100)  # back to everyone under 100 - 10
        fanout = core.fanout
        sessions = [await world.online(f"user{n:03d}") for n in range(99)]
        legacy = await world.online("legacy", version=2)  # 100 online now
        watcher, other = sessions[0], sessions[1]
        await core.watches(watcher, "user001", "user002", "ghost")
        await fanout.start()
        assert fanout.mode is WATCHED  # 100 >= 100 at start
        assert world.bus.all  # hears everyone for the legacy session
        for s in sessions:
            client_of(s).forget()

        for n in range(3, 13):  # 90 online: within the margin, no switch
            leave(core, sessions[n])
        await fanout.check()
        assert fanout.mode is WATCHED and calls(sessions) == 0

        leave(core, sessions[13])  # 89 < 90
        await fanout.check()
        assert fanout.mode is EVERYONE and world.stats.presence_mode == "everyone"
        everyone_online = sorted(world.presence.entries)
        assert client_of(watcher).presences == [everyone_online]
        assert client_of(other).presences == [everyone_online]
        assert client_of(legacy).calls == []  # told everyone in either mode

        world.ticker.settle()
        assert client_of(other).pushes == 0  # what it had pending is in its presence
        for n in range(3, 14):  # 100 again, but the last switch was just now
            await join(core, f"late{n:03d}")
        await fanout.check()
        assert fanout.mode is EVERYONE
        world.ticker.advance(MODE_SWITCH_EVERY)
        await fanout.check()
        assert fanout.mode is WATCHED
        assert client_of(watcher).presences[-1] == ["user000", "user001", "user002"]
        assert client_of(other).presences[-1] == ["user001"]  # itself
        assert client_of(other).seen_online() == {"user001"}
        assert world.bus.all  # still, for the legacy session
        core.close()

    asyncio.run(scenario())


def test_a_mode_switch_replaces_what_was_pending_with_the_whole_set() -> None:
    async def scenario() -> None:
        world = World()
        core = Core(world, below=5)
        fanout = core.fanout
        watcher = await world.online("watcher")
        await fanout.start()
        assert fanout.mode is EVERYONE
        for n in range(PUSH_BURST + 1):
            world.elsewhere(f"r{n}", n=n)
            world.bus.hear(change(f"r{n}", True, f"r2:{n}"))
            world.ticker.settle()
        outbox = watcher.outbox
        assert isinstance(outbox, PresenceOutbox) and outbox.pending == 1  # waits a token
        await fanout.check()  # 10 online: watch lists only
        assert fanout.mode is WATCHED
        assert client_of(watcher).presences == [["watcher"]]
        world.ticker.advance(5.0)
        assert client_of(watcher).pushes == PUSH_BURST  # the pending push never left
        assert client_of(watcher).seen_online() == {"watcher"}
        assert outbox.pending == 0 and world.ticker.next_due() is not None  # the mode tick
        core.close()

    asyncio.run(scenario())


def test_the_count_is_read_every_second_by_the_ticker() -> None:
    async def scenario() -> None:
        world = World()
        core = Core(world, below=3)
        await core.fanout.start()
        for n in range(3):
            await world.online(f"user{n}")
        world.ticker.advance(0.99)
        assert core.spawned == []
        world.ticker.advance(0.01)
        world.ticker.advance(1.0)  # the first check is still waiting: not a second one
        assert len(core.spawned) == 1 and await core.run_spawned() == 1
        assert core.fanout.mode is WATCHED
        world.ticker.advance(1.0)
        assert await core.run_spawned() == 1
        core.fanout.stop()
        world.ticker.advance(5.0)
        assert core.spawned == [] and world.ticker.pending == 0

    asyncio.run(scenario())


def test_churn_of_1000_changes_a_second_costs_each_watcher_a_bounded_rate() -> None:
    async def scenario() -> None:
        world = World()
        core = Core(world, below=1)
        watchers = [await world.online(f"w{n}") for n in range(20)]
        bystander = await world.online("bystander")
        await core.fanout.start()
        assert core.fanout.mode is WATCHED
        for session in watchers:
            await core.watches(session, "flap", "flop")
        seconds, online = 3, {"flap": False, "flop": False}
        for step in range(1000 * seconds):
            name = "flap" if step % 2 else "flop"
            online[name] = not online[name]
            world.bus.hear(change(name, online[name], f"r2:{step // 4}"))  # join, leave: one
            world.ticker.advance(0.001)
        world.ticker.advance(1.0)
        truth = {name for name, on in online.items() if on}
        for session in watchers:
            client = client_of(session)
            assert client.pushes <= PUSH_BURST + PUSH_RATE * (seconds + 1)
            assert client.seen_online() == truth
        assert client_of(bystander).calls == []
        stats = world.stats
        assert stats.presence_pushes + stats.presence_coalesced == 20 * 1000 * seconds
        core.close()

    asyncio.run(scenario())


def test_a_resync_tells_what_was_missed_while_the_bus_was_away() -> None:
    async def scenario() -> None:
        world = World()
        core = Core(world, below=1)
        watcher = await world.online("watcher")
        await core.fanout.start()
        assert core.fanout.mode is WATCHED
        world.elsewhere("bob")
        assert (await core.watches(watcher, "bob", "carol")).online == ["bob"]
        # while the bus was away: bob left, carol came (the store has it, the bus lost it)
        world.presence.entries.pop("bob")
        world.elsewhere("carol", n=7)
        world.bus.resync()
        assert await core.run_spawned() == 1
        world.ticker.settle()
        assert client_of(watcher).changes == [(["carol"], ["bob"])]
        world.bus.hear(change("carol", False, "r2:7"))  # and it is heard again
        world.ticker.settle()
        assert client_of(watcher).changes[-1] == ([], ["carol"])

    asyncio.run(scenario())


def test_a_closed_session_is_told_nothing() -> None:
    async def scenario() -> None:
        world = World()
        core = Core(world, below=1)
        watcher = await world.online("watcher")
        await core.fanout.start()
        await core.watches(watcher, "bob")
        watcher.closed = True
        world.bus.hear(change("bob", True, "r2:1"))
        world.ticker.settle()
        assert client_of(watcher).calls == [] and watcher.outbox is None

    asyncio.run(scenario())
