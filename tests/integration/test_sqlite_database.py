"""The SQLite file itself: durability, WAL, migrations, group commit, and files it must refuse."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import stat
import threading
from collections.abc import Callable, Coroutine
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest
from pytest_mock import MockerFixture

from chinwag.adapters.sqlite.contacts import SqliteContactRepository
from chinwag.adapters.sqlite.conversations import SqliteConversationRepository
from chinwag.adapters.sqlite.database import MAX_BATCH, SCHEMA_VERSION, Database, StorageError
from chinwag.adapters.sqlite.groups import SqliteGroupRepository
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.application.ports import StateChange
from chinwag.application.ports.conversation_repository import Unread
from chinwag.domain.contact import Contact
from chinwag.domain.conversation import Conversation
from chinwag.domain.group import Change
from chinwag.domain.message import EARLIEST_TIME, GroupStamp, Message, MessageState

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
        for _ in range(2):  # the second add once waited forever on a job never handed over
            with pytest.raises(StorageError, match="closed"):
                await asyncio.wait_for(repository.add([message(100)]), 5)
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


# --- migrating a file written by an older chinwag ----------------------------------------------

VERSION_2_SCHEMA = (
    # What chinwag wrote up to schema version 2, frozen here: migrations must never change it.
    """CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        participants TEXT NOT NULL
    )""",
    """CREATE TABLE messages (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        conversation_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        body TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        state TEXT NOT NULL,
        reason TEXT
    )""",
    "CREATE INDEX messages_by_conversation ON messages (conversation_id, seq)",
    """CREATE VIRTUAL TABLE messages_fts USING fts5(
        body, content='messages', content_rowid='seq',
        tokenize="unicode61 remove_diacritics 2 categories 'L* N* Co So'"
    )""",
    "CREATE TABLE search_progress (indexed_upto INTEGER NOT NULL)",
    "INSERT INTO search_progress (indexed_upto) VALUES (0)",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
    WHEN old.seq <= (SELECT indexed_upto FROM search_progress) BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, body)
            VALUES ('delete', old.seq, old.body);
    END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
    WHEN old.seq <= (SELECT indexed_upto FROM search_progress) BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, body)
            VALUES ('delete', old.seq, old.body);
        INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
    END""",
    """CREATE INDEX messages_outbox ON messages (sender, seq)
    WHERE state IN ('pending', 'queued', 'sent')""",
)

