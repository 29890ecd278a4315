"""Groups between several users: fan-out, catch-up from any member, removal, convergence.

Every user runs the application as wired in the product (book, sync, intake, the real courier
and trust policy) over the in-memory twins (:mod:`tests.unit.groups_world`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from chinwag.application.groups import SyncSettings
from chinwag.application.ports.peer_transport import GroupHave
from chinwag.domain.errors import NotAMember
from chinwag.domain.group_message import signed_bytes
from chinwag.domain.message import GroupStamp, Message, MessageState
from tests.unit.groups_world import User, World, fake_signature


def run(test: Callable[[World], Awaitable[None]], sync: SyncSettings | None = None) -> None:
    async def main() -> None:
        world = World(sync)
        try:
            await asyncio.wait_for(test(world), timeout=20)
        finally:
            await world.close()

    asyncio.run(main())


async def everyone_has(users: list[User], group: UUID, count: int) -> bool:
    for user in users:
        if len(await user.bodies(group)) < count:
            return False
    return True


def test_every_member_gets_every_post_once_and_in_each_authors_order() -> None:
    async def scenario(world: World) -> None:
        users = await world.online("alice", "bob", "carol", "dave")
        alice = users[0]
        group = (await alice.groups.create("four", ["bob", "carol", "dave"])).id
        await world.until(lambda: all_know(users, group))
        posts = [user.post.execute(group, f"{user.name} {n}") for n in range(3) for user in users]
        sent = await asyncio.gather(*posts)
        await world.until(lambda: everyone_has(users, group, 12))
        await world.quiet()
        for user in users:
            assert len(await user.bodies(group)) == 12  # exactly once
            assert await user.by_author(group) == {u.name: [1, 2, 3] for u in users}
        await world.until(lambda: all_delivered(world, sent))  # as each author sees it

    run(scenario)


async def all_know(users: list[User], group: UUID) -> bool:
    return all([await user.book.view(group) is not None for user in users])


async def all_delivered(world: World, sent: list[Message]) -> bool:
    for message in sent:
        stored = await world.users[message.sender].messages.get(message.id)
        if stored is None or stored.state is not MessageState.DELIVERED:
            return False
    return True


def test_a_member_back_after_the_author_left_catches_up_from_another_member() -> None:
    async def scenario(world: World) -> None:
        alice, bob, carol = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("friends", ["bob", "carol"])).id
        await world.until(lambda: all_know([bob, carol], group))
        await carol.sign_out()
        for n in range(5):
            await alice.post.execute(group, f"while carol was away {n}")
        await world.until(lambda: everyone_has([bob], group, 5))
        await alice.sign_out()  # the author is gone before carol is back
        await carol.sign_in()
        await world.until(lambda: everyone_has([carol], group, 5))
        assert await carol.bodies(group) == [f"while carol was away {n}" for n in range(5)]
        assert await carol.by_author(group) == {"alice": [1, 2, 3, 4, 5]}
        assert any(kind == "messages" and to == "carol" for kind, to, _ in bob.transport.sent)

    run(scenario)


def test_a_long_catch_up_goes_on_in_rounds_past_one_answers_budget() -> None:
    async def scenario(world: World) -> None:
        alice, bob, carol = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("friends", ["bob", "carol"])).id
        await world.until(lambda: all_know([bob, carol], group))
        await carol.sign_out()
        for n in range(11):
            await alice.post.execute(group, f"m{n}")
        await world.until(lambda: everyone_has([bob], group, 11))
        await alice.sign_out()
        await carol.sign_in()
        await world.until(lambda: everyone_has([carol], group, 11))
        assert await carol.by_author(group) == {"alice": list(range(1, 12))}
        batches = [
            ids
            for kind, _, ids in bob.transport.sent
            if kind == "messages" and isinstance(ids, list)
        ]
        assert batches and all(len(ids) <= 2 for ids in batches)

    run(scenario, SyncSettings(interval=0.0, batch=2, budget=4))


def test_a_member_added_while_offline_learns_the_group_and_its_history_when_back() -> None:
    async def scenario(world: World) -> None:
        alice, bob, dave = await world.online("alice", "bob", "dave")
        group = (await alice.groups.create("friends", ["bob"])).id
        await alice.post.execute(group, "before dave")
        await world.until(lambda: everyone_has([bob], group, 1))
        await alice.trust.outgoing("dave", dave.key)  # alice met dave once
        await dave.sign_out()
        state = await alice.groups.add(group, "dave")
        assert state.is_member("dave")
        await dave.sign_in()  # alice's have of a group dave does not know: he asks for it
        await world.until(lambda: everyone_has([dave], group, 1))
        assert await dave.bodies(group) == ["before dave"]
        state, left = await dave.groups.get(group)
        assert state.names == ("alice", "bob", "dave") and not left
        assert (state, False) in dave.events.groups

    run(scenario)


def test_a_removed_member_learns_it_gets_nothing_new_and_its_posts_are_refused() -> None:
    async def scenario(world: World) -> None:
        alice, bob, carol = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("friends", ["bob", "carol"])).id
        await world.until(lambda: all_know([bob, carol], group))
        removed = await alice.groups.remove(group, "carol")
        await world.until(lambda: told_left(carol, removed.head))
        assert await carol.groups.list() == [(removed, True)]
        after = await alice.post.execute(group, "after carol")
        await world.until(lambda: everyone_has([bob], group, 1))
        assert [d.recipient for d in await alice.messages.deliveries(after.id)] == ["bob"]
        with pytest.raises(NotAMember):
            await carol.post.execute(group, "still here?")
        # carol writes one anyway, under the version that removed her: everyone refuses it.
        forged = signed_by(carol, group, seq=1, version=removed.version, body="let me in")
        location = await carol.directory.lookup("bob")
        report = await carol.transport.deliver("bob", location, [forged])
        assert forged.id in report.rejected and not report.acknowledged
        # and asking for a sync gets her nothing.
        carol.sync.request("bob", group)
        await world.quiet()
        assert not any(to == "carol" for kind, to, _ in bob.transport.sent if kind == "messages")
        assert await carol.bodies(group) == []
        assert await bob.bodies(group) == ["after carol"]

    run(scenario)


async def told_left(user: User, head: bytes) -> bool:
    return any(state.head == head and left for state, left in user.events.groups)


def signed_by(user: User, group: UUID, *, seq: int, version: int, body: str) -> Message:
    draft = Message(
        id=UUID(int=0xF00 + seq),
        conversation_id=group,
        sender=user.name,
        group_id=group,
        stamp=GroupStamp(seq=seq, version=version),
        body=body,
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        state=MessageState.PENDING,
    )
    signature = fake_signature(user.key, signed_bytes(draft))
    return draft.model_copy(
        update={"stamp": GroupStamp(seq=seq, version=version, signature=signature)}
    )


def test_concurrent_changes_by_two_admins_converge_to_one_chain_on_every_member() -> None:
    async def scenario(world: World) -> None:
        users = await world.online("alice", "bob", "carol", "dave", "erin")
        alice, bob, carol, dave, erin = users
        group = (await alice.groups.create("friends", ["bob", "carol", "dave"])).id
        await alice.groups.make_admin(group, "bob")
        await alice.trust.outgoing("erin", erin.key)
        await world.until(lambda: same_head([alice, bob, carol, dave], group))
        world.cut("bob")  # bob and the others cannot reach each other: both write version 2
        await alice.groups.add(group, "erin")
        await bob.groups.rename(group, "renamed")
        removed = await bob.groups.remove(group, "dave")
        await world.quiet()
        assert await bob.head(group) != await alice.head(group)
        world.heal()
        await bob.reconnect()
        members = [alice, bob, carol, erin]
        await world.until(lambda: same_head(members, group))
        await world.until(lambda: same_head([dave], group))
        final = [await user.groups.get(group) for user in members]
        state = final[0][0]
        assert all(s == state for s, _ in final) and not any(left for _, left in final)
        assert state.name == "renamed" and state.names == ("alice", "bob", "carol", "erin")
        assert state.version == 4  # bob's branch holds more: alice's add written again on top
        chains = [await chain_of(user, group) for user in members]
        assert all(chain == chains[0] for chain in chains)
        # dave, removed at version 3, holds the chain up to his removal, not past it.
        assert await dave.groups.get(group) == (removed, True)
        assert await chain_of(dave, group) == chains[0][:4]

    run(scenario)


async def chain_of(user: User, group: UUID) -> list[bytes]:
    view = await user.book.view(group)
    assert view is not None
    return [change.hash() for change in view.chain]


async def same_head(users: list[User], group: UUID) -> bool:
    heads = {await user.head(group) for user in users}
    return len(heads) == 1 and None not in heads


def test_a_have_answer_goes_to_one_peer_once_per_interval_for_a_group() -> None:
    async def scenario(world: World) -> None:
        alice, bob = await world.online("alice", "bob")
        group = (await alice.groups.create("pair", ["bob"])).id
        await world.until(lambda: all_know([bob], group))
        await world.quiet()
        before = haves(alice, "bob")
        alice.sync.request("bob", group)  # presence at sign-in asked bob just now
        await world.quiet()
        assert haves(alice, "bob") == before
        alice.clock.advance(timedelta(seconds=11))
        alice.sync.request("bob", group)
        alice.sync.request("bob", group)
        await world.quiet()
        assert haves(alice, "bob") == before + 1
        alice.clock.advance(timedelta(seconds=11))
        alice.sync.request("bob", group)
        await world.quiet()
        assert haves(alice, "bob") == before + 2

    run(scenario, SyncSettings(interval=10.0))


def haves(user: User, to: str) -> int:
    return sum(1 for kind, peer, _ in user.transport.sent if kind == "have" and peer == to)


def test_two_members_in_step_exchange_one_have_and_nothing_else() -> None:
    async def scenario(world: World) -> None:
        alice, bob = await world.online("alice", "bob")
        group = (await alice.groups.create("pair", ["bob"])).id
        await alice.post.execute(group, "hi")
        await bob.post.execute(group, "hello")
        await world.until(lambda: everyone_has([alice, bob], group, 2))
        await world.quiet()
        mark = len(alice.transport.sent), len(bob.transport.sent)
        alice.sync.request("bob", group)
        await world.quiet()
        assert [kind for kind, _, _ in alice.transport.sent[mark[0] :]] == ["have"]
        assert bob.transport.sent[mark[1] :] == []  # in step: nothing to answer

    run(scenario)


def test_a_have_from_somebody_not_in_the_group_gets_nothing() -> None:
    async def scenario(world: World) -> None:
        alice, bob, eve = await world.online("alice", "bob", "eve")
        group = (await alice.groups.create("pair", ["bob"])).id
        await alice.post.execute(group, "secret")
        await world.until(lambda: everyone_has([bob], group, 1))
        await world.quiet()
        mark = len(alice.transport.sent)
        have = GroupHave(group, 0, bytes(32), {}, reply=True)
        await alice.receive.group_have_received("eve", have)
        await world.quiet()
        assert alice.transport.sent[mark:] == []
        assert await eve.bodies(group) == []

    run(scenario)


def test_haves_that_come_while_one_is_answered_are_folded_and_nothing_is_sent_twice() -> None:
    async def scenario(world: World) -> None:
        alice, bob = await world.online("alice", "bob")
        group = (await alice.groups.create("pair", ["bob"])).id
        await world.until(lambda: all_know([bob], group))
        await world.quiet()
        mark = len(alice.transport.sent)
        behind = GroupHave(group, 0, bytes(32), {}, reply=True)  # bob claims he lacks it all
        for _ in range(5):
            await alice.receive.group_have_received("bob", behind)
        await world.quiet()
        answers = [kind for kind, _, _ in alice.transport.sent[mark:]]
        # The first is answered; the four that came meanwhile are folded into one answer, which
        # does not send again what this round handed over already.
        assert answers == ["changes"]

    run(scenario)
