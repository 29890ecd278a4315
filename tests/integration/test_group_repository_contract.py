"""One contract for the group repository (every membership change learnt): SQLite and the twin.

Signatures are faked as in tests/unit/test_group_domain.py: a key's signature of a message is
SHA-256(key || message). The repository checks no signature; the canonical chain does.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
from collections.abc import Coroutine, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.memory.groups import InMemoryGroupRepository
from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.groups import SqliteGroupRepository
from chinwag.application.ports.group_repository import GroupRepository
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState, apply, canonical, genesis

pytestmark = pytest.mark.timeout(30)

T = TypeVar("T")

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def key(name: str) -> bytes:
    return hashlib.sha256(b"identity:" + name.encode()).digest()


def verify(signer_key: bytes, message: bytes, signature: bytes) -> bool:
    return signature == hashlib.sha256(signer_key + message).digest()


def signed(change: Change) -> Change:
    return change.signed(hashlib.sha256(key(change.author) + change.signed_bytes()).digest())


def create(author: str = "alice", name: str = "friends", members: tuple[str, ...] = ()) -> Change:
    draft = Change.create(
        author=author, key=key(author), name=name, members={m: key(m) for m in members}, at=T0
    )
    return signed(draft)


def follow(state: GroupState, kind: ChangeKind, author: str = "alice", **fields: Any) -> Change:
    if kind is ChangeKind.ADD:
        fields.setdefault("key", key(fields["member"]))
    return signed(
        Change(
            group=state.id,
            kind=kind,
            version=state.version + 1,
            prev=state.head,
            author=author,
            at=T0 + timedelta(minutes=state.version + 1),
            **fields,
        )
    )


def history() -> list[Change]:
    """A log with every kind of change, a fork at version 1 and a change after each branch."""
    start = create(members=("bob", "carol"), name="Friends ✨ café")
    state = genesis(start, verify)
    add = follow(state, ChangeKind.ADD, member="dave")
    rename = follow(state, ChangeKind.RENAME, name="🦜 parrots")  # forks with the add
    after_add = apply(state, add, verify)
    after_rename = apply(state, rename, verify)
    admin = follow(after_add, ChangeKind.ADMIN, member="bob")
    after_admin = apply(after_add, admin, verify)
    remove = follow(after_admin, ChangeKind.REMOVE, author="bob", member="carol")
    leave = follow(apply(after_admin, remove, verify), ChangeKind.LEAVE, author="dave")
    on_rename = follow(after_rename, ChangeKind.LEAVE, author="carol")
    return [start, add, rename, admin, remove, leave, on_rename]


def hashes(changes: list[Change]) -> list[bytes]:
    return [change.hash() for change in changes]


@pytest.fixture(params=["memory", "sqlite"])
def groups(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GroupRepository]:
    if request.param == "memory":
        yield InMemoryGroupRepository()
    else:
        with Database(tmp_path / "history.sqlite3") as db:
            yield SqliteGroupRepository(db)


def test_nothing_is_stored_at_first(groups: GroupRepository) -> None:
    async def scenario() -> None:
        assert await groups.groups() == []
        assert await groups.changes(UUID(int=1)) == []
        assert await groups.add_changes([]) == []

    run(scenario())


def test_each_change_is_stored_once_by_hash_and_the_new_ones_come_back_in_order(
    groups: GroupRepository,
) -> None:
    start, add, rename, admin, *_ = history()

    async def scenario() -> None:
        assert hashes(await groups.add_changes([start, add])) == hashes([start, add])
        again = [add, admin, start, rename, admin]
        assert hashes(await groups.add_changes(again)) == hashes([admin, rename])
        assert await groups.add_changes([rename, start]) == []
        assert hashes(await groups.changes(start.group)) == hashes([start, add, admin, rename])

    run(scenario())


def test_a_change_comes_back_exactly_as_it_was_signed(groups: GroupRepository) -> None:
    changes = history()

    async def scenario() -> None:
        await groups.add_changes(changes)
        stored = await groups.changes(changes[0].group)
        assert stored == changes
        assert [c.signed_bytes() for c in stored] == [c.signed_bytes() for c in changes]
        assert [c.signature for c in stored] == [c.signature for c in changes]
        assert {c.kind for c in stored} == set(ChangeKind)

    run(scenario())


def test_changes_of_other_groups_are_kept_apart_and_groups_listed_as_first_seen(
    groups: GroupRepository,
) -> None:
    ours = history()
    theirs = create(author="erin", name="book club", members=("frank",))
    third = create(author="bob", name="climbing")
    assert len({ours[0].group, theirs.group, third.group}) == 3

    async def scenario() -> None:
        await groups.add_changes([theirs, ours[0]])
        await groups.add_changes([*ours[1:], third])
        assert await groups.groups() == [theirs.group, ours[0].group, third.group]
        assert await groups.changes(theirs.group) == [theirs]
        assert await groups.changes(third.group) == [third]
        assert hashes(await groups.changes(ours[0].group)) == hashes(ours)
        assert await groups.changes(UUID(int=7)) == []

    run(scenario())


def test_changes_let_go_are_forgotten_in_their_group_only_and_can_be_stored_again(
    groups: GroupRepository,
) -> None:
    ours = history()
    start, add, rename, admin, *_ = ours
    theirs = create(author="erin", name="book club")

    async def scenario() -> None:
        await groups.add_changes([*ours, theirs])
        # rename is ours; theirs is another group's (passed over), b"x" no change at all
        gone = await groups.remove_changes(start.group, [rename.hash(), theirs.hash(), b"x"])
        assert gone == 1
        assert await groups.remove_changes(start.group, [rename.hash()]) == 0
        assert await groups.remove_changes(UUID(int=7), [add.hash()]) == 0
        assert await groups.remove_changes(start.group, []) == 0
        assert hashes(await groups.changes(start.group)) == hashes(
            [c for c in ours if c is not rename]
        )
        assert await groups.changes(theirs.group) == [theirs]
        assert await groups.groups() == [start.group, theirs.group]
        assert await groups.add_changes([rename, admin]) == [rename]  # stored again, last
        assert hashes(await groups.changes(start.group))[-1] == rename.hash()

    run(scenario())


@pytest.mark.parametrize("seed", range(5))
def test_the_chain_from_what_was_stored_is_the_chain_from_what_was_given(
    groups: GroupRepository, seed: int
) -> None:
    changes = history()
    learnt = changes[:]
    random.Random(seed).shuffle(learnt)
    expected_state, expected_chain = canonical(changes, verify, group=changes[0].group)
    assert len(expected_chain) >= 3  # the fork is resolved, not the whole log taken

    async def scenario() -> None:
        for start in range(0, len(learnt), 3):  # learnt a few at a time, in any order
            await groups.add_changes(learnt[start : start + 3])
        stored = await groups.changes(changes[0].group)
        state, chain = canonical(stored, verify, group=changes[0].group)
        assert state == expected_state
        assert hashes(chain) == hashes(expected_chain)

    run(scenario())


# --- SQLite only: the file ---------------------------------------------------------------------


def test_changes_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    changes = history()
    other = create(author="erin", name="book club")

    with Database(path) as db:
        run(SqliteGroupRepository(db).add_changes([*changes[:4], other]))
    with Database(path) as db:
        repository = SqliteGroupRepository(db)
        assert run(repository.groups()) == [changes[0].group, other.group]
        assert run(repository.changes(changes[0].group)) == changes[:4]
        assert hashes(run(repository.add_changes(changes))) == hashes(changes[4:])  # order kept
        assert run(repository.changes(changes[0].group)) == changes


def _tamper(path: Path, digest: bytes, statement: str, *args: Any) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        cursor = raw.execute(statement + " WHERE hash = ?", (*args, digest))
        assert cursor.rowcount == 1


TAMPERINGS: dict[str, tuple[str, tuple[Any, ...]]] = {
    # The member list edited: valid JSON of a valid change, but not the one signed.
    "content": (
        "UPDATE group_changes SET content = replace(content, CAST('dave' AS BLOB),"
        " CAST('mallory' AS BLOB))",
        (),
    ),
    "signature": ("UPDATE group_changes SET signature = ?", (bytes(32),)),
    "version": ("UPDATE group_changes SET version = version + 5", ()),
    "group": ("UPDATE group_changes SET group_id = ?", (str(UUID(int=9)),)),
    "not json": ("UPDATE group_changes SET content = CAST('{nope' AS BLOB)", ()),
}


@pytest.mark.parametrize("tampering", TAMPERINGS, ids=list(TAMPERINGS))
def test_a_tampered_row_is_refused_on_read_and_repaired_by_the_genuine_change(
    tmp_path: Path, tampering: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "history.sqlite3"
    changes = history()
    add = changes[1]  # adds dave
    with Database(path) as db:
        run(SqliteGroupRepository(db).add_changes(changes))
    statement, args = TAMPERINGS[tampering]
    _tamper(path, add.hash(), statement, *args)

    with Database(path) as db:
        repository = SqliteGroupRepository(db)
        without = [c for c in changes if c is not add]
        assert run(repository.changes(changes[0].group)) == without
        assert run(repository.changes(UUID(int=9))) == []  # nor where a row claims to be
        assert "does not match its hash" in caplog.text
        assert run(repository.add_changes([add])) == [add]  # the genuine one, learnt again
        assert run(repository.changes(changes[0].group)) == changes  # where it was stored
        assert run(repository.add_changes([add])) == []


def test_a_row_stored_under_another_hash_is_refused(tmp_path: Path) -> None:
    """A row copied under a made-up hash is no change of ours: the hash is recomputed."""
    path = tmp_path / "history.sqlite3"
    changes = history()
    with Database(path) as db:
        run(SqliteGroupRepository(db).add_changes(changes[:2]))
    _tamper(path, changes[1].hash(), "UPDATE group_changes SET hash = ?", b"\x00" * 32)
    with Database(path) as db:
        assert run(SqliteGroupRepository(db).changes(changes[0].group)) == changes[:1]
