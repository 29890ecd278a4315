"""Whom group sync reaches: only peers a group's log vouches for (or, to ask what we lack,
somebody pinned already), and it never pins a key or makes anybody a contact.

A sync frame answers no message request: before this was fixed, one ``group_have`` with a
made-up group id made its sender an accepted contact (the sync pinned it on its way out).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from uuid import UUID

from chinwag.application.errors import IdentityChanged
from chinwag.application.groups.answers import NO_HEAD
from chinwag.application.ports.peer_transport import GroupHave
from chinwag.domain.group import Change, ChangeKind
from tests.unit.groups_world import (
    T0,
    Log,
    User,
    World,
    frames,
    key_of,
    post,
    record_calls,
    sign,
)


def run(test: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        try:
            await asyncio.wait_for(test(world), timeout=20)
        finally:
            await world.close()

    asyncio.run(main())


def made_up(n: int) -> UUID:
    return UUID(int=0xBAD0000 + n)


def test_a_have_of_an_unknown_group_from_somebody_never_met_pins_nobody_sends_nothing() -> None:
    async def scenario(world: World) -> None:
        bob, _ = await world.online("bob", "eve")
        lookups = record_calls(bob.directory, "lookup")
        pinned = record_calls(bob.trust, "outgoing")
        for n in range(3):
            have = GroupHave(made_up(n), 0, NO_HEAD, {}, reply=False)
            await bob.receive.group_have_received("eve", have)
        await world.quiet()
        assert await bob.trust.pinned_key("eve") is None
        assert await bob.trust.is_stranger("eve")
        assert frames(bob, "have", "eve") == []
        assert lookups == [] and pinned == []  # not even looked up

    run(scenario)


def test_a_stranger_who_reached_us_is_asked_for_a_group_it_names_and_stays_a_stranger() -> None:
    async def scenario(world: World) -> None:
        bob, eve = await world.online("bob", "eve")
        await bob.receive.authorize("eve", eve.key)  # her session: pinned, a message request
        pinned = record_calls(bob.trust, "outgoing")
        await bob.receive.group_have_received("eve", GroupHave(made_up(1), 0, NO_HEAD, {}, False))
        await world.quiet()
        (asked,) = frames(bob, "have", "eve")
        assert asked == GroupHave(made_up(1), 0, NO_HEAD, {}, reply=True)
        assert await bob.trust.is_stranger("eve") and pinned == []

    run(scenario)


def test_a_group_message_of_an_unknown_group_makes_nobody_a_contact() -> None:
    async def scenario(world: World) -> None:
        bob, eve = await world.online("bob", "eve")
        pinned = record_calls(bob.trust, "outgoing")
        location = await eve.directory.lookup("bob")
        report = await eve.transport.deliver("bob", location, [post(made_up(1), "eve", 1)])
        assert report.deferred == {post(made_up(1), "eve", 1).id: "unknown_group"}
        await world.quiet()
        assert await bob.trust.is_stranger("eve") and pinned == []

    run(scenario)


async def hand_made(bob: User, keys: dict[str, bytes]) -> UUID:
    """A group alice created with ``keys`` as its members (bob among them), taken by bob."""
    create = sign(Change.create(author="alice", key=key_of("alice"), name="friends",
                                members=keys, at=T0))  # fmt: skip
    await bob.receive.group_changes_received("alice", [create])
    assert await bob.book.view(create.group) is not None
    return create.group


async def every_trigger(bob: User, peer: str, group: UUID) -> None:
    """Everything that makes bob's sync reach ``peer``: its message waited, it came online,
    it sent a have (saying it knows nothing)."""
    bob.sync.request(peer, group)
    bob.sync.online(frozenset({peer}))
    await bob.receive.group_have_received(peer, GroupHave(group, 0, NO_HEAD, {}, reply=False))


def test_a_member_the_registry_binds_to_another_key_is_not_reached_nor_pinned() -> None:
    async def scenario(world: World) -> None:
        bob, _ = await world.online("bob", "dave")
        group = await hand_made(bob, {"bob": key_of("bob"), "dave": key_of("mallory")})
        pinned = record_calls(bob.trust, "outgoing")
        await every_trigger(bob, "dave", group)
        await bob.sync.idle()
        await world.quiet()
        assert [kind for kind, to, _ in bob.transport.sent if to == "dave"] == []
        assert pinned == []
        assert await bob.trust.pinned_key("dave") != key_of("dave")  # the registry's: never

    run(scenario)


async def pin_of(user: User, name: str) -> bytes | str | None:
    try:
        return await user.trust.pinned_key(name)
    except IdentityChanged:
        return "held"


def test_a_member_pinned_to_another_key_than_the_log_is_left_to_the_user() -> None:
    async def scenario(world: World) -> None:
        bob, _ = await world.online("bob", "dave")
        await bob.trust.outgoing("dave", key_of("dave's old phone"))  # met long ago
        group = await hand_made(bob, {"bob": key_of("bob"), "dave": key_of("dave")})
        before = await pin_of(bob, "dave"), list(bob.events.identities)
        pinned = record_calls(bob.trust, "outgoing")
        await every_trigger(bob, "dave", group)
        await world.quiet()
        assert [kind for kind, to, _ in bob.transport.sent if to == "dave"] == []
        # A key change is the user's to settle (or the book's to tell): sync changes nothing.
        assert (await pin_of(bob, "dave"), bob.events.identities) == before
        assert pinned == []

    run(scenario)


def test_members_reached_by_sync_are_not_made_contacts() -> None:
    async def scenario(world: World) -> None:
        bob, alice, carol = await world.online("bob", "alice", "carol")
        group = await hand_made(bob, {"bob": key_of("bob"), "carol": key_of("carol")})
        strangers = [await bob.trust.is_stranger(name) for name in ("alice", "carol")]
        pinned = record_calls(bob.trust, "outgoing")
        bob.sync.online(frozenset())
        bob.sync.online(frozenset({"alice", "carol"}))  # they come online: greeted
        await world.until(lambda: knows(alice, group))
        await world.until(lambda: knows(carol, group))
        assert frames(bob, "have", "carol") and frames(bob, "changes", "alice")
        assert pinned == []
        assert [await bob.trust.is_stranger(name) for name in ("alice", "carol")] == strangers

    run(scenario)


async def knows(user: User, group: UUID) -> bool:
    return await user.book.view(group) is not None


def test_somebody_not_in_our_log_who_says_it_is_further_is_asked_only_if_pinned() -> None:
    """erin was added by a change bob has not learnt: her have says she is further. bob asks
    her (his head, never who posted what) once she reached him, not before."""

    async def scenario(world: World) -> None:
        bob, _ = await world.online("bob", "erin")
        log = Log(members=("bob",))
        await bob.receive.group_changes_received("alice", log.changes)
        log.then(ChangeKind.ADD, member="erin")
        further = GroupHave(log.id, 1, log.head.head, {}, reply=False)
        await bob.receive.group_have_received("erin", further)
        await world.quiet()
        assert frames(bob, "have", "erin") == []
        await bob.receive.authorize("erin", key_of("erin"))
        await bob.receive.group_have_received("erin", further)
        await world.quiet()
        (asked,) = frames(bob, "have", "erin")
        assert asked.version == 0 and asked.authors == {} and asked.reply

    run(scenario)
