"""Group chat against a member who lies (issue 10, Acceptance): a forwarded message with a
changed body or a forged author is refused; a non-member posting with a known group id is
refused; a removed member's later posts are refused and it receives nothing new.

Everything is real (see :mod:`tests.group_attack_support`): Ed25519 signatures, Noise sessions
over TCP, SQLite, a registry server. The attacker, mallory, is a genuine signed-in user with her
own valid identity; she sends hand-made frames through her own transport. Each refusal is
checked at both ends: the victim's application says ``refused`` (for good: not acknowledged,
not deferred), mallory's report carries the refusal, and the victim's history and search are
unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from chinwag.application.ports.peer_transport import GroupHave
from chinwag.domain.errors import NotAMember
from chinwag.domain.group import ChangeKind
from chinwag.domain.message import Message
from tests.group_attack_support import (
    REFUSED_CODE,
    REFUSED_REASON,
    Attacker,
    Member,
    World,
    altered,
    world,
)
from tests.support import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

Seen = list[tuple[UUID, str, str, object]]


def run(tmp_path: Path, scenario: Callable[[World], Awaitable[None]], *names: str) -> None:
    async def main() -> None:
        async with world(tmp_path, *(names or ("alice", "bob", "carol"))) as w:
            await scenario(w)

    asyncio.run(main())


async def seen(member: Member, group: UUID) -> Seen:
    """What ``member`` shows of the group: each message's id, author, body and stamp."""
    return [(m.id, m.sender, m.body, m.stamp) for m in await member.history(group)]


async def refused_by(
    mallory: Attacker, victims: list[Member], group: UUID, forged: Message, word: str
) -> None:
    """``forged``, sent by mallory to each victim, is refused for good and leaves no trace."""
    for victim in victims:
        before = await seen(victim, group)
        report = await mallory.deliver(victim.name, forged)
        assert victim.verdict(forged.id) == REFUSED_CODE, victim.name
        assert report.acknowledged == frozenset() and report.deferred == {}, victim.name
        assert report.rejected == {forged.id: REFUSED_REASON}, victim.name
        assert await seen(victim, group) == before, victim.name
        assert await victim.search(word) == [], victim.name


async def all_hold(w: World, group: UUID, *messages: Message) -> None:
    """Wait until every online member of the group stores ``messages`` and all is quiet."""
    names = []
    for name, client in w.clients.items():
        head = await client.head(group) if client.online else None
        if head is not None and head.is_member(name):
            names.append(name)
    for message in messages:
        await w.holding(group, message, *names)
    await w.settled()


# --- (1) a member forwards a message with something changed ---------------------------------


def test_a_forwarded_message_with_a_changed_body_is_refused_by_a_member_who_lacks_it(
    tmp_path: Path,
) -> None:
    """bob was offline when alice posted, and alice and carol are gone when he is back: only
    mallory can hand him alice's message. Her altered copy is refused; the genuine one, from
    her too, is taken (so the refusal was the alteration's doing)."""

    async def scenario(w: World) -> None:
        alice, bob, carol, mallory = w["alice"], w["bob"], w["carol"], w.mallory
        gid = await w.create("alice", ["bob", "carol", "mallory"])
        await bob.stop()
        genuine = await alice.post(gid, "meet at the station at noon")
        await w.holding(gid, genuine, "carol", "mallory")
        await alice.stop()
        await carol.stop()
        await bob.start()
        copy = await mallory.stored(genuine.id)
        forged = altered(copy, body="meet at the harbour at midnight")
        await refused_by(mallory, [bob], gid, forged, "harbour")
        assert await seen(bob, gid) == []
        report = await mallory.deliver("bob", copy)
        assert report.acknowledged == {genuine.id} and bob.verdict(genuine.id) == "committed"
        assert [m.body for m in await bob.history(gid)] == ["meet at the station at noon"]

    run(tmp_path, scenario)


ALTERATIONS: dict[str, Callable[[Message], Message]] = {
    "body": lambda m: altered(m, body="zanzibar: pay mallory"),
    "seq": lambda m: altered(m, seq=2, body=m.body + " zanzibar"),
    "version": lambda m: altered(m, version=1, body=m.body + " zanzibar"),
    "sent_at": lambda m: altered(m, sent_at=m.sent_at + timedelta(hours=1)),
    "id": lambda m: altered(m, id=uuid4()),
}


