"""How fast the SQLite history stores messages under concurrent ``add`` calls (group commit).

Run: ``python benchmarks/bench_storage.py``. Prints messages/s for batches of 1 and 100 messages
per call, with ``synchronous`` FULL and NORMAL, each on a fresh file in a temporary folder.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import Message, MessageState

MESSAGES = 20_000


def make_messages() -> list[Message]:
    conversation = Conversation.direct("alice", "bob")
    sent_at = datetime.now(UTC)
    return [
        Message(
            id=uuid4(),
            conversation_id=conversation.id,
            sender="alice",
            recipient="bob",
            body=f"message {n}: the quick brown fox jumps over the lazy dog",
            sent_at=sent_at,
            state=MessageState.PENDING,
        )
        for n in range(MESSAGES)
    ]


async def store(repository: SqliteMessageRepository, messages: list[Message], size: int) -> None:
    batches = [messages[i : i + size] for i in range(0, len(messages), size)]
    stored = await asyncio.gather(*(repository.add(batch) for batch in batches))
    assert sum(map(len, stored)) == len(messages)


def main() -> None:
    messages = make_messages()
    print(f"storing {MESSAGES:,} messages with concurrent add() calls")
    with tempfile.TemporaryDirectory() as folder:
        for synchronous in ("FULL", "NORMAL"):
            for size in (1, 100):
                path = Path(folder) / f"{synchronous}-{size}.db"
                with Database(path, synchronous=synchronous) as db:
                    start = time.perf_counter()
                    asyncio.run(store(SqliteMessageRepository(db), messages, size))
                    elapsed = time.perf_counter() - start
                    print(
                        f"synchronous={synchronous:<6} batch={size:<3}  "
                        f"{MESSAGES / elapsed:>9,.0f} msgs/s  "
                        f"({db.batches_committed} commits, {elapsed:.2f} s)"
                    )


if __name__ == "__main__":
    main()
