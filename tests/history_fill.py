"""Big histories for the full-size tests and the benchmarks: alice's chat with bob, message
``n`` (from 1) numbered, timed and worded by ``n`` alone, so a check needs no copy of them.

Two ways to write them, holding the same rows:

- :func:`fill_through_repository`: through the real :class:`SqliteMessageRepository` (batches
  of 500 gathered into its group commit), as a client stores messages: about 55,000 messages/s
  here (100,000 in under 2 s, 1,000,000 in about 18 s on 2 cores);
- :func:`bulk_fill`: one ``executemany`` into the real schema (the file made by
  :class:`Database`), then what the repository adds in the same transaction: the outgoing
  messages' deliveries and the search index (``index_new_messages``). About 120,000/s here
  (1,000,000 in about 8.5 s), for the million-message tests, where the repository's rate would
  cost ten seconds more for nothing tested. ``tests/integration/test_data_full_size.py``
  checks that both write histories that export alike.

Every :data:`HOSTILE_EVERY`-th body is markup and script (:func:`body`), for the exports' escaping.
:func:`measure` runs a command over such a history and reads its time and peak memory.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final
from uuid import UUID

from chinwag.adapters.secure.keys import LocalKeys, encode_keys
from chinwag.adapters.sqlite.conversations import SqliteConversationRepository
from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.message_rows import to_micros
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.adapters.sqlite.schema import index_new_messages
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import Message, MessageState
from chinwag.entrypoints.settings import KEYS_FILE, user_folder_name

ALICE_BOB: Final = Conversation.direct("alice", "bob")
T0: Final = datetime(2024, 5, 17, 12, 0, tzinfo=UTC)
HOSTILE_EVERY: Final = 1000
"""Message ``n`` with ``n % HOSTILE_EVERY == 7`` holds :func:`hostile` markup."""
BATCH: Final = 500
"""Messages per repository ``add`` (its largest single statement batch)."""
_GATHERED: Final = 20
"""``add`` calls in flight at once (the repository gathers them into one commit)."""
_BULK_ROWS: Final = 50_000


def hostile(n: int) -> str:
    """A body that would be a script and elements if an export let it through as markup."""
    script = f"<script>document.title='ran {n}'</script>"
    return f"{script}<b>bold {n}</b> & <img src=x onerror=alert({n})>"


def body(n: int) -> str:
    """Message ``n``'s body: its number in words a search or a reader can find."""
    if n % HOSTILE_EVERY == 7:
        return hostile(n)
    return f"message {n}: the quick brown fox jumps over the lazy dog"


def outgoing(n: int) -> bool:
    """Odd messages alice sent (delivered), even ones bob sent her (received)."""
    return n % 2 == 1


def sent_at(n: int) -> datetime:
    return T0 + timedelta(seconds=n)


def message(n: int) -> Message:
    mine = outgoing(n)
    return Message(
        id=UUID(int=n),
        conversation_id=ALICE_BOB.id,
        sender="alice" if mine else "bob",
        recipient="bob" if mine else "alice",
        body=body(n),
        sent_at=sent_at(n),
        state=MessageState.DELIVERED if mine else MessageState.RECEIVED,
        received_at=None if mine else sent_at(n) + timedelta(milliseconds=500),
    )


async def add_messages(db: Database, count: int, first: int = 1) -> None:
    """Messages ``first`` to ``first + count - 1`` through the repository, in order."""
    repository = SqliteMessageRepository(db)
    await SqliteConversationRepository(db).save([ALICE_BOB])
    end = first + count
    step = BATCH * _GATHERED
    for start in range(first, end, step):
        batches = [
            [message(n) for n in range(low, min(end, low + BATCH))]
            for low in range(start, min(end, start + step), BATCH)
        ]
        # One batch after the other inside a gather: the repository keeps call order.
        stored = await asyncio.gather(*(repository.add(batch) for batch in batches))
        assert sum(map(len, stored)) == sum(map(len, batches)), "ids already stored"


def give_identity(data_dir: Path, user: str = "alice") -> Path:
    """Make ``user`` exist in ``data_dir`` (a new identity key in their folder), as their first
    sign-in would: ``import`` refuses a user who never signed in. Their folder."""
    folder = data_dir / user_folder_name(user)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / KEYS_FILE).write_bytes(encode_keys(LocalKeys.generate()))
    return folder


def fill_through_repository(path: Path, count: int) -> None:
    """A history file at ``path`` holding messages 1 to ``count``, stored by the repository."""
    with Database(path, synchronous="NORMAL") as db:
        asyncio.run(add_messages(db, count))


def _rows(first: int, end: int) -> Iterator[tuple[object, ...]]:
    conversation = str(ALICE_BOB.id)
    for n in range(first, end):
        mine = outgoing(n)
        at = to_micros(sent_at(n))
        yield (
            n,
            str(UUID(int=n)),
            conversation,
            "alice" if mine else "bob",
            "bob" if mine else "alice",
            body(n),
            at,
            "delivered" if mine else "received",
            None if mine else at + 500_000,
        )


def bulk_fill(path: Path, count: int) -> None:
    """A history file at ``path`` holding messages 1 to ``count``, the rows
    :func:`fill_through_repository` stores, written in one transaction without the repository."""
    with Database(path) as db:  # the schema, and the conversation, as a client makes them
        asyncio.run(SqliteConversationRepository(db).save([ALICE_BOB]))
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA synchronous = OFF")
        for start in range(1, count + 1, _BULK_ROWS):
            connection.executemany(
                "INSERT INTO messages (seq, id, conversation_id, sender, recipient, body,"
                " sent_at, state, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _rows(start, min(count + 1, start + _BULK_ROWS)),
            )
        connection.execute(
            "INSERT INTO deliveries (message_seq, recipient, state, reason, updated_at)"
            " SELECT seq, recipient, state, reason, sent_at FROM messages"
            " WHERE state <> 'received'"
        )
        index_new_messages(connection)


@dataclass(frozen=True)
class Measured:
    """What one process took: wall-clock seconds, peak resident memory, what it said."""

    seconds: float
    peak_bytes: int
    stderr: str


def measure(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Measured:
    """Run ``argv`` to its end in a process of its own (stdout discarded); raise if it fails.

    The peak is ``ru_maxrss`` of that one child, from ``wait4``: not the cumulative maximum
    of every child this process ever had (``RUSAGE_CHILDREN``), and no ``/usr/bin/time``."""
    with tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        said = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise AssertionError(f"{list(argv)} exited {proc.returncode}: {said}")
    return Measured(seconds, usage.ru_maxrss * 1024, said)