_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def make_version_2_history(path: Path, messages: list[Message], sent_at: dict[int, int]) -> None:
    """A history as chinwag wrote it at schema 2: ``sent_at`` overrides the stored microseconds
    of some messages (times were not bounded then)."""
    rows = [
        (
            str(m.id),
            str(m.conversation_id),
            m.sender,
            m.recipient,
            m.body,
            sent_at.get(m.id.int, (m.sent_at - _EPOCH) // _US),
            m.state.value,
            m.reason,
        )
        for m in messages
    ]
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("BEGIN")
        for statement in VERSION_2_SCHEMA:
            raw.execute(statement)
        raw.execute(
            "INSERT INTO conversations (id, kind, participants) VALUES (?, 'direct', ?)",
            (str(CONVERSATION.id), "alice\nbob"),
        )
        raw.executemany(
            "INSERT INTO messages (id, conversation_id, sender, recipient, body, sent_at, state,"
            " reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        raw.execute("INSERT INTO messages_fts (rowid, body) SELECT seq, body FROM messages")
        raw.execute("UPDATE search_progress SET indexed_upto = (SELECT max(seq) FROM messages)")
        raw.execute("PRAGMA user_version = 2")
        raw.execute("COMMIT")


def schema_of(path: Path) -> dict[tuple[str, str], str | None]:
    """Every table, index and trigger of the file, its SQL with whitespace collapsed."""
    with closing(sqlite3.connect(path)) as raw:
        rows = raw.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    return {
        (kind, name): None if sql is None else " ".join(sql.split()) for kind, name, sql in rows
    }


def test_a_version_2_history_is_migrated_with_its_messages_intact(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    old = [message(n) for n in range(5)]
    old[3] = old[3].model_copy(update={"state": MessageState.FAILED, "reason": "bob is away"})
    make_version_2_history(path, old, sent_at={4: -1})  # 1969: stored before times were bounded
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 2

    new = message(10).model_copy(update={"received_at": datetime(2024, 1, 2, 3, 4, 5, 6, UTC)})
    alice = Contact(name="alice", key=bytes(range(32)), first_seen=datetime(2024, 1, 1, tzinfo=UTC))

    async def scenario(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        stored = await repository.page(CONVERSATION.id, 10)
        assert stored[::-1] == [*old[:4], old[4].model_copy(update={"sent_at": EARLIEST_TIME})]
        assert all(m.received_at is None for m in stored)
        assert [m.id.int for m in await repository.search("number", 10)] == [4, 3, 2, 1, 0]
        assert await repository.add([new]) == [new]
        assert await repository.get(new.id) == new
        assert [m.id.int for m in await repository.search("number 10", 10)] == [10]
        contacts = SqliteContactRepository(db)
        await contacts.save(alice)
        assert await contacts.list_all() == [alice]

        def integrity(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")

        await db.write(integrity)

    with Database(path) as db:
        run(scenario(db))
    with Database(path) as db:  # opening again migrates nothing
        assert run(SqliteContactRepository(db).get("alice")) == alice
        assert len(run(SqliteMessageRepository(db).page(CONVERSATION.id, 10))) == 6
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Database(tmp_path / "fresh.sqlite3"):
        pass
    assert schema_of(path) == schema_of(tmp_path / "fresh.sqlite3")


VERSION_3_SCHEMA = (
    # What chinwag wrote up to schema version 3, frozen here: version 2 and contacts.
    *VERSION_2_SCHEMA,
    """CREATE TABLE contacts (
        name TEXT PRIMARY KEY,
        key BLOB NOT NULL,
        first_seen INTEGER NOT NULL,
        verified INTEGER NOT NULL DEFAULT 0,
        pending_key BLOB,
        accepted INTEGER NOT NULL DEFAULT 0
    )""",
    "ALTER TABLE messages ADD COLUMN received_at INTEGER",
)


def test_a_version_3_history_is_migrated_with_what_was_there_counted_as_read(
    tmp_path: Path,
) -> None:
    """Migration 4 adds read markers; a history that never kept one must not come back all
    unread, so what it holds counts as read, and only what arrives later is unread."""
    path = tmp_path / "history.sqlite3"
    carol = Conversation.direct("alice", "carol")  # added, no message yet
    bob_key = bytes(range(32))
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("BEGIN")
        for statement in VERSION_3_SCHEMA:
            raw.execute(statement)
        for conversation in (CONVERSATION, carol):
            raw.execute(
                "INSERT INTO conversations (id, kind, participants) VALUES (?, 'direct', ?)",
                (str(conversation.id), "\n".join(conversation.participants)),
            )
        raw.executemany(
            "INSERT INTO messages (id, conversation_id, sender, recipient, body, sent_at, state,"
            " received_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
            [
                (str(UUID(int=n)), str(CONVERSATION.id), sender, recipient, f"old {n}", state, 7)
                for n, sender, recipient, state in [
                    (1, "bob", "alice", "received"),
                    (2, "alice", "bob", "delivered"),
                    (3, "bob", "alice", "received"),
                ]
            ],
        )
        raw.execute(
            "INSERT INTO contacts (name, key, first_seen, accepted) VALUES ('bob', ?, 0, 1)",
            (bob_key,),
        )
        raw.execute("PRAGMA user_version = 3")
        raw.execute("COMMIT")

    later = message(10).model_copy(
        update={"sender": "bob", "recipient": "alice", "state": MessageState.RECEIVED}
    )

    async def scenario(db: Database) -> None:
        conversations = SqliteConversationRepository(db)
        assert await conversations.unread() == {}
        assert {c.id for c in await conversations.list_all()} == {CONVERSATION.id, carol.id}
        stored = await SqliteMessageRepository(db).page(CONVERSATION.id, 10)
        assert [m.body for m in reversed(stored)] == ["old 1", "old 2", "old 3"]
        contact = await SqliteContactRepository(db).get("bob")
        assert contact is not None
        assert contact.key == bob_key
        await SqliteMessageRepository(db).add([later])
        assert await conversations.unread() == {CONVERSATION.id: Unread(1, later.id)}

    with Database(path) as db:
        run(scenario(db))
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Database(tmp_path / "fresh.sqlite3"):
        pass
    assert schema_of(path) == schema_of(tmp_path / "fresh.sqlite3")


VERSION_4_SCHEMA = (
    # What chinwag wrote up to schema version 4, frozen here: version 3 and read markers.
    *VERSION_3_SCHEMA,
    "ALTER TABLE conversations ADD COLUMN read_upto INTEGER NOT NULL DEFAULT 0",
)


def test_a_version_4_history_is_migrated_with_its_messages_and_keeps_group_changes(
    tmp_path: Path,
) -> None:
    """Migration 5 adds the groups' membership changes; messages, read markers and contacts
    stay as they were, and changes stored afterwards survive a reopening."""
    path = tmp_path / "history.sqlite3"
    bob_key = bytes(range(32))
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("BEGIN")
        for statement in VERSION_4_SCHEMA:
            raw.execute(statement)
        raw.execute(
            "INSERT INTO conversations (id, kind, participants, read_upto)"
            " VALUES (?, 'direct', ?, 1)",
            (str(CONVERSATION.id), "alice\nbob"),
        )
        raw.executemany(
            "INSERT INTO messages (id, conversation_id, sender, recipient, body, sent_at, state,"
            " received_at) VALUES (?, ?, 'bob', 'alice', ?, 0, 'received', 7)",
            [(str(UUID(int=n)), str(CONVERSATION.id), f"old {n}") for n in (1, 2, 3)],
        )
        raw.execute("INSERT INTO messages_fts (rowid, body) SELECT seq, body FROM messages")
        raw.execute("UPDATE search_progress SET indexed_upto = (SELECT max(seq) FROM messages)")
        raw.execute(
            "INSERT INTO contacts (name, key, first_seen, accepted) VALUES ('bob', ?, 0, 1)",
            (bob_key,),
        )
        raw.execute("PRAGMA user_version = 4")
        raw.execute("COMMIT")

    create = Change.create(
        author="alice", key=bob_key, name="friends", members={"bob": bob_key}, at=EARLIEST_TIME
    ).signed(bytes(64))  # the repository checks no signature, only the hash

    async def scenario(db: Database) -> None:
        messages = SqliteMessageRepository(db)
        stored = await messages.page(CONVERSATION.id, 10)
        assert [m.body for m in reversed(stored)] == ["old 1", "old 2", "old 3"]
        assert [m.id.int for m in await messages.search("old", 10)] == [3, 2, 1]
        unread = await SqliteConversationRepository(db).unread()
        assert unread == {CONVERSATION.id: Unread(2, UUID(int=2))}  # the marker kept
        contact = await SqliteContactRepository(db).get("bob")
        assert contact is not None
        assert contact.key == bob_key
        groups = SqliteGroupRepository(db)
        assert await groups.groups() == []
        assert await groups.add_changes([create]) == [create]

    with Database(path) as db:
        run(scenario(db))
    with Database(path) as db:  # opening again migrates nothing and keeps the change
        assert run(SqliteGroupRepository(db).changes(create.group)) == [create]
        assert len(run(SqliteMessageRepository(db).page(CONVERSATION.id, 10))) == 3
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Database(tmp_path / "fresh.sqlite3"):
        pass
    assert schema_of(path) == schema_of(tmp_path / "fresh.sqlite3")


VERSION_5_SCHEMA = (
    # What chinwag wrote up to schema version 5, frozen here: version 4 and group changes.
    *VERSION_4_SCHEMA,
    """CREATE TABLE group_changes (
        hash BLOB PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        group_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        content BLOB NOT NULL,
        signature BLOB NOT NULL
    )""",
    "CREATE INDEX group_changes_by_group ON group_changes (group_id, seq)",
)


def test_a_version_5_history_gets_one_delivery_per_outgoing_message_in_its_state(
    tmp_path: Path,
) -> None:
    """Migration 6 adds deliveries: each outgoing message (any state but received) gets one, to
    its recipient, with its state and reason; received messages get none, and the messages
    themselves (the summary) are unchanged."""
    path = tmp_path / "history.sqlite3"
    stored = [  # n, sender, recipient, state, reason
        (1, "bob", "alice", "received", None),
        (2, "alice", "bob", "delivered", None),
        (3, "alice", "bob", "failed", "bob is unknown"),
        (4, "bob", "alice", "received", None),
        (5, "alice", "bob", "sent", None),
        (6, "alice", "bob", "queued", None),
        (7, "alice", "bob", "pending", None),
    ]
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("BEGIN")
        for statement in VERSION_5_SCHEMA:
            raw.execute(statement)
        raw.execute(
            "INSERT INTO conversations (id, kind, participants) VALUES (?, 'direct', ?)",
            (str(CONVERSATION.id), "alice\nbob"),
        )
        raw.executemany(
            "INSERT INTO messages (id, conversation_id, sender, recipient, body, sent_at, state,"
            " reason) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
            [
                (str(UUID(int=n)), str(CONVERSATION.id), sender, recipient, f"old {n}", state, why)
                for n, sender, recipient, state, why in stored
            ],
        )
        raw.execute("INSERT INTO messages_fts (rowid, body) SELECT seq, body FROM messages")
        raw.execute("UPDATE search_progress SET indexed_upto = (SELECT max(seq) FROM messages)")
        raw.execute("PRAGMA user_version = 5")
        raw.execute("COMMIT")

    async def scenario(db: Database) -> None:
        messages = SqliteMessageRepository(db)
        for n, sender, recipient, state, reason in stored:
            message = await messages.get(UUID(int=n))
            assert message is not None
            assert (message.sender, message.state, message.reason) == (sender, state, reason)
            expected = [] if state == "received" else [(recipient, state, reason)]
            found = await messages.deliveries(UUID(int=n))
            assert [(d.recipient, d.state, d.reason) for d in found] == expected
        outbox = await messages.unacknowledged("alice")
        assert [m.id.int for m in outbox] == [5, 6, 7]
        await messages.update_states([StateChange(UUID(int=5), MessageState.DELIVERED)])

    with Database(path) as db:
        run(scenario(db))
    with Database(path) as db:  # opening again migrates nothing and keeps the new state
        found = run(SqliteMessageRepository(db).deliveries(UUID(int=5)))
        assert [(d.recipient, d.state) for d in found] == [("bob", MessageState.DELIVERED)]
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        assert raw.execute("SELECT count(*) FROM deliveries").fetchone() == (5,)
    with Database(tmp_path / "fresh.sqlite3"):
        pass
    assert schema_of(path) == schema_of(tmp_path / "fresh.sqlite3")


VERSION_6_SCHEMA = (
    # What chinwag wrote up to schema version 6, frozen here: version 5 and deliveries.
    *VERSION_5_SCHEMA,
    """CREATE TABLE deliveries (
        message_seq INTEGER NOT NULL REFERENCES messages (seq),
        recipient TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        updated_at INTEGER,
        PRIMARY KEY (message_seq, recipient)
    ) WITHOUT ROWID""",
    """CREATE INDEX deliveries_outbox ON deliveries (recipient, message_seq)
    WHERE state IN ('pending', 'queued', 'sent')""",
)


def test_a_version_6_history_keeps_its_messages_and_outbox_and_takes_group_messages(
    tmp_path: Path,
) -> None:
    """Migration 7 adds group messages (their group and stamp); one-to-one messages read back
    as they were, with no group, their deliveries (the outbox) intact and still moving, and
    group messages stored afterwards survive a reopening."""
    path = tmp_path / "history.sqlite3"
    carol = Conversation.direct("alice", "carol")
    stored = [  # n, conversation, sender, recipient, state, reason, delivery's updated_at
        (1, CONVERSATION, "bob", "alice", "received", None, None),
        (2, CONVERSATION, "alice", "bob", "delivered", None, None),
        (3, carol, "alice", "carol", "queued", "carol is offline", 1_700_000_000_000_000),
        (4, CONVERSATION, "alice", "bob", "failed", "bob is unknown", 1_700_000_000_000_001),
        (5, carol, "alice", "carol", "sent", None, 1_700_000_000_000_002),
        (6, CONVERSATION, "alice", "bob", "pending", None, None),
    ]
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("BEGIN")
        for statement in VERSION_6_SCHEMA:
            raw.execute(statement)
        for conversation in (CONVERSATION, carol):
            raw.execute(
                "INSERT INTO conversations (id, kind, participants) VALUES (?, 'direct', ?)",
                (str(conversation.id), "\n".join(conversation.participants)),
            )
        raw.executemany(
            "INSERT INTO messages (id, conversation_id, sender, recipient, body, sent_at, state,"
            " reason, received_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
            [
                (str(UUID(int=n)), str(c.id), sender, to, f"old {n}", state, why, 7)
                for n, c, sender, to, state, why, _ in stored
            ],
        )
        raw.executemany(
            "INSERT INTO deliveries (message_seq, recipient, state, reason, updated_at)"
            " SELECT seq, recipient, state, reason, ? FROM messages WHERE id = ?",
            [(at, str(UUID(int=n))) for n, *_, state, _, at in stored if state != "received"],
        )
        raw.execute("INSERT INTO messages_fts (rowid, body) SELECT seq, body FROM messages")
        raw.execute("UPDATE search_progress SET indexed_upto = (SELECT max(seq) FROM messages)")
        raw.execute("PRAGMA user_version = 6")
        raw.execute("COMMIT")
        deliveries_before = raw.execute("SELECT * FROM deliveries ORDER BY 1, 2").fetchall()

    group = UUID("0190b5a4-7d1e-8c3f-9a2b-4c5d6e7f8091")
    posted = Message(
        id=UUID(int=10),
        conversation_id=group,
        group_id=group,
        stamp=GroupStamp(seq=1, version=2, signature=bytes(range(64))),
        sender="alice",
        body="first group note",
        sent_at=datetime(2024, 1, 1, tzinfo=UTC),
        state=MessageState.PENDING,
    )

    async def scenario(db: Database) -> None:
        messages = SqliteMessageRepository(db)
        for n, conversation, sender, recipient, state, reason, _ in stored:
            message = await messages.get(UUID(int=n))
            assert message is not None
            assert (message.conversation_id, message.sender, message.recipient) == (
                conversation.id,
                sender,
                recipient,
            )
            assert (message.state, message.reason, message.body) == (state, reason, f"old {n}")
            assert (message.group_id, message.stamp) == (None, None)
        outbox = await messages.pending_deliveries("alice")
        assert [(e.message.id.int, e.recipient, e.message.state) for e in outbox] == [
            (3, "carol", MessageState.QUEUED),
            (5, "carol", MessageState.SENT),
            (6, "bob", MessageState.PENDING),
        ]
        assert [m.id.int for m in await messages.unacknowledged("alice")] == [3, 5, 6]
        assert [m.id.int for m in await messages.search("old", 10)] == [6, 5, 4, 3, 2, 1]
        assert await messages.add([posted], {posted.id: ["bob", "carol"]}) == [posted]
        changes = [
            StateChange(UUID(int=5), MessageState.DELIVERED, None, "carol"),
            StateChange(posted.id, MessageState.DELIVERED, None, "bob"),
        ]
        assert await messages.update_states(changes) == []  # carol's delivery is pending

    with Database(path) as db:
        run(scenario(db))
    with closing(sqlite3.connect(path)) as raw:
        deliveries_after = raw.execute(
            "SELECT * FROM deliveries WHERE message_seq <> 5 AND message_seq <= 6 ORDER BY 1, 2"
        ).fetchall()
    assert deliveries_after == [row for row in deliveries_before if row[0] != 5]
    with Database(path) as db:  # opening again migrates nothing and keeps what was written
        messages = SqliteMessageRepository(db)
        assert run(messages.get(posted.id)) == posted
        assert run(messages.group_progress(group)) == {"alice": 1}
        found = run(messages.deliveries(posted.id))
        assert [(d.recipient, d.state) for d in found] == [
            ("bob", MessageState.DELIVERED),
            ("carol", MessageState.PENDING),
        ]
        assert [e.message.id.int for e in run(messages.pending_deliveries("alice"))] == [3, 6, 10]
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        assert raw.execute(
            "SELECT recipient, group_id FROM messages WHERE id = ?", (str(posted.id),)
        ).fetchone() == ("", str(group))  # a group message's recipient: '' (see migration 7)
    with Database(tmp_path / "fresh.sqlite3"):
        pass
    assert schema_of(path) == schema_of(tmp_path / "fresh.sqlite3")


# --- private files, never through a link -------------------------------------------------------

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and symbolic links")


@posix_only
@pytest.mark.parametrize("target_exists", [True, False], ids=["to-a-file", "dangling"])
def test_a_link_planted_as_the_history_is_refused_and_not_written_through(
    tmp_path: Path, target_exists: bool
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "precious"
    content = b"someone else's file\n" * 100
    if target_exists:
        target.write_bytes(content)
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "history.sqlite3"
    path.symlink_to(target)
    with pytest.raises(StorageError, match="symbolic link") as refused:
        Database(path)
    assert str(path) in str(refused.value)
    assert os.listdir(folder) == ["history.sqlite3"]
    assert os.listdir(elsewhere) == (["precious"] if target_exists else [])
    if target_exists:
        assert target.read_bytes() == content


@posix_only
@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
@pytest.mark.parametrize("history_exists", [True, False], ids=["existing", "new"])
def test_a_dangling_link_beside_the_history_is_refused_and_not_written_through(
    tmp_path: Path, suffix: str, history_exists: bool
) -> None:
    folder = tmp_path / "data"
    path = folder / "history.sqlite3"
    if history_exists:
        make_history(path, 3)
    else:
        folder.mkdir()
    before = sorted(os.listdir(folder))
    content = path.read_bytes() if history_exists else b""
    target = tmp_path / "elsewhere"
    link = folder / f"history.sqlite3{suffix}"
    link.symlink_to(target)
    with pytest.raises(StorageError, match="symbolic link") as refused:
        Database(path)
    assert str(link) in str(refused.value)
    assert not target.exists()
    assert sorted(os.listdir(folder)) == sorted([*before, link.name])
    if history_exists:
        assert path.read_bytes() == content


@posix_only
def test_a_link_as_the_folder_of_the_history_is_refused(tmp_path: Path) -> None:
    """The history's own folder; links higher up (a data folder the user moved) are the user's."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "data").symlink_to(tmp_path / "data-link-target")
    (tmp_path / "data-link-target").mkdir()
    (tmp_path / "data-link-target" / "user-alice").symlink_to(real)
    with pytest.raises(StorageError, match="symbolic link"):
        Database(tmp_path / "data" / "user-alice" / "history.sqlite3")
    assert os.listdir(real) == []
    with Database(tmp_path / "data" / "user-bob" / "history.sqlite3"):
        pass  # a link above the history's folder is followed
    assert (tmp_path / "data-link-target" / "user-bob" / "history.sqlite3").is_file()


@posix_only
def test_the_history_and_its_folders_are_private_even_with_umask_0(tmp_path: Path) -> None:
    parent = tmp_path / "new"
    folder = parent / "data"
    path = folder / "history.sqlite3"
    umask = os.umask(0)
    try:
        with Database(path) as db:
            run(SqliteMessageRepository(db).add([message(1)]))
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in folder.iterdir()}
    finally:
        os.umask(umask)
    assert modes == {
        name: 0o600 for name in ("history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm")
    }
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(parent.stat().st_mode) == 0o700


# --- a writer thread that dies -----------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_dead_writer_fails_every_waiting_and_later_write(
    tmp_path: Path, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug or MemoryError escaping the writer's loop: jobs in its hands, queued for it, not
    handed over yet, and written later all fail at once instead of waiting forever."""
    started, release = threading.Event(), threading.Event()

    def hold_the_writer(connection: sqlite3.Connection) -> None:
        started.set()
        release.wait(timeout=10)

    async def scenario(db: Database) -> None:
        repository = SqliteMessageRepository(db)
        await repository.add([message(1)])
        mocker.patch(
            "chinwag.adapters.sqlite.database.index_new_messages",
            side_effect=MemoryError("out of memory"),
        )
        in_hand = db.write(hold_the_writer)
        assert await asyncio.to_thread(started.wait, 10)
        queued = db.write(insert_one(2))
        await asyncio.sleep(0)  # handed over: it waits in the writer's queue
        not_handed_over = db.write(insert_one(3))  # still in this loop's outbox
        release.set()
        writer = db._writer
        await asyncio.to_thread(writer.join, 10)
        assert not writer.is_alive()
        for job in (in_hand, queued, not_handed_over):
            with pytest.raises(StorageError, match="the history writer stopped: MemoryError"):
                await asyncio.wait_for(job, 5)
        for _ in range(2):
            with pytest.raises(StorageError, match="writer stopped") as later:
                await asyncio.wait_for(repository.add([message(4)]), 5)
        assert str(db.path) in str(later.value)
        with pytest.raises(StorageError, match="writer stopped"):
            db.write(insert_one(5))
        assert await db.read(count_messages) == 1  # reads go on; the broken batch rolled back
        await asyncio.to_thread(db.close)

    path = tmp_path / "history.sqlite3"
    with caplog.at_level(logging.CRITICAL), Database(path) as db:
        run(scenario(db))
    assert any(r.exc_info and "stopped" in r.getMessage() for r in caplog.records)
    mocker.stopall()
    with Database(path) as db:
        repository = SqliteMessageRepository(db)
        assert [m.id.int for m in run(repository.add([message(4)]))] == [4]
        assert run(db.read(count_messages)) == 2
