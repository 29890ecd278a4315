"""A removed member's message that raced its removal: members that stored it first withdraw it
once they learn the removal, so every member ends with the same messages (and is told)."""

from __future__ import annotations

from uuid import UUID

from tests.unit.groups_world import User, World
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
        # The author keeps what she wrote.
        assert await mallory.bodies(group) == ["first", "second"]

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
