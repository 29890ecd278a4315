"""Message history in SQLite: keyset paging by local insertion order, FTS5 search over bodies,
and the deliveries of outgoing messages, one-to-one and group (see :mod:`.deliveries`)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Final
from uuid import UUID

from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.deliveries import deliveries_of, pending_deliveries, record_states
from chinwag.adapters.sqlite.insertion import Call, Insertion
from chinwag.adapters.sqlite.message_rows import (
    COLUMNS,
    ID,
    WIDTH,
    chunks,
    from_row,
    marks,
    to_row,
)
from chinwag.adapters.sqlite.transfers import forget_incoming
from chinwag.application.errors import MessageNotFound
from chinwag.application.ports.message_repository import Delivery, OutboxEntry, StateChange
from chinwag.domain.message import Message, MessageState

MAX_LIMIT: Final = 500
"""The most messages one :meth:`page`, :meth:`search` or :meth:`group_messages` returns, and
the most ids one :meth:`discard` takes."""

# NUL ends an FTS5 string early and lone surrogates cannot be bound. Both only ever separate
# words, so they become another separator that, unlike whitespace, does not split the term.
_UNSEARCHABLE: Final = re.compile("[\x00\ud800-\udfff]")


def _check_limit(limit: int) -> None:
    """Raise ValueError unless ``1 <= limit <= MAX_LIMIT``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")


