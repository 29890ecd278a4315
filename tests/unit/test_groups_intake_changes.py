"""Changes from peers: what comes onto a chain is stored, valid changes off it are held in
memory (bounded) since their branch may still win, the rest is not kept, at a cost bounded by
what arrived (review findings 6c, 8 and 9, and the forked leave of the fork choice's review).

Logs are written by hand (:class:`tests.unit.groups_world.Log`) and handed to bob's book, or to
:func:`~chinwag.application.groups.growth.grow` or
:class:`~chinwag.application.groups.pending.PendingGroups` alone; the chain that results is
compared with the domain's :func:`~chinwag.domain.group_log.canonical` over every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chinwag.application.groups import book as book_module
from chinwag.application.groups import limits
from chinwag.application.groups import pending as pending_module
from chinwag.application.groups.growth import Settled, compute, grow
from chinwag.application.groups.pending import PendingGroups
from chinwag.application.groups.view import GroupView
from chinwag.domain.errors import DomainError
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_fork import rank
from chinwag.domain.group_log import GroupState, apply, canonical
from tests.unit.groups_world import T0, Log, User, World, sign, verify


def run(test: Callable[[User], Awaitable[None]]) -> None:
    async def main() -> None:
        world = World()
        (bob,) = await world.online("bob")
        try:
            await asyncio.wait_for(test(bob), timeout=10)
        finally:
            await world.close()

    asyncio.run(main())


def on(state: GroupState, kind: ChangeKind, author: str, n: int = 0, **fields: object) -> Change:
    """``author``'s change of ``kind`` on ``state`` (valid or not), signed by them."""
    return sign(
        Change(
            group=state.id,
            kind=kind,
            version=state.version + 1,
            prev=state.head,
            author=author,
            at=T0 + timedelta(seconds=n),
            **fields,
        )
    )


async def head(bob: User, group: UUID) -> GroupState:
    view = await bob.book.view(group)
    assert view is not None
    return view.head


# --- 6c: a change by a member added in the same batch ---------------------------------------


def test_changes_by_a_member_added_in_the_same_batch_are_taken() -> None:
    async def scenario(bob: User) -> None:
        log = Log(["bob", "carol"])
        await bob.book.take(log.changes)
        log.then(ChangeKind.ADD, member="dave")
        log.then(ChangeKind.ADMIN, member="dave")
        log.then(ChangeKind.RENAME, author="dave", name="dave's name")
        taken = await bob.book.take(log.changes)
        assert taken.changed == [log.head] and not taken.unconnected
        assert await head(bob, log.id) == log.head
        assert len(await bob.changes.changes(log.id)) == 4

    run(scenario)


def test_a_group_is_joined_when_a_member_added_in_the_same_batch_adds_this_user() -> None:
    async def scenario(bob: User) -> None:
        log = Log(["carol"])
        log.then(ChangeKind.ADD, member="dave")
        log.then(ChangeKind.ADMIN, member="dave")
        log.then(ChangeKind.ADD, author="dave", member="bob")
        taken = await bob.book.take(log.changes)
        assert taken.changed == [log.head]
        assert await bob.book.get(log.id) == (log.head, False)
        assert await bob.changes.changes(log.id) == log.changes

    run(scenario)


# --- 8: changes that never apply are not kept ------------------------------------------------


def test_changes_that_never_apply_are_not_stored_and_take_no_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """mallory, a member but no admin, chains 30 renames on the head (each signed by her,
    none valid): nothing is stored, so an admin's change later still finds room."""

    async def scenario(bob: User) -> None:
        monkeypatch.setattr(book_module, "MAX_CHANGES_PER_GROUP", 20)
        log = Log(["bob", "carol", "mallory"])
        await bob.book.take(log.changes)
        state, junk = log.head, []
        for n in range(30):
            change = on(state, ChangeKind.RENAME, "mallory", n, name=f"junk {n}")
            junk.append(change)
            state = state.model_copy(update={"version": change.version, "head": change.hash()})
        taken = await bob.book.take(junk)
        assert taken.changed == [] and not taken.unconnected
        assert await bob.changes.changes(log.id) == log.changes
        log.then(ChangeKind.RENAME, name="a real rename")
        await bob.book.take(log.changes)
        assert (await head(bob, log.id)).name == "a real rename"

    run(scenario)


