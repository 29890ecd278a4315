"""A removed member's message that raced its removal: members that stored it first withdraw it
once they learn the removal, so every member ends with the same messages (and is told)."""

from __future__ import annotations

import asyncio
from functools import partial
from uuid import UUID

from chinwag.domain.group import ChangeKind
from tests.unit.groups_world import User, World, post
from tests.unit.test_groups_intake_conflicts import gets, joined
from tests.unit.test_groups_intake_conflicts import run as run_one
from tests.unit.test_groups_sync import all_know, run


async def holds(user: User, group: UUID, bodies: list[str]) -> bool:
    return await user.bodies(group) == bodies


def test_a_post_that_raced_its_authors_removal_is_withdrawn_where_it_arrived_first() -> None:
    async def scenario(world: World) -> None:
        alice, bob, carol, mallory = await world.online("alice", "bob", "carol", "mallory")
        group = (await alice.groups.create("team", ["bob", "carol", "mallory"])).id
        members = [alice, bob, carol, mallory]
        await world.until(lambda: all_know(members, group))
        await mallory.post.execute(group, "first")
        await world.until(lambda: holds(alice, group, ["first"]))
        world.cut("alice")  # alice hears nothing while mallory's second post reaches bob
        carol.transport.cut.add("mallory")
        mallory.transport.cut.add("carol")
        await mallory.post.execute(group, "second")
        await world.until(lambda: holds(bob, group, ["first", "second"]))
        removed = await alice.groups.remove(group, "mallory")  # she counted mallory's first only
        assert removed.version == 1
        world.heal()
        await alice.reconnect()
        await world.until(lambda: holds(bob, group, ["first"]))
        await world.quiet()
        for user in (alice, bob, carol):
            assert await user.bodies(group) == ["first"], user.name
        (withdrawn, why), *more = bob.events.withdrawn
        assert not more and withdrawn.body == "second"
        assert why == "sent after mallory was removed from team"
        assert alice.events.withdrawn == [] and carol.events.withdrawn == []
        # The author withdraws it too, and is told: her numbering goes on from her cut.
        await world.until(lambda: holds(mallory, group, ["first"]))
        assert [m.body for m, _ in mallory.events.withdrawn] == ["second"]

    run(scenario)


def test_a_member_removed_and_added_again_keeps_what_counted() -> None:
    async def scenario(world: World) -> None:
        alice, bob, mallory = await world.online("alice", "bob", "mallory")
        group = (await alice.groups.create("team", ["bob", "mallory"])).id
        await world.until(lambda: all_know([alice, bob, mallory], group))
        await mallory.post.execute(group, "before")
        await world.until(lambda: holds(bob, group, ["before"]))
        await world.until(lambda: holds(alice, group, ["before"]))
        await alice.groups.remove(group, "mallory")
        await alice.groups.add(group, "mallory")
        await world.until(lambda: all_know([mallory], group))
        await world.quiet()
        assert await bob.bodies(group) == ["before"]
        assert bob.events.withdrawn == []

    run(scenario)


def test_a_member_added_again_after_a_post_past_her_cut_is_heard_again() -> None:
    """mallory's "second" was past her removal's cut; once added again, her next post must
    not wait for ever behind that number at every member."""

    async def scenario(world: World) -> None:
        alice, bob, mallory = await world.online("alice", "bob", "mallory")
        group = (await alice.groups.create("team", ["bob", "mallory"])).id
        await world.until(lambda: all_know([alice, bob, mallory], group))
        await mallory.post.execute(group, "first")
        await world.until(lambda: holds(alice, group, ["first"]))
        world.cut("mallory")
        await mallory.post.execute(group, "second")  # reaches nobody
        await alice.groups.remove(group, "mallory")
        world.heal()
        await mallory.reconnect()
        await world.until(lambda: holds(mallory, group, ["first"]))  # withdrawn at her end
        await alice.groups.add(group, "mallory")
        await world.until(lambda: all_know([mallory], group))
        await world.quiet()
        await mallory.post.execute(group, "third")
        for user in (alice, bob, mallory):
            await world.until(partial(holds, user, group, ["first", "third"]))

    run(scenario)


def test_a_removal_committed_while_a_message_of_the_removed_member_is_being_taken() -> None:
    """The intake judged mallory's message against the chain before her removal and stores it
    after the removal came: the withdrawal waits for the group's lock, then takes it out."""

    async def scenario(bob: User) -> None:
        log = await joined(bob)
        gate, entered = asyncio.Event(), asyncio.Event()
        real = bob.trust.group_member

        async def slow(author: str, key: bytes) -> bool:
            entered.set()
            await gate.wait()
            return await real(author, key)

        bob.intake._pins.group_member = slow  # type: ignore[method-assign,assignment]
        first = post(log.id, "mallory", 1, "counts")
        taking = asyncio.create_task(gets(bob, "mallory", first))
        await entered.wait()
        removal = log.then(ChangeKind.REMOVE, member="mallory", upto=0)
        await bob.receive.group_changes_received("alice", [removal])  # its withdrawal waits
        gate.set()
        assert list((await taking).committed) == [first.id]  # judged before the removal
        await bob.withdrawals.idle()
        assert await bob.bodies(log.id) == []  # as every other member, who refuse it
        assert [m.id for m, _ in bob.events.withdrawn] == [first.id]

    run_one(scenario)
