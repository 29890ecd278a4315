"""Discarding messages in SQLite, below the contract: the full-text index really forgets them
(asked directly, not through ``search``, whose join with ``messages`` would hide a stale entry),
also when they were stored in the same transaction; deliveries go with their message; a new
message after a discarded newest one is indexed; and all of it survives reopening the file.

The contract both adapters keep is in ``test_group_storage_discard.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.domain.message import Message, MessageState
from tests.integration.test_group_storage import GROUP, ids, posted, to_members

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def said(n: int, body: str, seq: int | None = None) -> Message:
    """bob's group message ``n`` (his number ``seq``, ``n`` if not given), received."""
    return posted(n, seq, "bob", GROUP, MessageState.RECEIVED, body)


async def indexed(db: Database, word: str) -> list[int]:
    """The rows the full-text index itself holds for ``word`` (stale ones included)."""

    def select(connection: sqlite3.Connection) -> list[int]:
        rows = connection.execute(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid", (word,)
        )
        return [int(rowid) for (rowid,) in rows]

    return await db.read(select)


async def seqs(db: Database) -> dict[int, int]:
    """Each stored message's ``seq``, by the number its id was made of."""
    rows = await db.read(lambda c: c.execute("SELECT id, seq FROM messages").fetchall())
    return {UUID(id_).int: int(seq) for id_, seq in rows}


async def check_index(db: Database) -> None:
    """Fail (StorageError) unless the index matches the messages exactly (FTS5 compares them
    when asked with rank 1) and every delivery still has its message."""

    def check(connection: sqlite3.Connection) -> list[Any]:
        connection.execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)"
        )
        return connection.execute("PRAGMA foreign_key_check").fetchall()

    assert await db.write(check) == []


def test_the_index_forgets_discarded_rows_it_held(tmp_path: Path) -> None:
    async def scenario(db: Database) -> None:
        messages = SqliteMessageRepository(db)
        await messages.add([said(n, f"apple note{n}") for n in range(1, 6)])
        where = await seqs(db)
        assert await indexed(db, "apple") == [where[n] for n in range(1, 6)]

        await messages.discard([UUID(int=2), UUID(int=5)])
        assert await indexed(db, "apple") == [where[n] for n in (1, 3, 4)]
        assert await indexed(db, "note2") == []
        assert await indexed(db, "note5") == []
        await check_index(db)

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))


def test_rows_stored_and_discarded_in_one_transaction_are_never_indexed(tmp_path: Path) -> None:
    """One loop pass, so one transaction: an earlier row (indexed) goes, a row stored in this
    very transaction goes before it was indexed, and the row stored after both is indexed."""

    async def scenario(db: Database) -> None:
        messages = SqliteMessageRepository(db)
        await messages.add([said(1, "banana old"), said(2, "banana newest")])
        committed = db.batches_committed
        results = await asyncio.gather(
            messages.add([said(3, "banana fleeting", seq=3)]),
            messages.discard([UUID(int=3), UUID(int=2)]),
            messages.add([said(4, "banana after", seq=2)]),
        )
        assert db.batches_committed == committed + 1
        assert [ids(result) for result in results] == [[3], [3, 2], [4]]
        where = await seqs(db)
        assert set(where) == {1, 4}
        assert await indexed(db, "banana") == [where[1], where[4]]
        assert await indexed(db, "fleeting") == []
        assert await indexed(db, "newest") == []
        await check_index(db)

        await messages.discard([UUID(int=4)])  # removing it touches only what it indexed
        assert await indexed(db, "banana") == [where[1]]
        await check_index(db)

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))


def test_a_message_after_the_discarded_newest_is_numbered_past_it_and_indexed(
    tmp_path: Path,
) -> None:
    """SQLite would give the next row the number of the discarded newest one: the index takes
    every number up to the last indexed as indexed, so that row would never be found, and
    discarding it later would corrupt the index. The file is reopened in between."""
    path = tmp_path / "history.db"

    async def first(db: Database) -> int:
        messages = SqliteMessageRepository(db)
        await messages.add([said(1, "cherry one"), said(2, "cherry two")])
        newest = (await seqs(db))[2]
        await messages.discard([UUID(int=2)])
        return newest

    async def second(db: Database, discarded: int) -> None:
        messages = SqliteMessageRepository(db)
        await messages.add([said(3, "cherry three", seq=2)])
        assert (await seqs(db))[3] > discarded
        assert ids(await messages.search("three", 10)) == [3]
        await check_index(db)
        await messages.discard([UUID(int=3)])
        assert await indexed(db, "cherry") == [(await seqs(db))[1]]
        await check_index(db)

    with Database(path) as db:
        discarded = run(first(db))
    with Database(path) as db:
        run(second(db, discarded))


def test_discarded_messages_and_their_deliveries_stay_gone_after_reopening(
    tmp_path: Path,
) -> None:
    """alice's own group message 1 had deliveries to three members; it goes with them."""
    path = tmp_path / "history.db"
    mine = posted(1)

    async def first(db: Database) -> None:
        messages = SqliteMessageRepository(db)
        stored = [mine, said(2, "date kept", seq=1), said(3, "date gone", seq=2)]
        await messages.add(stored, to_members(mine))
        assert ids(await messages.discard([mine.id, UUID(int=3)])) == [1, 3]

    async def second(db: Database) -> None:
        messages = SqliteMessageRepository(db)
        assert await messages.get(mine.id) is None
        assert await messages.get(UUID(int=3)) is None
        assert ids(await messages.page(GROUP, 10)) == [2]
        assert await messages.group_progress(GROUP) == {"bob": 1}
        assert await messages.pending_deliveries("alice") == []
        count = await db.read(lambda c: c.execute("SELECT count(*) FROM deliveries").fetchone())
        assert count == (0,)
        assert ids(await messages.search("date", 10)) == [2]
        await check_index(db)

    with Database(path) as db:
        run(first(db))
    with Database(path) as db:
        run(second(db))