def test_a_valid_change_that_loses_its_place_is_not_stored() -> None:
    """Two admins' renames of one version: the one with the smaller hash is the chain's; the
    other is held in memory (its branch may grow), not stored."""

    async def scenario(bob: User) -> None:
        log = Log(["bob", "carol"])
        await bob.book.take(log.changes)
        base = log.head
        one, two = (on(base, ChangeKind.RENAME, "alice", n, name=f"name {n}") for n in (1, 2))
        winner, loser = sorted((one, two), key=Change.hash)
        await bob.book.take([loser, winner])
        assert (await head(bob, log.id)).head == winner.hash()
        assert await bob.changes.changes(log.id) == [*log.changes, winner]
        await bob.book.take([loser])  # again, alone: held already, still not stored
        assert await bob.changes.changes(log.id) == [*log.changes, winner]
        view = await bob.book.view(log.id)
        assert view is not None and loser.hash() in view.side

    run(scenario)


ADMINS = ("alice", "bob")
MEMBERS = ("alice", "bob", "carol", "dave", "erin")


def random_tree(rng: random.Random, size: int) -> tuple[Log, list[Change]]:
    """A log and ``size`` changes hanging from it, in parent order: renames, adds, removes,
    admins and leaves, written on random earlier nodes, some of them not valid there."""
    log = Log(["bob", "carol"])
    log.then(ChangeKind.ADMIN, member="bob")
    nodes: list[GroupState] = list(log.states)
    changes: list[Change] = []
    for n in range(size):
        base = rng.choice(nodes)
        author = rng.choice(MEMBERS)
        kind = rng.choice(list(ChangeKind)[1:])
        fields: dict[str, object] = {}
        if kind is ChangeKind.ADD:
            fields = {"member": rng.choice(MEMBERS), "key": b"k" * 32}
        elif kind in (ChangeKind.REMOVE, ChangeKind.ADMIN):
            fields = {"member": rng.choice(MEMBERS)}
        elif kind is ChangeKind.RENAME:
            fields = {"name": f"name {n}"}
        change = on(base, kind, author, n, **fields)
        changes.append(change)
        with contextlib.suppress(DomainError):  # not valid there: sent all the same
            nodes.append(apply(base, change, verify))
    return log, changes


def consistent(view: GroupView) -> None:
    """What a view's tree must be between growths: each branch's reach is its weight and the
    best reach below it among those held, and no branch outranks the chain where it forks."""
    on_chain = {state.head for state in view.states}
    for digest, branch in view.side.items():
        kids = view.kids.get(digest, ())
        assert all(kid in view.side for kid in kids)
        assert branch.change.prev in view.side or branch.change.prev in on_chain
        below = max((view.side[kid].reach for kid in kids), default=0)
        assert branch.reach == branch.weight + below
    assert view.head.head not in view.kids  # nothing held follows the head
    for version, state in enumerate(view.states[:-1]):
        ours = view.states[version + 1].head
        chain_rank = rank(view.weights[-1] - view.weights[version], ours)
        for kid in view.kids[state.head]:
            assert kid == ours or rank(view.side[kid].reach, kid) > chain_rank


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=60))
def test_growing_a_chain_frame_by_frame_gives_the_canonical_chain(
    rng: random.Random, size: int
) -> None:
    """Whatever the frames (in parent order, of any size), the chain grown is the one the
    domain computes over every change so far; only changes on it are stored, and what is
    stored gives the same chain again (a restart)."""
    log, changes = random_tree(rng, size)
    view = compute(log.id, log.changes, verify)
    assert view is not None
    given_so_far = list(log.changes)
    settled = Settled(1_000)
    while changes:
        cut = rng.randint(1, len(changes))
        frame, changes = changes[:cut], changes[cut:]
        growth = grow(view, rng.sample(frame, len(frame)), verify, room=10_000, settled=settled)
        settled.update(growth.dropped)
        given_so_far.extend(frame)
        _, chain = canonical(given_so_far, verify, group=log.id)
        assert list(growth.view.chain) == chain
        assert not growth.loose
        assert set(growth.kept) <= set(chain)
        again = compute(log.id, growth.view.changes, verify)
        assert again is not None and again.chain == growth.view.chain
        consistent(growth.view)
        view = growth.view


