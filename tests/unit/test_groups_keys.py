"""The keys a group's log gives members, against the keys this user holds (review finding 2).

An admin signs a member's name *and key* into the log. Without a comparison with the key pinned
for that name, an admin could post as anybody (adding "dave" with her own key), or add this user
with a key that is not theirs. bob's client (the application as wired, over the in-memory twins)
is handed crafted logs and messages, signed with the fake scheme of
:mod:`tests.unit.groups_world`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from chinwag.adapters.transport import outbound, protocol
from chinwag.application import refusals
from chinwag.application.errors import IdentityChanged
from chinwag.application.groups import receive
from chinwag.application.ports.peer_transport import Incoming, Intake
from chinwag.domain.group import ChangeKind
from chinwag.domain.message import Message
from tests.unit.groups_world import Log, User, World, key_of, post


def run(test: Callable[[User], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        (bob,) = await world.online("bob")
        try:
            await asyncio.wait_for(test(bob), timeout=10)
        finally:
            await world.close()

    asyncio.run(main())


async def gets(bob: User, peer: str, *messages: Message) -> Intake:
    return await bob.receive.messages_received(peer, [Incoming.of(m) for m in messages])


def test_a_member_added_with_another_key_than_the_pinned_one_is_held_and_nothing_is_repinned() -> (
    None
):
    """alice adds "dave" with her own key; bob holds dave's real key. A message signed by
    alice as dave waits (it is not refused: the member may really have a new key, which an
    admin settles by adding them again), bob is told once, and dave's pin is untouched: a group
    can neither bind a name to another key for direct messages nor make the real dave's look
    like a key change."""

    async def scenario(bob: User) -> None:
        await bob.trust.outgoing("dave", key_of("dave"))
        log = Log(["bob"])
        log.then(ChangeKind.ADD, member="dave", key=key_of("alice"))
        await bob.receive.group_changes_received("alice", log.changes)
        forged = post(log.id, "dave", 1, "dave here (it is alice)", version=1, signer="alice")
        intake = await gets(bob, "alice", forged)
        assert intake.deferred == {forged.id: "identity_changed"} and not intake.committed
        assert await bob.bodies(log.id) == []
        assert [code for code, _ in bob.events.errors] == ["group_member_key"]
        assert bob.events.identities == []  # no key change offered to accept
        assert await bob.trust.pinned_key("dave") == key_of("dave")
        await bob.trust.incoming("dave", key_of("dave"))  # the real dave still gets through
        again = await gets(bob, "carol", forged)  # told once
        assert again.deferred == {forged.id: "identity_changed"}
        assert len(bob.events.errors) == 1

    run(scenario)


def test_a_member_never_met_is_taken_on_the_logs_word_and_not_pinned() -> None:
    async def scenario(bob: User) -> None:
        log = Log(["bob", "carol"])
        await bob.receive.group_changes_received("alice", log.changes)
        hello = post(log.id, "carol", 1)
        assert list((await gets(bob, "alice", hello)).committed) == [hello.id]
        assert await bob.trust.pinned_key("carol") is None  # a direct contact starts afresh
        assert bob.events.identities == [] and bob.events.errors == []

    run(scenario)


def test_a_member_whose_key_change_waits_is_held() -> None:
    """A key change of carol's waits for bob (seen on a direct session): her group messages
    wait too, even signed with the key the group and the pin agree on."""

    async def scenario(bob: User) -> None:
        await bob.trust.outgoing("carol", key_of("carol"))
        with pytest.raises(IdentityChanged):
            await bob.trust.outgoing("carol", key_of("carol's new device"))
        log = Log(["bob", "carol"])
        await bob.receive.group_changes_received("alice", log.changes)
        hello = post(log.id, "carol", 1)
        assert (await gets(bob, "carol", hello)).deferred == {hello.id: "identity_changed"}
        alices = post(log.id, "alice", 1)  # the others go on
        assert list((await gets(bob, "carol", alices)).committed) == [alices.id]

    run(scenario)


def test_a_group_that_gives_this_user_another_key_is_not_joined() -> None:
    """alice adds bob with her own key: his posts would be refused by every member, and she
    could post as him. bob does not take the group, is told why, and refuses its messages."""

    async def scenario(bob: User) -> None:
        log = Log(["carol"])
        log.then(ChangeKind.ADD, member="bob", key=key_of("alice"))
        taken = await bob.book.take(log.changes)
        assert taken.changed == []
        assert await bob.book.view(log.id) is None and await bob.changes.groups() == []
        assert bob.book.declined(log.id)
        assert [code for code, _ in bob.events.errors] == ["invalid_change"]
        assert "with a key that is not yours" in bob.events.errors[0][1]
        message = post(log.id, "alice", 1, version=1)
        assert (await gets(bob, "alice", message)).rejected[message.id][0] == "refused"

    run(scenario)


def test_a_group_that_adds_this_user_again_with_another_key_is_told() -> None:
    async def scenario(bob: User) -> None:
        log = Log(["bob", "carol"])
        await bob.receive.group_changes_received("alice", log.changes)
        log.then(ChangeKind.REMOVE, member="bob")
        log.then(ChangeKind.ADD, member="bob", key=key_of("alice"))
        await bob.receive.group_changes_received("alice", log.changes)
        state, left = await bob.book.get(log.id)
        assert state.version == 2 and not left
        assert [code for code, _ in bob.events.errors] == ["invalid_change"]
        assert "again with a key that is not yours" in bob.events.errors[0][1]
        # alice, holding the key the group now gives bob, posts as him: refused for good.
        as_bob = post(log.id, "bob", 1, "bob says: pay alice", version=2, signer="alice")
        assert (await gets(bob, "alice", as_bob)).rejected[as_bob.id][0] == "refused"

    run(scenario)


def test_the_transport_waits_on_the_applications_codes() -> None:
    """One definition of the codes (review finding 19): what the receive path defers with is
    what the transport keeps queued, ``identity_changed`` included."""
    assert protocol.WAITING is refusals.WAITING
    assert frozenset(refusals.WAITING) == outbound.DEFERRED
    assert refusals.IDENTITY_CHANGED in outbound.DEFERRED
    assert receive.REFUSED is refusals.REFUSED