@pytest.mark.parametrize("field", sorted(ALTERATIONS))
def test_a_copy_altered_in_any_signed_field_is_refused_by_every_member(
    tmp_path: Path, field: str
) -> None:
    """alice's message, as mallory stored it, with one field changed and alice's signature
    kept: refused by every member (who hold the original, which stays as it was). The group
    is at version 1, so the changed version is one the members know."""

    async def scenario(w: World) -> None:
        mallory = w.mallory
        gid = await w.create("alice", ["bob", "carol", "mallory"])
        genuine = await w["alice"].post(gid, "the plan, as alice wrote it")
        await w["alice"].rename(gid, "Friends, renamed")
        await w.at_version(gid, 1, "bob", "carol", "mallory")
        await all_hold(w, gid, genuine)
        copy = await mallory.stored(genuine.id)
        forged = ALTERATIONS[field](copy)
        await refused_by(mallory, w.honest(), gid, forged, "zanzibar")
        report = await mallory.deliver("bob", copy)  # the genuine copy: taken (once)
        assert report.acknowledged == {genuine.id}
        assert [m.body for m in await w["bob"].history(gid)] == [genuine.body]

    run(tmp_path, scenario)


# --- (2) a forged author ---------------------------------------------------------------------


Forgery = Callable[[Attacker, UUID, Message, Message], Message]
"""(mallory, group, alice's message, mallory's message, as mallory stores them) -> forgery."""

