"""The group book: the chain and states computed once per change, the groups a user is in,
changes from peers, and this user's own changes written again when another admin's win.

Logs are written by hand (:class:`tests.unit.groups_world.Log`) and handed to one user's
book, whose repository and signature checks are watched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from uuid import UUID

import pytest

from chinwag.application.groups import book as book_module
from chinwag.application.groups.joining import TooManyGroups
from chinwag.application.groups.view import GroupView
from chinwag.domain.errors import GroupFull, UnknownGroup
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState, apply
from tests.unit.groups_world import T0, Log, User, World, key_of, sign, verify


def run(test: Callable[[User], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        (user,) = await world.online("alice")
        try:
            await asyncio.wait_for(test(user), timeout=10)
        finally:
            await world.close()

    asyncio.run(main())


class CountingReads:
    """Counts the reads of a group's changes from the repository."""

    def __init__(self, user: User, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0
        original = user.changes.changes

        async def changes(group: UUID) -> list[Change]:
            self.reads += 1
            return await original(group)

        monkeypatch.setattr(user.changes, "changes", changes)


def test_a_group_is_read_and_checked_once_then_only_when_a_change_arrives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(alice: User) -> None:
        log = Log()
        log.then(ChangeKind.ADD, member="dave")
        await alice.changes.add_changes(log.changes)  # stored by an earlier run
        reads = CountingReads(alice, monkeypatch)
        for _ in range(3):
            state, left = await alice.book.get(log.id)
        assert state == log.head and not left
        assert reads.reads == 1
        assert alice.signatures.checks == 2  # each change's signature, once
        renamed = log.then(ChangeKind.RENAME, name="renamed")
        taken = await alice.book.take([renamed])
        assert taken.changed == [log.head]
        assert alice.signatures.checks == 3  # the new one only: the others are remembered
        assert (await alice.book.get(log.id))[0].name == "renamed"
        assert alice.events.groups == [(log.head, False)]

    run(scenario)


def test_changes_of_a_group_without_this_user_are_held_until_one_adds_them() -> None:
    async def scenario(alice: User) -> None:
        log = Log(["carol"], creator="bob")
        await alice.book.take(log.changes)  # a group alice is not in
        assert await alice.changes.groups() == []
        assert await alice.book.mine() == []
        with pytest.raises(UnknownGroup):
            await alice.book.get(log.id)
        added = log.then(ChangeKind.ADD, author="bob", member="alice")
        taken = await alice.book.take([added])  # the rest of the log, in a later frame
        assert taken.changed == [log.head]
        assert await alice.book.mine() == [(log.head, False)]
        assert len(await alice.changes.changes(log.id)) == 2
        assert alice.events.groups == [(log.head, False)]

    run(scenario)


def test_being_removed_is_told_as_left_and_the_group_stays_listed() -> None:
    async def scenario(alice: User) -> None:
        log = Log(["alice", "carol"], creator="bob")
        await alice.book.take(log.changes)
        removal = log.then(ChangeKind.REMOVE, author="bob", member="alice")
        await alice.book.take([removal])
        assert alice.events.groups[-1] == (log.head, True)
        assert await alice.book.mine() == [(log.head, True)]
        assert await alice.book.get(log.id) == (log.head, True)

    run(scenario)


def losing_rename(log: Log, against: Change) -> Change:
    """bob's rename on the same version as ``against``, with a smaller hash (it wins)."""
    base = log.states[against.version - 1]
    for minutes in range(1000):
        change = sign(
            Change(
                group=log.id,
                kind=ChangeKind.RENAME,
                version=base.version + 1,
                prev=base.head,
                author="bob",
                at=T0 + timedelta(minutes=minutes),
                name="bob's name",
            )
        )
        if change.hash() < against.hash():
            return change
    raise AssertionError("no smaller hash found")


def test_an_own_change_pushed_off_the_chain_is_written_again_on_top() -> None:
    async def scenario(alice: User) -> None:
        pushed: list[tuple[GroupState | None, GroupView]] = []
        alice.book.on_own_change(lambda before, after: pushed.append((before, after)))
        log = Log()
        made_admin = log.then(ChangeKind.ADMIN, member="bob")
        await alice.book.take(log.changes)
        await alice.trust.outgoing("dave", key_of("dave"))
        mine = await alice.groups.add(log.id, "dave")
        add = (await view(alice, log.id)).chain[-1]
        rename = losing_rename(log, add)
        await alice.book.take([rename])
        state, _ = await alice.book.get(log.id)
        assert state.version == 3 and state.name == "bob's name" and state.is_member("dave")
        chain = (await view(alice, log.id)).chain
        assert [c.kind for c in chain[1:]] == [ChangeKind.ADMIN, ChangeKind.RENAME, ChangeKind.ADD]
        assert chain[1] == made_admin and chain[2] == rename
        assert [after.head for _, after in pushed] == [mine, state]  # each pushed to members
        assert alice.events.groups[-1] == (state, False)

    run(scenario)


async def view(user: User, group: UUID) -> GroupView:
    found = await user.book.view(group)
    assert found is not None
    return found


def test_an_own_change_that_no_longer_applies_is_not_written_again() -> None:
    async def scenario(alice: User) -> None:
        log = Log(members=("bob", "carol", "dave"))
        log.then(ChangeKind.ADMIN, member="bob")
        await alice.book.take(log.changes)
        await alice.groups.remove(log.id, "dave")
        mine = (await view(alice, log.id)).chain[-1]
        base = log.head
        for minutes in range(1000):  # bob removed dave too, and his change wins
            theirs = sign(
                Change(
                    group=log.id,
                    kind=ChangeKind.REMOVE,
                    version=base.version + 1,
                    prev=base.head,
                    author="bob",
                    at=T0 + timedelta(minutes=minutes),
                    member="dave",
                )
            )
            if theirs.hash() < mine.hash():
                break
        await alice.book.take([theirs])
        state, _ = await alice.book.get(log.id)
        assert state.version == 2 and not state.is_member("dave")
        assert (await view(alice, log.id)).chain[-1] == theirs

    run(scenario)


def test_a_change_with_a_bad_signature_does_not_count() -> None:
    async def scenario(alice: User) -> None:
        log = Log()
        await alice.book.take(log.changes)
        forged = log.then(ChangeKind.RENAME, name="forged")
        forged = forged.signed(bytes(64))
        taken = await alice.book.take([forged])
        assert taken.changed == []
        assert (await alice.book.get(log.id))[0].name == "friends"
        assert len(await alice.changes.changes(log.id)) == 1  # not even kept

    run(scenario)


def test_changes_nobody_in_the_group_signed_are_not_kept() -> None:
    async def scenario(alice: User) -> None:
        log = Log()
        await alice.book.take(log.changes)
        base = log.head
        junk = [
            sign(
                Change(
                    group=log.id,
                    kind=ChangeKind.RENAME,
                    version=base.version + 1,
                    prev=base.head,
                    author="eve",  # knows the group's id and head, is not in it
                    at=T0 + timedelta(seconds=n),
                    name=f"eve's {n}",
                )
            )
            for n in range(50)
        ]
        taken = await alice.book.take(junk)
        assert taken.changed == [] and not taken.unconnected
        assert await alice.changes.changes(log.id) == log.changes

    run(scenario)


def test_groups_per_user_are_bounded_at_create_and_when_added(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(alice: User) -> None:
        monkeypatch.setattr(book_module, "MAX_GROUPS_PER_USER", 2)
        await alice.groups.create("one", [])
        await alice.groups.create("two", [])
        with pytest.raises(TooManyGroups, match="you are in 2 groups") as refused:
            await alice.groups.create("three", [])
        assert isinstance(refused.value, GroupFull)
        log = Log(["alice"], creator="bob")
        await alice.book.take(log.changes)
        assert alice.book.declined(log.id)
        assert alice.events.errors and "bob added you" in alice.events.errors[-1][1]
        assert len(await alice.book.mine()) == 2
        await alice.book.take(log.changes)  # told once
        assert len(alice.events.errors) == 1

    run(scenario)


# --- branches: the fork choice at work between members ---------------------------------------


def run_world(test: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        try:
            await asyncio.wait_for(test(world), timeout=20)
        finally:
            await world.close()

    asyncio.run(main())


async def same_head(users: list[User], group: UUID) -> bool:
    heads = {await user.head(group) for user in users}
    return len(heads) == 1 and None not in heads


def test_of_two_admins_branches_written_apart_the_one_with_more_changes_wins_everywhere() -> None:
    """bob, cut off, renames and removes dave; alice adds erin meanwhile. Healed, every member
    takes bob's branch (two admins' changes against one, whatever the hashes), alice's add is
    written again on top, and dave is told the chain up to his removal, not past it."""

    async def scenario(world: World) -> None:
        users = await world.online("alice", "bob", "carol", "dave", "erin")
        alice, bob, carol, dave, erin = users
        group = (await alice.groups.create("friends", ["bob", "carol", "dave"])).id
        await alice.groups.make_admin(group, "bob")
        await alice.trust.outgoing("erin", erin.key)
        await world.until(lambda: same_head([alice, bob, carol, dave], group))
        world.cut("bob")
        await alice.groups.add(group, "erin")
        renamed = await bob.groups.rename(group, "renamed")
        removed = await bob.groups.remove(group, "dave")
        await world.quiet()
        world.heal()
        await bob.reconnect()
        members = [alice, bob, carol, erin]
        await world.until(lambda: same_head(members, group))
        await world.until(lambda: same_head([dave], group))
        state, left = await alice.groups.get(group)
        assert state.name == "renamed" and state.names == ("alice", "bob", "carol", "erin")
        assert state.version == 4 and not left
        chain = (await view(alice, group)).chain
        assert [c.hash() for c in chain[2:4]] == [renamed.head, removed.head]
        assert chain[4].kind is ChangeKind.ADD and chain[4].author == "alice"
        for user in members:
            assert (await view(user, group)).chain == chain
        assert (await view(dave, group)).chain == chain[:4]
        assert await dave.groups.get(group) == (removed, True)

    run_world(scenario)


def test_an_own_leave_that_loses_to_another_members_leave_is_written_again() -> None:
    """carol and mallory leave at once: mallory's leave has the smaller hash and takes the
    version; carol's client writes her leave again on top, so she is gone all the same."""

    async def scenario(world: World) -> None:
        (carol,) = await world.online("carol")
        log = Log(["carol", "mallory"])
        await carol.book.take(log.changes)
        mine = await carol.groups.leave(log.id)
        mallorys = next(
            c
            for c in (
                sign(
                    Change(
                        group=log.id,
                        kind=ChangeKind.LEAVE,
                        version=1,
                        prev=log.head.head,
                        author="mallory",
                        at=T0 + timedelta(minutes=n),
                    )
                )
                for n in range(999)
            )
            if c.hash() < mine.head
        )
        await carol.book.take([mallorys])
        state, left = await carol.book.get(log.id)
        assert state.version == 2 and state.names == ("alice",) and left
        chain = (await view(carol, log.id)).chain
        assert chain[1] == mallorys and chain[2].author == "carol"

    run_world(scenario)


def written(state: GroupState, kind: ChangeKind, author: str, n: int, **fields: object) -> Change:
    """``author``'s change of ``kind`` on ``state``, signed, made at minute ``n``."""
    if kind is ChangeKind.ADD:
        fields.setdefault("key", key_of(str(fields["member"])))
    draft = Change(
        group=state.id,
        kind=kind,
        version=state.version + 1,
        prev=state.head,
        author=author,
        at=T0 + timedelta(minutes=n),
        **fields,
    )
    return sign(draft)


def test_a_branch_that_wins_back_brings_back_an_own_change_which_is_not_written_twice() -> None:
    """alice renames; bob's branch of two changes outranks hers, so her rename is written
    again on top of his. Then carol's three changes on alice's first rename arrive: that
    branch wins back. The copy written again is displaced in its turn, but the original is
    on the chain again: written once more it would undo carol's rename."""

    async def scenario(alice: User) -> None:
        log = Log(["bob", "carol"])
        log.then(ChangeKind.ADMIN, member="bob")
        log.then(ChangeKind.ADMIN, member="carol")
        await alice.book.take(log.changes)
        base = log.head
        await alice.groups.rename(log.id, "alice's")
        mine = (await view(alice, log.id)).chain[-1]
        bobs = written(base, ChangeKind.RENAME, "bob", 1, name="bob's")
        bobs_too = written(apply(base, bobs, verify), ChangeKind.ADD, "bob", 2, member="dave")
        await alice.book.take([bobs, bobs_too])
        chain = (await view(alice, log.id)).chain
        assert chain[3:5] == (bobs, bobs_too) and chain[5].name == "alice's"  # written again
        state = apply(base, mine, verify)
        carols = []
        for n, (kind, fields) in enumerate(
            [
                (ChangeKind.RENAME, {"name": "carol's"}),
                (ChangeKind.ADD, {"member": "erin"}),
                (ChangeKind.ADD, {"member": "frank"}),
            ]
        ):
            carols.append(written(state, kind, "carol", 10 + n, **fields))
            state = apply(state, carols[-1], verify)
        await alice.book.take(carols)
        final, _ = await alice.book.get(log.id)
        assert final == state  # carol's branch, and nothing written on top
        assert final.name == "carol's" and final.version == 6
        assert (await view(alice, log.id)).chain[3:] == (mine, *carols)

    run(scenario)
