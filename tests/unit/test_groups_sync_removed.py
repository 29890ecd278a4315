"""A former member is given the log up to its departure, and nothing else: it learns it was
removed (so the messages sent to it while it was a member settle: it refuses them), and learns
nothing of what the group did afterwards.

Before this was fixed, a member added and removed while it was away never learnt the group: its
have got no answer (it was not a member), and the delivery to it stayed queued for good.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from uuid import UUID

from chinwag.application.groups.answers import NO_HEAD
from chinwag.application.ports.peer_transport import GroupHave
from chinwag.domain.message import MessageState
from tests.unit.groups_world import User, World, frames, record_calls


def run(test: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        try:
            await asyncio.wait_for(test(world), timeout=20)
        finally:
            await world.close()

    asyncio.run(main())


async def delivery_to(user: User, message: UUID, recipient: str) -> MessageState | None:
    for delivery in await user.messages.deliveries(message):
        if delivery.recipient == recipient:
            return delivery.state
    return None


def test_a_member_added_and_removed_while_away_learns_it_and_the_delivery_to_it_settles() -> None:
    async def scenario(world: World) -> None:
        alice, bob, _ = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("friends", ["carol"])).id
        await world.quiet()
        world.cut("bob")
        await alice.trust.outgoing("bob", bob.key)
        await alice.groups.add(group, "bob")  # bob, out of reach, never hears of it
        sent = await alice.post.execute(group, "hello while bob was in")
        removed = await alice.groups.remove(group, "bob")
        renamed = await alice.groups.rename(group, "without bob")
        await world.quiet()
        mark = len(alice.transport.sent)
        world.heal()
        await bob.reconnect()  # the courier tries again; bob asks alice about the group
        await world.until(lambda: settled(alice, sent.id, "bob"), timeout=10)
        assert await delivery_to(alice, sent.id, "bob") is MessageState.FAILED
        assert await delivery_to(alice, sent.id, "carol") is MessageState.DELIVERED
        state, left = await bob.groups.get(group)
        assert left and state.head == removed.head  # up to his removal: not the rename
        assert renamed.version == state.version + 1
        assert await bob.bodies(group) == []
        # From alice's sync: the log up to his removal, never a have, never a message.
        logs = frames(alice, "changes", "bob", since=mark)
        assert logs and all(c.version <= removed.version for log in logs for c in log)
        assert frames(alice, "have", "bob", since=mark) == []
        assert {i for ids in frames(alice, "messages", "bob", since=mark) for i in ids} <= {
            sent.id
        }  # the courier's own tries

    run(scenario)


async def settled(user: User, message: UUID, recipient: str) -> bool:
    return await delivery_to(user, message, recipient) in (
        MessageState.DELIVERED,
        MessageState.FAILED,
    )


def test_a_former_member_who_knows_of_its_removal_costs_nothing_when_it_asks_again() -> None:
    async def scenario(world: World) -> None:
        alice, _, carol = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("friends", ["bob", "carol"])).id
        await alice.post.execute(group, "before")
        removed = await alice.groups.remove(group, "carol")
        await alice.groups.rename(group, "without carol")
        await alice.post.execute(group, "after")
        await world.quiet()
        state, left = await carol.groups.get(group)
        assert left and state.head == removed.head
        lookups = record_calls(alice.directory, "lookup")
        mark = len(alice.transport.sent)
        # carol says how far she is (her removal), then claims to know nothing.
        await alice.receive.group_have_received(
            "carol", GroupHave(group, removed.version, removed.head, {}, reply=False)
        )
        await world.quiet()
        assert alice.transport.sent[mark:] == [] and lookups == []
        await alice.receive.group_have_received(
            "carol", GroupHave(group, 0, NO_HEAD, {"alice": 0}, reply=False)
        )
        await world.quiet()
        kinds = [kind for kind, to, _ in alice.transport.sent[mark:] if to == "carol"]
        assert kinds == ["changes"]
        (given,) = frames(alice, "changes", "carol", since=mark)
        assert [c.version for c in given] == list(range(removed.version + 1))
        assert await carol.bodies(group) == ["before"]

    run(scenario)
