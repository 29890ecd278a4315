"""The SQLite file itself: durability, WAL, migrations, group commit, and files it must refuse."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.sqlite.database import MAX_BATCH, SCHEMA_VERSION, Database, StorageError
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import Message, MessageState

T = TypeVar("T")

CONVERSATION = Conversation.direct("alice", "bob")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def written(db: Database, job: Callable[[sqlite3.Connection], T]) -> T:
    """``db.write`` needs a running loop: this runs one job from ``run``."""
    return await db.write(job)


def message(n: int) -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=CONVERSATION.id,
        sender="alice",
        recipient="bob",
        body=f"message number {n}",
        sent_at=datetime(2024, 1, 1, tzinfo=UTC),
        state=MessageState.PENDING,
    )


def count_messages(connection: sqlite3.Connection) -> int:
    (count,) = connection.execute("SELECT count(*) FROM messages").fetchone()
    return int(count)


def insert_then(error: Exception) -> Any:
    """A write job that stores message 999 and then fails with ``error``."""

    def job(connection: sqlite3.Connection) -> None:
        connection.execute(
            "INSERT INTO messages (id, conversation_id, sender, recipient, body, sent_at, state)"
            " VALUES (?, 'c', 'a', 'b', 'x', 0, 'pending')",
            (str(UUID(int=999)),),
        )
        raise error

    return job


def insert_one(n: int) -> Callable[[sqlite3.Connection], None]:
    def job(connection: sqlite3.Connection) -> None:
        connection.execute(
            "INSERT INTO messages (id, conversation_id, sender, recipient, body, sent_at, state)"
            " VALUES (?, 'c', 'a', 'b', 'x', 0, 'pending')",
            (str(UUID(int=n)),),
        )

    return job


def make_history(path: Path, count: int) -> None:
    async def fill(db: Database) -> None:
        await SqliteMessageRepository(db).add([message(n) for n in range(count)])

    with Database(path) as db:
        run(fill(db))


def test_history_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "history.db"
    make_history(path, 3)
    with Database(path) as db:
        stored = run(SqliteMessageRepository(db).page(CONVERSATION.id, 10))
    assert [m.id.int for m in stored] == [2, 1, 0]


def test_file_is_in_wal_mode_with_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    with Database(path) as db:
        assert run(db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])) == "wal"
        assert run(written(db, lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0])) == 1
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize(("mode", "level"), [("FULL", 2), ("NORMAL", 1)])
def test_synchronous_mode_applies_to_the_writer(tmp_path: Path, mode: str, level: int) -> None:
    with Database(tmp_path / "history.db", synchronous=mode) as db:
        assert run(written(db, lambda c: c.execute("PRAGMA synchronous").fetchone()[0])) == level


def test_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        Database(tmp_path / "history.db", synchronous="OFF")
    assert not (tmp_path / "history.db").exists()


def test_concurrent_writes_are_grouped_into_few_transactions(tmp_path: Path) -> None:
    calls = 2_000

    async def scenario(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        before = db.batches_committed
        added = await asyncio.gather(*(repository.add([message(n)]) for n in range(calls)))
        assert all(len(batch) == 1 for batch in added)
        assert db.batches_committed - before < calls / 10
        assert await db.read(count_messages) == calls

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))


def test_a_failing_job_fails_alone_in_its_batch(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def hold_the_writer(connection: sqlite3.Connection) -> None:
        started.set()
        release.wait(timeout=10)

    async def scenario(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        before = db.batches_committed
        blocker = asyncio.ensure_future(db.write(hold_the_writer))
        assert await asyncio.to_thread(started.wait, 10)
        first = asyncio.ensure_future(repository.add([message(1)]))
        broken = asyncio.ensure_future(db.write(insert_then(KeyError("boom"))))
        last = asyncio.ensure_future(repository.add([message(2)]))
        await asyncio.sleep(0)  # let every task queue its job behind the blocker
        release.set()
        await blocker
        assert [m.id.int for m in await first] == [1]
        with pytest.raises(KeyError, match="boom"):
            await broken
        assert [m.id.int for m in await last] == [2]
        # How the jobs were grouped depends on timing; that the broken one failed alone does not.
        assert db.batches_committed > before
        assert await db.read(count_messages) == 2  # the failed job's insert was rolled back

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))


def test_sqlite_errors_of_a_job_arrive_as_storage_errors(tmp_path: Path) -> None:
    async def scenario(db: Database) -> None:
        with pytest.raises(StorageError, match="no such table"):
            await db.write(lambda c: c.execute("SELECT * FROM nowhere"))
        with pytest.raises(StorageError, match="no such table"):
            await db.read(lambda c: c.execute("SELECT * FROM nowhere"))
        with pytest.raises(StorageError, match="readonly"):
            await db.read(lambda c: c.execute("DELETE FROM messages"))

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))


def test_a_failed_commit_fails_every_job_of_the_batch(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def hold_the_writer(connection: sqlite3.Connection) -> None:
        started.set()
        release.wait(timeout=10)

    def break_the_commit(connection: sqlite3.Connection) -> None:
        """A deferred foreign key violation: every statement succeeds, the COMMIT fails."""
        connection.execute("CREATE TEMP TABLE parent (id INTEGER PRIMARY KEY)")
        connection.execute(
            "CREATE TEMP TABLE child (parent REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )
        connection.execute("INSERT INTO child VALUES (1)")

    async def scenario(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        blocker = asyncio.ensure_future(db.write(hold_the_writer))
        assert await asyncio.to_thread(started.wait, 10)
        innocent = asyncio.ensure_future(repository.add([message(1)]))
        culprit = asyncio.ensure_future(db.write(break_the_commit))
        await asyncio.sleep(0)
        release.set()
        await blocker
        for victim in (innocent, culprit):
            with pytest.raises(StorageError, match="FOREIGN KEY"):
                await victim
        assert await db.read(count_messages) == 0
        assert [m.id.int for m in await repository.add([message(1)])] == [1]

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))


def test_close_finishes_queued_writes_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "history.db"

    async def scenario(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        writes = [asyncio.ensure_future(repository.add([message(n)])) for n in range(100)]
        await asyncio.sleep(0)
        await asyncio.to_thread(db.close)
        assert all(len(added) == 1 for added in await asyncio.gather(*writes))
        with pytest.raises(StorageError, match="closed"):
            await repository.add([message(100)])
        with pytest.raises(StorageError, match="closed"):
            await repository.get(UUID(int=1))

    db = Database(path)
    run(scenario(db))
    db.close()
    with closing(sqlite3.connect(path)) as raw:
        assert count_messages(raw) == 100


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    content = b"these are my precious notes, not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(StorageError, match="not a database") as refused:
        Database(path)
    assert str(path) in str(refused.value)
    assert path.read_bytes() == content


def test_a_truncated_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    make_history(path, 500)
    content = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(content)
    with pytest.raises(StorageError, match="malformed"):
        Database(path)
    assert path.read_bytes() == content


def test_a_database_from_a_newer_chinwag_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    make_history(path, 1)
    with closing(sqlite3.connect(path)) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    content = path.read_bytes()
    with pytest.raises(StorageError, match="newer chinwag"):
        Database(path)
    assert path.read_bytes() == content


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="needs POSIX permissions that apply: root may write to read-only files",
)
def test_a_read_only_database_is_refused_untouched(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    path = folder / "history.db"
    make_history(path, 1)
    content = path.read_bytes()
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        with pytest.raises(StorageError, match=re.escape(str(path))):
            Database(path)
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert path.read_bytes() == content


def test_the_search_index_holds_every_message_once_across_many_transactions(
    tmp_path: Path,
) -> None:
    async def scenario(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        for n in range(1, 6):  # five separate transactions
            await repository.add([message(n)])
        await asyncio.gather(*(repository.add([message(n)]) for n in range(6, 40)))
        await repository.add([message(1)])  # a duplicate is not indexed again
        found = await repository.search("message number", 100)
        assert sorted(m.id.int for m in found) == list(range(1, 40))

        def integrity(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")

        await db.write(integrity)  # raises if the index and the table disagree

        def progress(connection: sqlite3.Connection) -> tuple[int, int]:
            (indexed,) = connection.execute("SELECT indexed_upto FROM search_progress").fetchone()
            (newest,) = connection.execute("SELECT max(seq) FROM messages").fetchone()
            return int(indexed), int(newest)

        indexed, newest = await db.read(progress)
        assert indexed == newest  # nothing waits to be indexed, nothing would be indexed twice

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))


def test_a_huge_burst_is_committed_in_bounded_batches(tmp_path: Path) -> None:
    async def scenario(db: Database) -> None:
        before = db.batches_committed
        count = 3 * MAX_BATCH + 5
        await asyncio.gather(*(db.write(insert_one(n)) for n in range(count)))
        assert db.batches_committed - before >= 4
        assert await db.read(count_messages) == count

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))


def test_one_cancelled_add_does_not_cancel_the_others_sharing_its_job(tmp_path: Path) -> None:
    async def scenario(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        adds = [asyncio.ensure_future(repository.add([message(n)])) for n in range(10)]
        await asyncio.sleep(0)  # all ten have joined one job
        adds[3].cancel()
        results = await asyncio.gather(*adds, return_exceptions=True)
        assert isinstance(results[3], asyncio.CancelledError)
        others = [r for i, r in enumerate(results) if i != 3]
        assert [len(r) if isinstance(r, list) else r for r in others] == [1] * 9
        assert await db.read(count_messages) == 10  # the cancelled caller's row is stored too

    with Database(tmp_path / "history.db") as db:
        run(scenario(db))
