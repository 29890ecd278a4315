"""A member's flood of leaves (second review of issue 10): mallory, a member but no admin, signs
many leaves on the head (each with its own time, so each is distinct) and sends them one per
frame, largest hash first. Each ties the head's leave at reach 0 with a smaller hash, so each
moves the chain and is stored. What is stored off the chain must neither take the room of the
chain (an admin's next change is refused for good) nor pile up without end: the room is the
chain's, and changes stored off it are let go (the chain stays, on a restart too).

Logs are written by hand (:class:`tests.unit.groups_world.Log`) and handed to bob's book.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from chinwag.application.groups import book as book_module
from chinwag.application.groups import pending as pending_module
from chinwag.application.groups.growth import compute
from chinwag.application.groups.pending import PendingGroups
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState, canonical
from tests.unit.groups_world import T0, Log, User, World, key_of, sign, verify

pytestmark = pytest.mark.timeout(30)


def run(test: Callable[[World, User], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        (bob,) = await world.online("bob")
        try:
            await asyncio.wait_for(test(world, bob), timeout=20)
        finally:
            await world.close()

    asyncio.run(main())


def leaves(state: GroupState, author: str, count: int) -> list[Change]:
    """``count`` distinct leaves of ``author`` on ``state``, largest hash first."""
    made = [
        sign(
            Change(
                group=state.id,
                kind=ChangeKind.LEAVE,
                version=state.version + 1,
                prev=state.head,
                author=author,
                at=T0 + timedelta(seconds=n),
            )
        )
        for n in range(count)
    ]
    return sorted(made, key=Change.hash, reverse=True)


def test_a_flood_of_leaves_one_per_frame_does_not_take_an_admins_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(world: World, bob: User) -> None:
        monkeypatch.setattr(book_module, "MAX_CHANGES_PER_GROUP", 20)
        monkeypatch.setattr(book_module, "MAX_STORED_OFF_CHAIN", 5)
        log = Log(["bob", "mallory"])
        await bob.book.take(log.changes)
        flood = leaves(log.head, "mallory", 60)
        for leave in flood:
            taken = await bob.book.take([leave])
            assert taken.changed  # each one moves the chain (a smaller hash, reach 0 too)
        stored = await bob.changes.changes(log.id)
        assert len(stored) <= 2 + 5 + 1  # the chain, what may wait off it, the last one
        view = await bob.book.view(log.id)
        assert view is not None and view.head.head == flood[-1].hash()
        assert {c.hash() for c in view.changes} == {c.hash() for c in stored}

        # alice, on the head she holds (the smallest leave: every member's), renames.
        state = view.head
        rename = sign(
            Change(
                group=log.id,
                kind=ChangeKind.RENAME,
                version=state.version + 1,
                prev=state.head,
                author="alice",
                at=T0 + timedelta(hours=1),
                name="new",
            )
        )
        taken = await bob.book.take([rename])
        assert taken.changed and taken.changed[0].name == "new"

        # The same chain as the domain's over every change, and as a restart computes.
        _, expected = canonical([*log.changes, *flood, rename], verify, group=log.id)
        after = await bob.book.view(log.id)
        assert after is not None
        assert [c.hash() for c in after.chain] == [c.hash() for c in expected]
        again = compute(log.id, await bob.changes.changes(log.id), verify)
        assert again is not None and again.head == after.head
        restarted = world.restart("bob")
        await restarted.sign_in()
        assert (await restarted.book.get(log.id))[0] == after.head

    run(scenario)


def test_a_member_who_got_the_flood_in_one_batch_ends_on_the_same_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario(world: World, bob: User) -> None:
        monkeypatch.setattr(book_module, "MAX_CHANGES_PER_GROUP", 20)
        (carol,) = await world.online("carol")
        log = Log(["bob", "carol", "mallory"])
        flood = leaves(log.head, "mallory", 40)
        await bob.book.take(log.changes)
        await carol.book.take(log.changes)
        for leave in flood:
            await bob.book.take([leave])
        await carol.book.take(flood)
        heads = [await bob.book.view(log.id), await carol.book.view(log.id)]
        assert all(v is not None and v.head.head == flood[-1].hash() for v in heads)
        rename = sign(
            Change(
                group=log.id,
                kind=ChangeKind.RENAME,
                version=log.head.version + 2,
                prev=flood[-1].hash(),
                author="alice",
                at=T0 + timedelta(hours=1),
                name="new",
            )
        )
        for user in (bob, carol):
            await user.book.take([rename])
            assert (await user.book.get(log.id))[0].name == "new"

    run(scenario)


def test_a_pending_log_flooded_with_leaves_still_takes_the_add_of_this_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pending_module, "MAX_PENDING_CHANGES", 10)
    monkeypatch.setattr(pending_module, "MAX_STORED_OFF_CHAIN", 3)
    pending = PendingGroups(verify)
    log = Log(["bob", "mallory"])
    pending.feed(log.id, log.changes)
    flood = leaves(log.head, "mallory", 30)
    for leave in flood:
        pending.feed(log.id, [leave])
    view, _ = pending.feed(log.id, [])
    assert view is not None and len(view.changes) <= 2 + 3 + 1
    added = sign(
        Change(
            group=log.id,
            kind=ChangeKind.ADD,
            version=view.head.version + 1,
            prev=view.head.head,
            author="alice",
            at=T0 + timedelta(hours=1),
            member="dave",
            key=key_of("dave"),
        )
    )
    view, _ = pending.feed(log.id, [added])
    assert view is not None and view.head.is_member("dave")