@settings(max_examples=60, deadline=None)
@given(
    st.randoms(use_true_random=False),
    st.integers(min_value=1, max_value=80),
    st.integers(min_value=0, max_value=6),
)
def test_with_branches_let_go_the_chain_is_the_canonical_one_of_what_is_held_and_stored(
    rng: random.Random, size: int, cap: int
) -> None:
    """With at most ``cap`` branches held, the chain is what the domain computes over the
    changes held and stored (branches let go can only have lost), and what a restart loads
    gives it again."""
    log, changes = random_tree(rng, size)
    view = compute(log.id, log.changes, verify)
    assert view is not None
    while changes:
        cut = rng.randint(1, len(changes))
        frame, changes = changes[:cut], changes[cut:]
        view = grow(view, rng.sample(frame, len(frame)), verify, room=10_000, cap=cap).view
        assert len(view.side) <= cap
        held = [*view.changes, *(branch.change for branch in view.side.values())]
        assert canonical(held, verify, group=log.id)[1] == list(view.chain)
        again = compute(log.id, view.changes, verify)
        assert again is not None and again.chain == view.chain
        consistent(view)


def test_a_branch_that_loses_now_wins_once_it_grows() -> None:
    """bob's rename loses to alice's on the hash; when bob's next change arrives his branch
    holds two admins' changes against one: the chain moves to it and it is stored."""

    async def scenario(bob: User) -> None:
        log = Log(["bob", "carol"])
        log.then(ChangeKind.ADMIN, member="bob")
        await bob.book.take(log.changes)
        base = log.head
        alices = on(base, ChangeKind.RENAME, "alice", 1, name="alice's")
        bobs = next(
            c
            for c in (on(base, ChangeKind.RENAME, "bob", n, name="bob's") for n in range(2, 99))
            if c.hash() > alices.hash()
        )
        await bob.book.take([alices, bobs])
        assert (await head(bob, log.id)).name == "alice's"
        assert await bob.changes.changes(log.id) == [*log.changes, alices]
        then = on(apply(base, bobs, verify), ChangeKind.ADD, "bob", 3, member="dave", key=KEY)
        taken = await bob.book.take([then])
        state = await head(bob, log.id)
        assert taken.changed == [state] and not taken.unconnected
        assert state.name == "bob's" and state.is_member("dave") and state.version == 3
        assert await bob.changes.changes(log.id) == [*log.changes, alices, bobs, then]
        reloaded = compute(log.id, await bob.changes.changes(log.id), verify)
        assert reloaded is not None and reloaded.chain[-2:] == (bobs, then)

    run(scenario)


KEY = b"k" * 32


def test_a_members_leave_forked_from_the_past_is_held_not_stored_and_moves_nothing() -> None:
    """The reviewer's attack at a member: mallory's leave following version 1, with a hash
    smaller than version 2's. Held (it is valid), not stored, and the chain stays."""

    async def scenario(bob: User) -> None:
        log = Log(["bob", "carol", "mallory"])
        log.then(ChangeKind.ADD, member="dave")
        second = log.then(ChangeKind.RENAME, name="renamed")
        log.then(ChangeKind.REMOVE, member="carol")
        await bob.book.take(log.changes)
        forked = next(
            c
            for c in (on(log.states[1], ChangeKind.LEAVE, "mallory", n) for n in range(999))
            if c.hash() < second.hash()
        )
        taken = await bob.book.take([forked])
        assert taken.changed == [] and not taken.unconnected
        assert await head(bob, log.id) == log.head
        assert await bob.changes.changes(log.id) == log.changes
        assert bob.events.groups[-1] == (log.head, False)  # nothing told since

    run(scenario)


def test_branches_past_the_bound_go_the_members_leaves_first() -> None:
    """A member floods valid leaves on every past change of the chain: at most ``cap`` branches
    are held, an admin's concurrent change among them is the last to go, and the chain is
    untouched."""
    log = Log(["bob", "mallory"])
    log.then(ChangeKind.ADMIN, member="bob")
    for n in range(4):
        log.then(ChangeKind.RENAME, name=f"name {n}")
    view = compute(log.id, log.changes, verify)
    assert view is not None
    rival = next(  # an admin's concurrent rename, losing on the hash
        c
        for c in (on(log.states[-2], ChangeKind.RENAME, "bob", n, name="bob's") for n in range(99))
        if c.hash() > log.changes[-1].hash()
    )
    view = grow(view, [rival], verify, room=10).view
    assert rival.hash() in view.side
    flood = [on(s, ChangeKind.LEAVE, "mallory", n) for s in log.states[:-1] for n in range(5)]
    growth = grow(view, flood, verify, room=10, cap=8)
    assert growth.view.chain == tuple(log.changes) and growth.kept == []
    assert len(growth.view.side) == 8 and rival.hash() in growth.view.side
    consistent(growth.view)
    held = [d for d in growth.view.side if d != rival.hash()]
    assert held == [c.hash() for c in flood[-7:]]  # the oldest went first