FORGERIES: dict[str, Forgery] = {
    "signed by mallory, claiming alice": lambda mallory, gid, alices, hers: mallory.craft(
        gid, "alice here: zanzibar", seq=2, version=0, author="alice"
    ),
    "alice's signature on mallory's words": lambda mallory, gid, alices, hers: altered(
        alices, id=uuid4(), sender="mallory", seq=2, body="mallory: zanzibar"
    ),
    "alice's message claimed by mallory": lambda mallory, gid, alices, hers: altered(
        alices, id=uuid4(), sender="mallory", seq=2
    ),
    "mallory's new message relabelled alice's": lambda mallory, gid, alices, hers: altered(
        mallory.craft(gid, "zanzibar, says alice", seq=2, version=0), sender="alice"
    ),
    "mallory's stored message relabelled alice's": lambda mallory, gid, alices, hers: altered(
        hers, id=uuid4(), sender="alice", seq=2
    ),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_message_with_a_forged_author_is_refused_by_every_member(
    tmp_path: Path, forgery: str
) -> None:
    """Each forgery takes the author's next number (2), where a genuine message would be
    taken: the last step shows one is, from mallory, signed by mallory."""

    async def scenario(w: World) -> None:
        mallory = w.mallory
        gid = await w.create("alice", ["bob", "carol", "mallory"])
        alices = await w["alice"].post(gid, "alice's first")
        hers = await mallory.post(gid, "mallory's first")
        await all_hold(w, gid, alices, hers)
        forged = FORGERIES[forgery](
            mallory, gid, await mallory.stored(alices.id), await mallory.stored(hers.id)
        )
        await refused_by(mallory, w.honest(), gid, forged, "zanzibar")
        honest = mallory.craft(gid, "mallory's second, signed by her", seq=2, version=0)
        report = await mallory.deliver("bob", honest)
        assert report.acknowledged == {honest.id}

    run(tmp_path, scenario)


# --- (3) a non-member who knows the group's id ----------------------------------------------


def test_a_non_members_self_signed_post_is_refused_by_every_member(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        gid = await w.create("alice", ["bob", "carol"])
        hello = await w["alice"].post(gid, "hello friends")
        await all_hold(w, gid, hello)
        intrusion = w.mallory.craft(gid, "zanzibar: a great offer", seq=1, version=0)
        await refused_by(w.mallory, w.honest(), gid, intrusion, "zanzibar")
        later = w.mallory.craft(gid, "zanzibar again", seq=2, version=0)
        await refused_by(w.mallory, w.honest(), gid, later, "zanzibar")

    run(tmp_path, scenario)


def test_a_non_member_cannot_write_herself_into_the_group(tmp_path: Path) -> None:
    """mallory learns the group's head by asking (a have from a version ahead is answered
    with a have), signs a change adding herself and sends it to every member: nobody takes
    it, her post under it waits for a version nobody reaches, and once alice's own change
    makes version 1 real her post under it is refused."""

    async def scenario(w: World) -> None:
        mallory, honest = w.mallory, w.honest()
        gid = await w.create("alice", ["bob", "carol"])
        await mallory.send_have("bob", GroupHave(gid, 99, bytes(32), {}, reply=False))
        await mallory.hears("have", "bob", 0)
        told = next(h for p, h in mallory.haves_in if p == "bob")
        assert told.version == 0 and told.authors == {}  # the head, never who posted what
        head = await w["bob"].head(gid)
        assert head is not None and told.head == head.head
        own_key = mallory.container.adapters.identity_key()
        joined = mallory.change_on(head, ChangeKind.ADD, member="mallory", key=own_key)
        for member in honest:
            heard = member.heard("changes", "mallory")
            await mallory.send_changes(member.name, [joined])
            await member.hears("changes", "mallory", heard)
            state = await member.head(gid)
            assert state is not None and state.version == 0 and not state.is_member("mallory")
        ahead = mallory.craft(gid, "zanzibar, under my own change", seq=1, version=1)
        for member in honest:
            before = await seen(member, gid)
            report = await mallory.deliver(member.name, ahead)
            assert report.deferred == {ahead.id: "group_behind"}, member.name
            assert await seen(member, gid) == before
        await w["alice"].rename(gid, "Friends, renamed")
        await w.at_version(gid, 1, "bob", "carol")
        for member in honest:
            state = await member.head(gid)
            assert state is not None and not state.is_member("mallory")
        await refused_by(mallory, honest, gid, ahead, "zanzibar")

    run(tmp_path, scenario)


# --- (4) and (5) a removed member ------------------------------------------------------------


async def removed(w: World) -> tuple[UUID, list[Message]]:
    """A group where mallory posted once, then alice removed her; its id and the messages
    stored by then. Returns once every member, mallory included, knows of the removal."""
    gid = await w.create("alice", ["bob", "carol", "mallory"])
    before = [await w.mallory.post(gid, "mallory's first"), await w["alice"].post(gid, "hi")]
    await all_hold(w, gid, *before)
    state = await w["alice"].remove(gid, "mallory")
    assert state.version == 1 and not state.is_member("mallory")
    await w.at_version(gid, 1, "bob", "carol", "mallory")
    await w.settled()
    return gid, before


def test_a_removed_member_cannot_post(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        mallory, honest = w.mallory, w.honest()
        gid, _ = await removed(w)
        with pytest.raises(NotAMember) as refused:  # her own client says so
            await mallory.post(gid, "am I still here?")
        assert refused.value.code == "not_a_member"
        stamped_now = mallory.craft(gid, "zanzibar under the new version", seq=2, version=1)
        await refused_by(mallory, honest, gid, stamped_now, "zanzibar")
        # Her number 1 again, with other words: validly signed, but that number is taken.
        again = mallory.craft(gid, "zanzibar rewritten", seq=1, version=0)
        for member in honest:
            before = await seen(member, gid)
            report = await mallory.deliver(member.name, again)
            assert report.deferred == {}, member.name
            assert await seen(member, gid) == before, member.name
            assert await member.search("zanzibar") == []

    run(tmp_path, scenario)


def test_a_removed_members_post_backdated_to_before_her_removal_is_refused(
    tmp_path: Path,
) -> None:
    """Her next number under the version from before the removal: signed by her, and she
    was a member then; only the removal's cut (her last message that counts) can refuse it."""

    async def scenario(w: World) -> None:
        gid, _ = await removed(w)
        backdated = w.mallory.craft(gid, "zanzibar, backdated", seq=2, version=0)
        await refused_by(w.mallory, w.honest(), gid, backdated, "zanzibar")

    run(tmp_path, scenario)


def test_a_removed_member_receives_nothing_new_even_when_she_asks(tmp_path: Path) -> None:
    async def scenario(w: World) -> None:
        mallory, honest = w.mallory, w.honest()
        gid, before = await removed(w)
        sent_marks = {m.name: len(m.sent) for m in honest}
        reached = (len(mallory.intakes), len(mallory.changes_in))
        await w["alice"].rename(gid, "Friends without mallory")
        after = [await w["alice"].post(gid, "she is gone"), await w["bob"].post(gid, "good")]
        await w.at_version(gid, 2, "bob", "carol")
        for message in after:
            await w.holding(gid, message, "alice", "bob", "carol")
        await w.settled()
        # She asks every member for everything (she claims to hold nothing), twice over.
        head = await mallory.head(gid)
        assert head is not None and head.version == 1
        haves = [
            GroupHave(gid, head.version, head.head, {}, reply=False),
            GroupHave(gid, 99, bytes(32), {"mallory": 0, "alice": 0}, reply=False),
        ]
        for have in haves:
            for member in honest:
                heard = member.heard("have", "mallory")
                await mallory.send_have(member.name, have)
                await member.hears("have", "mallory", heard)
                await member.sync_idle()  # its answer, if any, has been sent
        for member in honest:
            sent = member.sent_to("mallory", since=sent_marks[member.name])
            assert {s.kind for s in sent} <= {"have", "changes"}, member.name
            haves = [have for s in sent if s.kind == "have" for have in s.what]
            assert all(have.authors == {} for have in haves), member.name
            # The log up to her removal (so she learns it), never a change after it.
            told = [change for s in sent if s.kind == "changes" for change in s.what]
            assert all(change.version <= 1 for change in told), member.name
        assert len(mallory.intakes) == reached[0]  # no message
        assert [m.id for m in await mallory.history(gid)] == [m.id for m in before]
        state = await mallory.head(gid)
        assert state is not None and state.version == 1  # the rename never reached her

    run(tmp_path, scenario)


# --- what the departure cut leaves open ------------------------------------------------------


class PostedAfterLeaving(AssertionError):
    """A member who left had a post taken afterwards."""


@pytest.mark.parametrize(
    "upto",
    [
        pytest.param("honest", id="through-the-use-case"),
        pytest.param(None, id="hand-made-without-upto"),
        pytest.param(10**6, id="hand-made-with-a-huge-upto"),
    ],
)
def test_a_member_who_left_cannot_post_under_a_version_from_before(
    tmp_path: Path, upto: int | str | None
) -> None:
    """A leave's cut (``upto``) is what the leaver herself writes: a hand-made one without it, or
    with a huge one, would let her keep posting under a version from before she left. An admin
    then removes her although she is gone (a cut at the count alice holds): every member
    refuses her later posts."""

    async def scenario(w: World) -> None:
        mallory, honest = w.mallory, w.honest()
        gid = await w.create("alice", ["bob", "carol", "mallory"])
        await all_hold(w, gid, await mallory.post(gid, "mallory's first"))
        if upto == "honest":
            await mallory.container.use_cases.groups().leave(gid)
        else:
            head = await mallory.head(gid)
            assert head is not None
            leave = mallory.change_on(head, ChangeKind.LEAVE, upto=upto)
            for member in honest:
                await mallory.send_changes(member.name, [leave])
        await w.at_version(gid, 1, "alice", "bob", "carol")
        if upto != "honest":
            cut = await w["alice"].remove(gid, "mallory")  # she is gone: a cut
            assert cut.version == 2 and not cut.is_member("mallory")
            await w.at_version(gid, 2, "alice", "bob", "carol")
        backdated = mallory.craft(gid, "zanzibar, after leaving", seq=2, version=0)
        for member in honest:
            state = await member.head(gid)
            assert state is not None and not state.is_member("mallory")
            report = await mallory.deliver(member.name, backdated)
            if backdated.id in report.acknowledged:
                raise PostedAfterLeaving(f"{member.name} took a post mallory made after leaving")
        await refused_by(mallory, honest, gid, backdated, "zanzibar")

    run(tmp_path, scenario)


def test_members_agree_on_a_removed_members_last_post_that_raced_her_removal(
    tmp_path: Path,
) -> None:
    """mallory's second message reaches bob only (as her courier does when alice and carol are
    out of reach at that moment); alice, who never got it, removes her. Once bob, carol and
    alice have told each other how far they are, every current member holds the same messages:
    bob withdrew the one past her cut when he learnt of the removal."""

    async def scenario(w: World) -> None:
        mallory, honest = w.mallory, w.honest()
        gid = await w.create("alice", ["bob", "carol", "mallory"])
        await all_hold(w, gid, await mallory.post(gid, "mallory's first"))
        second = mallory.craft(gid, "mallory's second", seq=2, version=0)
        assert (await mallory.deliver("bob", second)).acknowledged == {second.id}
        state = await w["alice"].remove(gid, "mallory")
        assert not state.is_member("mallory")
        await w.at_version(gid, 1, "bob", "carol")
        await w.settled()
        for speaker, listener in [("bob", "carol"), ("carol", "bob"), ("bob", "alice")] * 2:
            heard = w[listener].heard("have", speaker)
            await w[speaker].announce(listener, gid)
            await w[listener].hears("have", speaker, heard)
            await w.settled()

        async def agreed() -> bool:
            held = {m.name: sorted(m.body for m in await m.history(gid)) for m in honest}
            return all(bodies == ["mallory's first"] for bodies in held.values())

        await eventually(agreed, 10, "every member to hold mallory's first message only")

    run(tmp_path, scenario)
