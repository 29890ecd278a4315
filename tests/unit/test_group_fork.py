"""The fork choice (``domain/group_fork.py``): a member's leave, forked from the past or not,
alone or with others, never undoes an admin's change; admins' branches compete by how many
changes they hold, then by hash. And what the rule does not close, said as a test.

Signatures are faked as in ``test_group_domain`` (whose helpers these are).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_fork import rank, weight
from chinwag.domain.group_log import GroupState, apply, canonical, genesis, orphans
from tests.unit.test_group_domain import T0, create, follow, smallest_hash_chain, verify


def grind(make: Callable[[datetime], Change], below: bytes) -> Change:
    """What an attacker does for free: ``make`` the change at one moment after another until
    its hash is smaller than ``below``."""
    moments = (T0 + timedelta(seconds=s) for s in itertools.count())
    return next(c for c in map(make, moments) if c.hash() < below)


class History:
    """A chain written by hand: alice the creator and admin, the members given."""

    def __init__(self, *members: str) -> None:
        start = create(members=members or ("bob", "carol", "mallory"))
        self.changes = [start]
        self.states = [genesis(start, verify)]

    def then(self, kind: ChangeKind, author: str = "alice", **fields: Any) -> Change:
        change = follow(self.states[-1], kind, author, **fields)
        self.states.append(apply(self.states[-1], change, verify))
        self.changes.append(change)
        return change

    def chain(self, *more: Change) -> list[Change]:
        _, chain = canonical([*self.changes, *more], verify)
        return chain


def leave_on(state: GroupState, author: str, below: bytes) -> Change:
    return grind(lambda at: follow(state, ChangeKind.LEAVE, author, at=at), below)


def test_weights_and_ranks() -> None:
    state = genesis(create(), verify)
    assert weight(follow(state, ChangeKind.LEAVE, "bob"), state.admins) == 0
    assert weight(follow(state, ChangeKind.LEAVE, "alice"), state.admins) == 1
    assert weight(follow(state, ChangeKind.RENAME, "alice", name="x"), state.admins) == 1
    assert rank(2, b"\xff") < rank(1, b"\x00") < rank(1, b"\x01")


def test_a_members_leave_forked_from_the_past_undoes_nothing() -> None:
    """The reviewer's attack: mallory signs a leave following version 1 (valid there: she
    was a member), with a smaller hash than the real version 2. Under the smallest-hash rule
    it took the chain and orphaned the add, the rename and the removal that followed."""
    history = History()
    history.then(ChangeKind.ADD, member="dave")
    second = history.then(ChangeKind.RENAME, name="renamed")
    history.then(ChangeKind.REMOVE, member="carol")
    forked = leave_on(history.states[1], "mallory", below=second.hash())

    chain = history.chain(forked)

    assert chain == history.changes
    assert orphans([*history.changes, forked], chain) == [forked]
    state = history.states[-1]
    assert state.names == ("alice", "bob", "mallory", "dave") and state.name == "renamed"
    # The same set under the old rule: her leave wins.
    assert smallest_hash_chain([*history.changes, forked], state.id)[-1] == forked


def test_members_leaving_in_turn_undo_nothing_however_many_they_are() -> None:
    """Six members collude, each leaving on top of the last, forked from version 1: their
    branch is six changes deep against two, and reaches no admin's change (a rule counting
    depth would take it)."""
    colluders = [f"m{n}" for n in range(6)]
    history = History("bob", *colluders)
    history.then(ChangeKind.RENAME, name="one")
    history.then(ChangeKind.RENAME, name="two")
    history.then(ChangeKind.ADD, member="dave")
    state, fork = history.states[1], []
    for name in colluders:
        fork.append(follow(state, ChangeKind.LEAVE, name))
        state = apply(state, fork[-1], verify)

    assert history.chain(*fork) == history.changes


def test_a_leave_at_the_heads_parent_loses_to_the_admins_newest_change() -> None:
    history = History()
    newest = history.then(ChangeKind.RENAME, name="renamed")
    rival = leave_on(history.states[0], "mallory", below=newest.hash())
    assert history.chain(rival) == history.changes


def test_a_leave_followed_by_an_admins_change_outranks_a_lone_leave() -> None:
    """carol left, then alice renamed: mallory's leave forked where carol's was competes with
    carol's leave *and* what followed it."""
    history = History()
    carols = history.then(ChangeKind.LEAVE, author="carol")
    history.then(ChangeKind.RENAME, name="renamed")
    rival = leave_on(history.states[0], "mallory", below=carols.hash())
    assert history.chain(rival) == history.changes


def test_an_admins_leave_is_an_admins_change() -> None:
    history = History()
    history.then(ChangeKind.ADMIN, member="bob")
    alices = history.then(ChangeKind.LEAVE)
    rival = leave_on(history.states[1], "mallory", below=alices.hash())
    assert history.chain(rival) == history.changes


def test_two_leaves_on_one_change_tie_and_the_smallest_hash_wins() -> None:
    """Nothing an admin did follows either: the smallest hash decides, and the other leave,
    written again on top by its author's client, applies there."""
    history = History()
    head = history.states[-1]
    carols = follow(head, ChangeKind.LEAVE, "carol")
    mallorys = follow(head, ChangeKind.LEAVE, "mallory")
    winner, loser = sorted((carols, mallorys), key=Change.hash)
    chain = history.chain(carols, mallorys)
    assert chain == [*history.changes, winner]
    state = apply(head, winner, verify)
    again = follow(state, ChangeKind.LEAVE, loser.author, at=T0 + timedelta(minutes=1))
    final, chain = canonical([*chain, loser, again], verify)
    assert chain[-2:] == [winner, again] and final.names == ("alice", "bob")


def test_two_admins_at_once_tie_and_the_smallest_hash_wins() -> None:
    history = History()
    history.then(ChangeKind.ADMIN, member="bob")
    head = history.states[-1]
    by_alice = follow(head, ChangeKind.RENAME, "alice", name="alice's")
    by_bob = follow(head, ChangeKind.ADD, "bob", member="dave")
    assert history.chain(by_alice, by_bob)[-1] == min(by_alice, by_bob, key=Change.hash)


def test_of_two_admins_branches_the_one_with_more_changes_wins_whatever_the_hashes() -> None:
    """bob's branch holds two changes, alice's one with a smaller hash: bob's is the chain
    (once alice's client learns it, it writes her rename again on top)."""
    history = History()
    history.then(ChangeKind.ADMIN, member="bob")
    head = history.states[-1]
    bobs = follow(head, ChangeKind.ADD, "bob", member="dave")
    then = follow(apply(head, bobs, verify), ChangeKind.RENAME, "bob", name="bob's")
    alices = grind(
        lambda at: follow(head, ChangeKind.RENAME, "alice", at=at, name="alice's"), bobs.hash()
    )
    assert history.chain(alices, bobs, then) == [*history.changes, bobs, then]


def test_what_the_rule_does_not_close_a_former_admin_with_more_changes_wins() -> None:
    """bob was an admin until alice removed him. On the state before his removal his
    signature still makes admin changes: a branch of two of them outweighs the one change
    made since (the smallest-hash rule needed one, and a ground hash). Closing this needs
    more than the set of changes: docs/protocol.md says so."""
    history = History("bob", "carol")
    history.then(ChangeKind.ADMIN, member="bob")
    history.then(ChangeKind.REMOVE, member="bob")
    before = history.states[1]
    first = follow(before, ChangeKind.REMOVE, "bob", member="alice")
    second = follow(apply(before, first, verify), ChangeKind.RENAME, "bob", name="bob's")
    assert history.chain(first, second)[-2:] == [first, second]
