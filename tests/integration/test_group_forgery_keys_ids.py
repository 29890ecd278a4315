"""Group chat against a member who lies about keys and places (review findings 2 and 4): an
admin who adds a member with her own key cannot post as them, nor add a user with a key that is
not theirs; a member who sends her own message under another's id, or signs two messages with
one number, gets no acknowledgement for what was not stored.

Everything is real, as in :mod:`tests.integration.test_group_forgery` (see
:mod:`tests.group_attack_support`): Ed25519 signatures, Noise sessions over TCP, SQLite, a
registry server; mallory sends hand-made frames through her own transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import UUID

import pytest

from tests.group_attack_support import REFUSED_REASON, SETTLE, Member, World, world
from tests.support import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def run(tmp_path: Path, scenario: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        async with world(tmp_path, "alice", "bob", "carol") as w:
            await scenario(w)

    asyncio.run(main())


async def seen(member: Member, group: UUID) -> list[str]:
    """The bodies ``member`` shows of the group, oldest first."""
    return [m.body for m in await member.history(group)]


# --- (6) an admin's word against the key a member holds (review finding 2) --------------------


def test_an_admin_cannot_post_as_a_member_she_added_with_her_own_key(tmp_path: Path) -> None:
    """mallory creates a group with bob and "carol", giving carol her own key. bob holds
    carol's real key: a post signed by mallory as carol waits (the receipt says
    ``identity_changed``, so her courier keeps it queued), bob is told once
    (``group_member_key``), nothing is shown, and carol's pin is untouched: the group cannot
    bind her name to mallory's key, nor make carol's real messages look like a key change."""

    async def scenario(w: World) -> None:
        bob, carol, mallory = w["bob"], w["carol"], w.mallory
        await bob.container.use_cases.trust().outgoing("carol", carol.key)  # met before
        create = mallory.create_by_hand("Friends", {"bob": bob.key, "carol": mallory.key})
        gid = create.group
        await mallory.send_changes("bob", [create])
        await w.at_version(gid, 0, "bob")
        forged = mallory.craft(gid, "carol: zanzibar", seq=1, version=0, author="carol")
        report = await mallory.deliver("bob", forged)
        assert report.acknowledged == frozenset() and report.rejected == {}
        assert report.deferred == {forged.id: "identity_changed"}
        assert bob.verdict(forged.id) == "deferred:identity_changed"
        assert [code for code, _ in bob.events.errors] == ["group_member_key"]
        assert bob.events.identities == []
        assert await bob.container.use_cases.trust().pinned_key("carol") == carol.key
        assert await seen(bob, gid) == [] and await bob.search("zanzibar") == []
        hers = mallory.craft(gid, "mallory's own post", seq=1, version=0)
        assert (await mallory.deliver("bob", hers)).acknowledged == {hers.id}

    run(tmp_path, scenario)


def test_a_group_that_gives_a_user_another_key_is_not_joined(tmp_path: Path) -> None:
    """mallory adds bob with her own key (so she could post as him, and his posts would be
    refused by everyone): bob does not join, is told why, and refuses its messages."""

    async def scenario(w: World) -> None:
        bob, mallory = w["bob"], w.mallory
        create = mallory.create_by_hand("Friends", {"bob": mallory.key, "carol": w["carol"].key})
        heard = bob.heard("changes", "mallory")
        await mallory.send_changes("bob", [create])
        await bob.hears("changes", "mallory", heard)
        assert await bob.head(create.group) is None
        assert any(code == "invalid_change" for code, _ in bob.events.errors)
        post = mallory.craft(create.group, "zanzibar", seq=1, version=0)
        report = await mallory.deliver("bob", post)
        assert report.rejected == {post.id: REFUSED_REASON} and bob.verdict(post.id) == "refused"

    run(tmp_path, scenario)


# --- (7) two messages for one place (review finding 4) ---------------------------------------


def test_a_member_cannot_suppress_a_message_by_taking_its_id_first(tmp_path: Path) -> None:
    """bob is offline while alice posts; mallory, who got it, hands bob her own message under
    its id before anyone else can. alice's message is then refused by bob (not acknowledged,
    so alice's delivery to bob fails instead of passing for delivered), and alice's next
    message reaches him all the same."""

    async def scenario(w: World) -> None:
        alice, bob, carol, mallory = w["alice"], w["bob"], w["carol"], w.mallory
        gid = await w.create("alice", ["bob", "carol", "mallory"])
        await bob.stop()
        genuine = await alice.post(gid, "the meeting is at noon")
        await w.holding(gid, genuine, "carol", "mallory")
        await alice.stop()
        await carol.stop()
        await bob.start()
        squat = mallory.craft(gid, "mallory's words", seq=1, version=0, message_id=genuine.id)
        assert (await mallory.deliver("bob", squat)).acknowledged == {genuine.id}
        copy = await mallory.stored(genuine.id)
        report = await mallory.deliver("bob", copy)
        assert report.acknowledged == frozenset()
        assert report.rejected == {genuine.id: REFUSED_REASON}
        await alice.start()
        await eventually_failed(alice, genuine.id, "bob")
        later = await alice.post(gid, "see you there")
        await w.holding(gid, later, "bob")
        assert await seen(bob, gid) == ["mallory's words", "see you there"]

    run(tmp_path, scenario)


async def eventually_failed(author: Member, message_id: UUID, recipient: str) -> None:
    async def failed() -> bool:
        return await author.delivery(message_id, recipient) == "failed"

    await eventually(failed, SETTLE, f"{author.name}'s delivery to {recipient} to fail")


def test_two_messages_signed_with_one_number_are_not_both_acknowledged(tmp_path: Path) -> None:
    """mallory signs two messages numbered 1 and hands one to bob, the other to carol: each
    refuses the one it did not take first, so mallory is not told both were delivered."""

    async def scenario(w: World) -> None:
        mallory = w.mallory
        gid = await w.create("alice", ["bob", "carol", "mallory"])
        first = mallory.craft(gid, "version A", seq=1, version=0)
        second = mallory.craft(gid, "version B", seq=1, version=0)
        assert (await mallory.deliver("bob", first)).acknowledged == {first.id}
        assert (await mallory.deliver("carol", second)).acknowledged == {second.id}
        for member, other in ((w["bob"], second), (w["carol"], first)):
            report = await mallory.deliver(member.name, other)
            assert report.rejected == {other.id: REFUSED_REASON}, member.name
            assert len(await member.history(gid)) == 1, member.name

    run(tmp_path, scenario)
