"""Migration 8 (files): a version-7 history keeps its messages, which read back with no file,
and takes file offers and transfer records afterwards."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from uuid import UUID

from chinwag.adapters.sqlite.database import SCHEMA_VERSION, Database
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.adapters.sqlite.schema import MIGRATIONS
from chinwag.adapters.sqlite.transfers import UNFINISHED, SqliteTransferRepository
from chinwag.domain.message import MessageState
from chinwag.domain.transfer import TransferState
from tests.integration.test_transfer_repository import ALICE_BOB, OFFER, offer_message, run


def schema_of(path: Path) -> dict[tuple[str, str], str | None]:
    """Every table, index and trigger of the file, its SQL with whitespace collapsed."""
    with closing(sqlite3.connect(path)) as raw:
        rows = raw.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    return {
        (kind, name): None if sql is None else " ".join(sql.split()) for kind, name, sql in rows
    }


def version_7(path: Path) -> None:
    """A history as chinwag wrote it before files: migrations 1..7, one received message and
    one queued, both indexed for search."""
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("BEGIN")
        for statements in MIGRATIONS[:7]:
            for statement in statements:
                raw.execute(statement)
        raw.execute(
            "INSERT INTO conversations (id, kind, participants) VALUES (?, 'direct', ?)",
            (str(ALICE_BOB.id), "\n".join(ALICE_BOB.participants)),
        )
        raw.executemany(
            "INSERT INTO messages (id, conversation_id, sender, recipient, body, sent_at, state,"
            " received_at) VALUES (?, ?, ?, ?, ?, 1700000000000000, ?, ?)",
            [
                (str(UUID(int=1)), str(ALICE_BOB.id), "bob", "alice", "old news", "received", 7),
                (str(UUID(int=2)), str(ALICE_BOB.id), "alice", "bob", "old reply", "queued", None),
            ],
        )
        raw.execute(
            "INSERT INTO deliveries (message_seq, recipient, state)"
            " SELECT seq, recipient, state FROM messages WHERE state <> 'received'"
        )
        raw.execute("INSERT INTO messages_fts (rowid, body) SELECT seq, body FROM messages")
        raw.execute("UPDATE search_progress SET indexed_upto = (SELECT max(seq) FROM messages)")
        raw.execute("PRAGMA user_version = 7")
        raw.execute("COMMIT")


def test_a_version_7_history_keeps_its_messages_and_takes_files(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    version_7(path)

    async def scenario(db: Database) -> None:
        messages, transfers = SqliteMessageRepository(db), SqliteTransferRepository(db)
        old = await messages.get(UUID(int=1))
        assert old is not None
        assert (old.body, old.state, old.file) == ("old news", MessageState.RECEIVED, None)
        assert [m.id.int for m in await messages.page(ALICE_BOB.id, 10)] == [2, 1]
        assert [m.id.int for m in await messages.search("old", 10)] == [2, 1]
        outbox = await messages.pending_deliveries("alice")
        assert [(e.message.id.int, e.message.file) for e in outbox] == [(2, None)]
        assert await transfers.listing() == [] and await transfers.unfinished() == []
        assert await messages.add([offer_message(3)]) == [offer_message(3)]

    with Database(path) as db:
        run(scenario(db))
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Database(path) as db:  # opening again migrates nothing and keeps what was written
        offer = run(SqliteMessageRepository(db).get(UUID(int=3)))
        assert offer is not None and offer.file == OFFER
        (record,) = run(SqliteTransferRepository(db).unfinished())
        assert (record.id.int, record.state) == (3, TransferState.OFFERED)
        assert [m.id.int for m in run(SqliteMessageRepository(db).search("holiday", 10))] == [3]
    with Database(tmp_path / "fresh.sqlite3"):
        pass
    assert schema_of(path) == schema_of(tmp_path / "fresh.sqlite3")


def test_the_unfinished_query_uses_its_partial_index(tmp_path: Path) -> None:
    """Listing what to resume must not read every transfer ever made."""
    with Database(tmp_path / "history.db"):
        pass
    with closing(sqlite3.connect(tmp_path / "history.db")) as raw:
        plan = raw.execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM transfers WHERE {UNFINISHED}"
            " ORDER BY created_at, rowid"
        ).fetchall()
    assert any("transfers_unfinished" in str(row) for row in plan), plan
