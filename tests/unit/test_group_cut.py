"""An admin's cut of a member who already left: a ``remove`` of a non-member with an ``upto``
(the domain's rule, the smallest cut in :func:`departure_cut`, and the ``remove`` use case).

A member who leaves writes its own ``upto``; a dishonest one writes a huge one (or none) and
keeps posting under a version from before it left. The cut lets an admin cap it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from chinwag.domain.errors import NotAMember, NotAnAdmin
from chinwag.domain.group import ChangeKind
from chinwag.domain.group_fork import weight
from chinwag.domain.group_log import apply, canonical, replay
from chinwag.domain.group_message import departure_cut
from tests.unit.groups_world import World
from tests.unit.test_group_domain import create, follow, started, verify

# --- the domain: a cut applies, changes nothing but version and head -------------------------


def test_an_admin_cuts_a_member_who_left_and_only_the_version_and_head_move() -> None:
    state, _ = started()
    gone = apply(state, follow(state, ChangeKind.LEAVE, "carol", upto=10**6), verify)
    cut = follow(gone, ChangeKind.REMOVE, "alice", member="carol", upto=1)
    after = apply(gone, cut, verify)
    assert after.members == gone.members and after.admins == gone.admins
    assert after.name == gone.name
    assert after.version == gone.version + 1 and after.head == cut.hash()
    assert weight(cut, gone.admins) == 1  # an admin's change, as any remove


def test_a_remove_of_a_non_member_needs_an_upto_and_an_admin() -> None:
    state, _ = started()
    gone = apply(state, follow(state, ChangeKind.LEAVE, "carol", upto=3), verify)
    with pytest.raises(NotAMember, match="carol is not a member"):
        apply(gone, follow(gone, ChangeKind.REMOVE, "alice", member="carol"), verify)
    with pytest.raises(NotAnAdmin):
        apply(gone, follow(gone, ChangeKind.REMOVE, "bob", member="carol", upto=0), verify)
    with pytest.raises(NotAMember, match="carol is not a member"):  # the author must be one
        apply(gone, follow(gone, ChangeKind.REMOVE, "carol", member="bob", upto=0), verify)


def test_a_cut_is_replayed_and_chosen_as_any_change() -> None:
    genesis_change = create()
    state, _ = started()
    leave = follow(state, ChangeKind.LEAVE, "carol", upto=9)
    gone = apply(state, leave, verify)
    cut = follow(gone, ChangeKind.REMOVE, "alice", member="carol", upto=2)
    head, chain = canonical([cut, leave, genesis_change], verify, group=state.id)
    assert chain == [genesis_change, leave, cut] and head.names == ("alice", "bob")
    assert replay(chain)[-1] == head


# --- departure_cut: the smallest cut, up to the next add -------------------------------------


def test_the_smallest_cut_after_the_version_counts_until_the_member_is_added_again() -> None:
    genesis_change = create()
    state, _ = started()
    chain = [genesis_change]

    def then(kind: ChangeKind, author: str, **fields: Any) -> None:
        nonlocal state
        change = follow(state, kind, author, **fields)
        state = apply(state, change, verify)
        chain.append(change)

    then(ChangeKind.LEAVE, "carol", upto=10**6)  # 1: her own, huge
    assert departure_cut(chain, 0, "carol") == 10**6
    then(ChangeKind.REMOVE, "alice", member="carol", upto=4)  # 2: alice's cut
    then(ChangeKind.REMOVE, "alice", member="carol", upto=7)  # 3: a larger one changes nothing
    assert departure_cut(chain, 0, "carol") == 4
    assert departure_cut(chain, 2, "carol") == 7  # only what comes after the version
    assert departure_cut(chain, 0, "bob") is None
    then(ChangeKind.ADD, "alice", member="carol")  # 4: a new membership
    then(ChangeKind.REMOVE, "alice", member="carol", upto=1)  # 5: ends that one
    assert departure_cut(chain, 0, "carol") == 4  # the add closes the old membership's cuts
    assert departure_cut(chain, 4, "carol") == 1


def test_a_leave_without_an_upto_is_capped_by_a_later_cut() -> None:
    genesis_change = create()
    state, _ = started()
    leave = follow(state, ChangeKind.LEAVE, "carol")
    gone = apply(state, leave, verify)
    chain = [genesis_change, leave]
    assert departure_cut(chain, 0, "carol") is None
    chain.append(follow(gone, ChangeKind.REMOVE, "alice", member="carol", upto=2))
    assert departure_cut(chain, 0, "carol") == 2


# --- the use case: remove a former member -----------------------------------------------------


def run(test: Callable[[World], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        try:
            await asyncio.wait_for(test(world), timeout=10)
        finally:
            await world.close()

    asyncio.run(main())


def test_removing_a_former_member_writes_a_cut_at_the_count_held_here() -> None:
    async def scenario(world: World) -> None:
        alice, bob, carol = await world.online("alice", "bob", "carol")
        group = (await alice.groups.create("friends", ["bob", "carol"])).id

        async def carol_known() -> bool:
            return await carol.book.view(group) is not None

        await world.until(carol_known)
        await carol.post.execute(group, "one")
        await carol.post.execute(group, "two")

        async def alice_holds_both() -> bool:
            return await alice.progress.last(group, "carol") == 2

        await world.until(alice_holds_both)
        await carol.groups.leave(group)

        async def alice_saw_her_leave() -> bool:
            view = await alice.book.view(group)
            return view is not None and view.head.version == 1

        await world.until(alice_saw_her_leave)
        before = (await alice.groups.get(group))[0]
        state = await alice.groups.remove(group, "Carol")
        assert state.names == before.names == ("alice", "bob")
        assert state.version == 2
        cut = (await alice.groups.log(group))[-1]
        assert (cut.kind, cut.author, cut.member, cut.upto) == (
            ChangeKind.REMOVE,
            "alice",
            "carol",
            2,
        )
        with pytest.raises(NotAMember, match="erin is not a member of 'friends'"):
            await alice.groups.remove(group, "erin")  # never in the group
        assert (await alice.groups.get(group))[0].version == 2
        with pytest.raises(NotAnAdmin):
            await bob.groups.remove(group, "carol")

    run(scenario)