def test_changes_whose_parent_is_not_known_say_so_and_are_not_kept() -> None:
    log = Log(["bob"])
    view = compute(log.id, log.changes, verify)
    assert view is not None
    first = log.then(ChangeKind.RENAME, name="one")
    second = log.then(ChangeKind.RENAME, name="two")
    growth = grow(view, [second], verify, room=10)
    assert growth.loose and growth.kept == [] and growth.view is view
    growth = grow(view, [second, first], verify, room=10)
    assert growth.kept == [first, second] and not growth.loose


def test_a_change_on_a_long_log_costs_only_its_own_check(monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(bob: User) -> None:
        log = Log(["bob"])
        for n in range(300):
            log.then(ChangeKind.RENAME, name=f"name {n}")
        await bob.book.take(log.changes)
        computed: list[UUID] = []

        def counting(group: UUID, changes: Iterable[Change], check: object) -> GroupView | None:
            computed.append(group)
            return compute(group, changes, check)  # type: ignore[arg-type]

        monkeypatch.setattr(book_module, "compute", counting)
        checks = bob.signatures.checks
        await bob.book.take([log.then(ChangeKind.RENAME, name="the last")])
        assert (await head(bob, log.id)).name == "the last"
        assert bob.signatures.checks == checks + 1 and computed == []

    run(scenario)


# --- 9: groups not known yet -----------------------------------------------------------------


def copies(create: Change, count: int) -> list[Change]:
    """``create`` with ``count`` other signatures: the same content, so the same group id."""
    return [create.signed(bytes([n % 256, n // 256]) * 32) for n in range(1, count + 1)]


def test_copies_of_a_create_cost_a_few_checks_and_the_genuine_one_is_held() -> None:
    """Copies of a group's create with other signatures (so with its id): a few are checked
    per frame, and none once the genuine one is held."""

    async def scenario(bob: User) -> None:
        log = Log(["carol"])
        checks = bob.signatures.checks
        await bob.book.take(copies(log.changes[0], 200))  # a frame of copies: a few checks
        assert bob.signatures.checks - checks <= limits.MAX_CREATE_TRIES
        await bob.book.take(log.changes)  # the genuine create, from another peer: held
        checks = bob.signatures.checks
        await bob.book.take(copies(log.changes[0], 200))  # copies now: none checked
        assert bob.signatures.checks == checks
        added = log.then(ChangeKind.ADD, member="bob")
        await bob.book.take([added])  # the genuine create was held meanwhile
        assert await bob.book.get(log.id) == (log.head, False)

    run(scenario)


def test_only_a_create_deriving_the_groups_id_and_valid_changes_on_it_are_held() -> None:
    pending = PendingGroups(verify)
    log = Log(["carol"])
    create = log.changes[0]
    claimed = uuid4()
    assert pending.feed(claimed, [create.model_copy(update={"group": claimed})]) == (None, False)
    assert len(pending) == 0
    view, _ = pending.feed(log.id, [create])
    assert view is not None and len(pending) == 1
    held = pending.weight
    base = log.head
    junk = [on(base, ChangeKind.RENAME, "carol", n, name=f"junk {n}") for n in range(50)]
    junk += [on(base, ChangeKind.RENAME, "eve", n, name=f"eve {n}") for n in range(50)]
    view, loose = pending.feed(log.id, junk)
    assert view is not None and view.chain == (create,) and not loose
    assert pending.weight == held
    added = log.then(ChangeKind.ADD, member="bob")
    view, _ = pending.feed(log.id, [added])
    assert view is not None and view.head == log.head and pending.weight > held


def test_groups_not_known_are_held_within_a_bound_in_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logs = [Log([f"member{n}"], creator=f"creator{n}") for n in range(10)]
    pending = PendingGroups(verify)
    pending.feed(logs[0].id, logs[0].changes)
    one = pending.weight
    monkeypatch.setattr(pending_module, "MAX_PENDING_BYTES", 3 * one + one // 2)
    for log in logs[1:]:
        pending.feed(log.id, log.changes)
    assert len(pending) == 3 and pending.weight <= 3 * one + one // 2
    newest = logs[-1]
    view, _ = pending.feed(newest.id, [])  # the groups fed last are those held
    assert view is not None and view.id == newest.id
    pending.drop(newest.id)
    assert len(pending) == 2