def _fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query that matches them all and cannot fail to parse.

    Every whitespace-separated term becomes a quoted string (inner quotes doubled), so operators,
    column filters, stars and parentheses are just text; the ``*`` after the closing quote is
    ours, and makes the term's last word a prefix (``lore`` finds ``lorem``), as people expect
    of a search box that searches while they are still typing a word. ``None`` when there is
    no term.
    """
    terms = _UNSEARCHABLE.sub("-", text).split()
    return " ".join('"' + term.replace('"', '""') + '"*' for term in terms) or None


def _forget(connection: sqlite3.Connection, ids: list[str]) -> list[Message]:
    """Delete these messages (by id) and their deliveries (first: they refer to the message),
    and the incoming transfer records of those that offered a file (no record outlives its
    offer); the messages that were stored, in the order of ``ids``."""
    found: dict[str, tuple[int, Message]] = {}
    for chunk in chunks(ids):
        for row in connection.execute(
            f"SELECT {COLUMNS}, seq FROM messages WHERE id IN ({marks(chunk)})", chunk
        ):
            found[row[ID]] = (row[WIDTH], from_row(row[:WIDTH]))
    seqs = [seq for seq, _ in found.values()]
    for some in chunks(seqs):
        connection.execute(f"DELETE FROM deliveries WHERE message_seq IN ({marks(some)})", some)
        connection.execute(f"DELETE FROM messages WHERE seq IN ({marks(some)})", some)
    forget_incoming(connection, [id_ for id_, (_, m) in found.items() if m.file is not None])
    return [found[id_][1] for id_ in ids if id_ in found]


class SqliteMessageRepository:
    """The :class:`~chinwag.application.ports.MessageRepository` port, in SQLite.

    ``sent_at`` and ``received_at`` are stored as integer microseconds since the epoch and read
    back as aware UTC datetimes; a message never received here keeps ``received_at`` None. An
    outgoing message's deliveries are written with it (see :mod:`.deliveries`). A group message
    is stored with ``''`` as its recipient and read back with none (see migration 7).
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._open: Insertion | None = None

    async def add(
        self, messages: Sequence[Message], members: Mapping[UUID, Sequence[str]] | None = None
    ) -> list[Message]:
        """Store the messages whose ids are new; return those, in order, once committed.

        An outgoing group message gets one delivery per name in ``members[message.id]``
        (repeats counted once); with none, its summary is ``delivered`` (nothing is left to
        deliver), whatever state it came in. A group message whose author's sequence number
        in that group is stored already (under another id) is a duplicate too.

        Calls made before the writer gets to them share one job of a few statements: a burst of
        single-message sends then costs a few statements, not one each (see :class:`Insertion`).
        """
        if not messages:
            return []
        rows = []
        sent_to: dict[str, Sequence[str]] = {}
        for message in messages:
            if message.group_id is None or message.state is MessageState.RECEIVED:
                rows.append(to_row(message))
                continue
            names = list(dict.fromkeys((members or {}).get(message.id, ())))
            sent_to[str(message.id)] = names
            rows.append(to_row(message, None if names else MessageState.DELIVERED))
        call = Call(messages, rows, sent_to)
        while True:
            insertion = self._open
            if insertion is not None and (stored := insertion.join(call)) is not None:
                return await stored
            insertion = Insertion()
            job = self._db.write(insertion.run)  # raises if closed: then no caller may join it
            self._open = insertion
            job.add_done_callback(insertion.settle)

    async def update_states(self, changes: Sequence[StateChange]) -> list[StateChange]:
        """Record new states of deliveries and their messages' summaries in one transaction
        (unknown ids and deliveries are ignored); the group messages' summaries that changed,
        in the order of ``changes``."""
        if not changes:
            return []
        batch = list(changes)  # as it is now: the job runs later, on the writer thread
        return await self._db.write(lambda connection: record_states(connection, batch))

    async def discard(self, ids: Sequence[UUID]) -> list[Message]:
        """Remove up to 500 messages by id (repeats counted once, unknown ones ignored) with
        their deliveries, in one write job; those that were stored, as they were, in the
        order given. Raises ``ValueError`` for more than 500 ids.

        The job is queued like every write, and an ``add`` called after this one starts a job
        of its own instead of joining one queued before (see :meth:`add`): writes take effect
        in the order they were called. The search index forgets the rows through the delete
        trigger of migration 1, which only touches rows already indexed; rows stored in the
        same transaction are indexed only at its end, from what is left.
        """
        if len(ids) > MAX_LIMIT:
            raise ValueError(
                f"at most {MAX_LIMIT} messages can be discarded at once, not {len(ids)}"
            )
        if not ids:
            return []
        wanted = list(dict.fromkeys(str(id_) for id_ in ids))
        job = self._db.write(lambda connection: _forget(connection, wanted))
        self._open = None  # later adds must not join an insertion queued before this job
        return await job

    async def deliveries(self, message_id: UUID) -> list[Delivery]:
        return await self._db.read(lambda connection: deliveries_of(connection, message_id))

    async def get(self, message_id: UUID) -> Message | None:
        def select(connection: sqlite3.Connection) -> Message | None:
            row = connection.execute(
                f"SELECT {COLUMNS} FROM messages WHERE id = ?", (str(message_id),)
            ).fetchone()
            return None if row is None else from_row(row)

        return await self._db.read(select)

    async def unacknowledged(self, sender: str) -> list[Message]:
        def select(connection: sqlite3.Connection) -> list[Message]:
            rows = connection.execute(
                f"SELECT {COLUMNS} FROM messages WHERE sender = ? "
                "AND state IN ('pending', 'queued', 'sent') ORDER BY seq",
                (sender,),
            )
            return [from_row(row) for row in rows]

        return await self._db.read(select)

    async def pending_deliveries(self, sender: str) -> list[OutboxEntry]:
        return await self._db.read(lambda connection: pending_deliveries(connection, sender))

    async def group_progress(self, group: UUID) -> dict[str, int]:
        def select(connection: sqlite3.Connection) -> dict[str, int]:
            rows = connection.execute(
                "SELECT sender, max(stamp_seq) FROM messages WHERE group_id = ? GROUP BY sender",
                (str(group),),
            )
            return {author: int(seq) for author, seq in rows}

        return await self._db.read(select)

    async def group_messages(
        self, group: UUID, author: str, after: int, limit: int
    ) -> list[Message]:
        """Up to ``limit`` (1..500) of ``author``'s messages in ``group`` numbered above
        ``after``, in their author's order, stamped as signed."""
        _check_limit(limit)

        def select(connection: sqlite3.Connection) -> list[Message]:
            rows = connection.execute(
                f"SELECT {COLUMNS} FROM messages WHERE group_id = ? AND sender = ?"
                " AND stamp_seq > ? ORDER BY stamp_seq LIMIT ?",
                (str(group), author, after, limit),
            )
            return [from_row(row) for row in rows]

        return await self._db.read(select)

    async def page(
        self, conversation_id: UUID, limit: int, before: UUID | None = None
    ) -> list[Message]:
        """Up to ``limit`` (1..500) messages, newest first, stored before ``before`` if given.

        Raises :class:`MessageNotFound` if ``before`` is not a stored message.
        """
        _check_limit(limit)

        def select(connection: sqlite3.Connection) -> list[Message]:
            if before is None:
                rows = connection.execute(
                    f"SELECT {COLUMNS} FROM messages WHERE conversation_id = ?"
                    " ORDER BY seq DESC LIMIT ?",
                    (str(conversation_id), limit),
                )
            else:
                found = connection.execute(
                    "SELECT seq FROM messages WHERE id = ?", (str(before),)
                ).fetchone()
                if found is None:
                    raise MessageNotFound(f"no message {before} in the history")
                rows = connection.execute(
                    f"SELECT {COLUMNS} FROM messages WHERE conversation_id = ? AND seq < ?"
                    " ORDER BY seq DESC LIMIT ?",
                    (str(conversation_id), found[0], limit),
                )
            return [from_row(row) for row in rows]

        return await self._db.read(select)

    async def search(self, text: str, limit: int) -> list[Message]:
        """Up to ``limit`` (1..500) messages containing every word of ``text``, newest first.

        Words match ignoring case and Latin accents, the last word of each term as a prefix
        (``lore`` finds ``lorem``); a term with punctuation inside (``col:val``) matches those
        words next to each other. No input can make it fail.
        """
        _check_limit(limit)
        query = _fts_query(text)
        if query is None:
            return []

        def select(connection: sqlite3.Connection) -> list[Message]:
            rows = connection.execute(
                f"SELECT {COLUMNS} FROM messages WHERE seq IN ("
                " SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?"
                " ORDER BY rowid DESC LIMIT ?"
                ") ORDER BY seq DESC",
                (query, limit),
            )
            return [from_row(row) for row in rows]

        return await self._db.read(select)
