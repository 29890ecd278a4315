"""How much sync does for one peer: no rounds without progress, a bucket of tokens per peer.

Every test counts frames or lookups and runs on the users' manual clocks (a bucket fills again
only when a test moves a clock on). Before this was fixed, a peer deferring history from more
authors than one answer's budget covered drew a new round at once, for ever (thousands of
frames a second), and a peer sending haves of made-up groups drew one registry lookup each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from chinwag.application.groups import SyncSettings
from chinwag.application.groups.answers import NO_HEAD
from chinwag.application.ports.peer_transport import GroupHave, Intake
from chinwag.domain.message import Message
from tests.unit.groups_world import User, World, frames, post, record_calls


def run(test: Callable[[World], Awaitable[None]], sync: SyncSettings) -> None:
    async def main() -> None:
        world = World(sync)
        try:
            await asyncio.wait_for(test(world), timeout=20)
        finally:
            await world.close()

    asyncio.run(main())


async def turns(count: int) -> None:
    """Let the event loop run ``count`` times round: a bounded stretch of "time"."""
    for _ in range(count):
        await asyncio.sleep(0)


def made_up(n: int) -> UUID:
    return UUID(int=0xBAD0000 + n)


async def has(user: User, group: UUID, count: int) -> bool:
    return len(await user.bodies(group)) >= count


# --- (7) no round without progress ------------------------------------------------------------


def test_a_peer_that_takes_nothing_gets_one_batch_per_author_and_no_new_round(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(world: World) -> None:
        alice, bob, carol, dave = await world.online("alice", "bob", "carol", "dave")
        group = (await alice.groups.create("four", ["bob", "carol", "dave"])).id
        await world.quiet()
        world.cut("bob")
        for n in range(3):
            for author in (alice, carol, dave):
                await author.post.execute(group, f"{author.name} {n}")
        await world.until(lambda: has(alice, group, 9))
        for user in (alice, carol, dave):
            await user.courier.close()  # from now on only alice's sync hands history over
        world.heal()

        async def defer_all(
            peer: str, me: str, messages: Sequence[Message], now: datetime
        ) -> Intake:
            return Intake(committed=[], deferred={m.id: "over_quota" for m in messages})

        monkeypatch.setattr(bob.intake, "take", defer_all)
        mark = len(alice.transport.sent)
        bob.sync.request("alice", group)
        await turns(500)
        # One batch per author (three authors, more than the budget of two covers), each
        # deferred: nothing was taken, so the round ends there.
        assert len(frames(alice, "messages", "bob", since=mark)) == 3
        await world.quiet()
        assert len(frames(alice, "messages", "bob", since=mark)) == 3
        assert frames(alice, "have", "bob", since=mark) == []

    run(scenario, SyncSettings(interval=3600.0, budget=2, batch=1))


def test_a_round_goes_on_past_the_budget_only_while_the_peer_has_tokens() -> None:
    async def scenario(world: World) -> None:
        alice, bob, carol = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("friends", ["bob", "carol"])).id
        await world.until(lambda: knows(carol, group))
        await carol.sign_out()
        for n in range(20):
            await alice.post.execute(group, f"m{n}")
        await world.until(lambda: has(bob, group, 20))
        await alice.sign_out()
        mark = len(bob.transport.sent)
        await carol.sign_in()
        await world.quiet()
        # Each answer, and each round past a budget of 2, costs one of carol's 3 tokens at bob.
        batches = frames(bob, "messages", "carol", since=mark)
        assert 0 < len(batches) <= 3 and not await has(carol, group, 20)
        for _ in range(20):  # time passes: the buckets fill again, and carol asks
            if await has(carol, group, 20):
                break
            for user in (bob, carol):
                user.clock.advance(timedelta(seconds=3))
            carol.sync.request("bob", group)
            await world.quiet()
        assert await carol.by_author(group) == {"alice": list(range(1, 21))}

    run(scenario, SyncSettings(interval=0.0, budget=2, batch=2, burst=3, rate=1.0))


async def knows(user: User, group: UUID) -> bool:
    return await user.book.view(group) is not None


# --- (11) a bucket per peer, and nothing looked up for nothing --------------------------------


def test_made_up_groups_from_one_peer_cost_its_bucket_not_one_lookup_each() -> None:
    async def scenario(world: World) -> None:
        bob, eve = await world.online("bob", "eve")
        await bob.receive.authorize("eve", eve.key)  # she reached bob: pinned, a stranger
        lookups = record_calls(bob.directory, "lookup")
        for n in range(50):
            have = GroupHave(made_up(n), 0, NO_HEAD, {}, reply=False)
            await bob.receive.group_have_received("eve", have)
        await world.quiet()
        assert len(lookups) == 5 and len(frames(bob, "have", "eve")) == 5
        # Messages of made-up groups wait (unknown_group), and would make bob ask: no token.
        location = await eve.directory.lookup("bob")
        waiting = [post(made_up(100 + n), "eve", 1) for n in range(50)]
        report = await eve.transport.deliver("bob", location, waiting)
        assert set(report.deferred.values()) == {"unknown_group"}
        await world.quiet()
        assert len(lookups) == 5
        bob.clock.advance(timedelta(seconds=1))  # one token back
        for n in range(200, 210):
            have = GroupHave(made_up(n), 0, NO_HEAD, {}, reply=False)
            await bob.receive.group_have_received("eve", have)
        await world.quiet()
        assert len(lookups) == 6 and len(frames(bob, "have", "eve")) == 6

    run(scenario, SyncSettings(interval=0.0, burst=5, rate=1.0))


def test_a_member_in_step_is_answered_without_a_lookup() -> None:
    async def scenario(world: World) -> None:
        alice, bob = await world.online("alice", "bob")
        group = (await alice.groups.create("pair", ["bob"])).id
        await alice.post.execute(group, "hi")
        await bob.post.execute(group, "hello")
        await world.until(lambda: has(alice, group, 2))
        await world.until(lambda: has(bob, group, 2))
        await world.quiet()
        view = await bob.book.view(group)
        assert view is not None
        authors = dict(await bob.progress.of(group))
        have = GroupHave(group, view.head.version, view.head.head, authors, reply=False)
        lookups = record_calls(alice.directory, "lookup")
        mark = len(alice.transport.sent)
        for _ in range(5):
            await alice.receive.group_have_received("bob", have)
            await world.quiet()
        assert lookups == [] and alice.transport.sent[mark:] == []

    run(scenario, SyncSettings(interval=0.0))


def test_a_peer_out_of_tokens_is_still_answered_by_the_others() -> None:
    async def scenario(world: World) -> None:
        alice, bob, eve = await world.online("alice", "bob", "eve")
        group = (await alice.groups.create("pair", ["bob"])).id
        await world.until(lambda: knows(bob, group))
        await alice.receive.authorize("eve", eve.key)
        for n in range(10):  # eve spends her tokens at alice
            have = GroupHave(made_up(n), 0, NO_HEAD, {}, reply=False)
            await alice.receive.group_have_received("eve", have)
        await world.quiet()
        mark = len(alice.transport.sent)
        behind = GroupHave(group, 0, NO_HEAD, {}, reply=True)  # bob says he lost it all
        await alice.receive.group_have_received("bob", behind)
        await world.quiet()
        assert [kind for kind, to, _ in alice.transport.sent[mark:]] == ["changes"]

    run(scenario, SyncSettings(interval=0.0, burst=2, rate=1.0))
