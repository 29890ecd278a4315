"""The history read for an export: a read-only connection of its own, one snapshot, rows
streamed by SQLite cursors in storage order (``seq``), never a whole table in memory.

The file is opened read-only (``mode=ro``) beside a running client: in WAL mode readers block
no writer and no writer blocks them, and the one read transaction that spans the export sees
the history as it was when it began (messages stored meanwhile are left for the next export).
Nothing here writes: not the schema (a file of another schema version is refused, since its
columns may differ), not the search index, not a read marker.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Final

from chinwag.adapters.files import check_not_link
from chinwag.adapters.sqlite.database import StorageError
from chinwag.adapters.sqlite.message_rows import from_micros, to_micros
from chinwag.adapters.sqlite.schema import NO_RECIPIENT, SCHEMA_VERSION
from chinwag.application.history_export import (
    ConversationHeading,
    ExportedDelivery,
    ExportedMessage,
    ExportScope,
)
from chinwag.domain.conversation import direct_conversation_id

_BUSY_TIMEOUT_MS: Final = 5000
_SIDE_FILES: Final = ("", "-wal", "-shm", "-journal")

_COLUMNS: Final = (
    "m.seq, m.id, m.conversation_id, m.sender, m.recipient, m.body, m.sent_at, m.state,"
    " m.reason, m.received_at, m.group_id, m.stamp_seq, m.stamp_version, m.stamp_signature,"
    " m.file"
)

_Filter = tuple[str, list[object]]
"""A WHERE clause over ``messages AS m`` (``1`` for none) and its values."""


def _filter(scope: ExportScope, user: str, conversation_id: str | None = None) -> _Filter:
    clauses: list[str] = []
    values: list[object] = []
    if conversation_id is not None:
        clauses.append("m.conversation_id = ?")
        values.append(conversation_id)
    if scope.group is not None:
        clauses.append("m.conversation_id = ? AND m.group_id IS NOT NULL")
        values.append(scope.group)
    if scope.peer is not None:
        # By the conversation index, not by scanning every sender and recipient.
        clauses.append("m.conversation_id = ? AND m.group_id IS NULL")
        values.append(str(direct_conversation_id(user, scope.peer)))
    if scope.since is not None:
        clauses.append("m.sent_at >= ?")
        values.append(to_micros(scope.since))
    return (" AND ".join(clauses) or "1"), values


def open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the history at ``path``; :class:`StorageError` if there is
    none, if it or a file SQLite keeps beside it is a symbolic link, or if its schema is not
    this chinwag's (an older file is brought up to date by starting chinwag once)."""
    try:
        for suffix in _SIDE_FILES:
            check_not_link(Path(f"{path}{suffix}"))
        if not path.is_file():
            raise StorageError(f"there is no chat history at {path}")
        connection = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None
        )
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot open the chat history {path}: {exc}") from exc
    try:
        connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        (version,) = connection.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error as exc:
        connection.close()
        raise StorageError(f"cannot read the chat history {path}: {exc}") from exc
    if version != SCHEMA_VERSION:
        connection.close()
        todo = (
            "upgrade chinwag"
            if version > SCHEMA_VERSION
            else "start chinwag once as this user to bring it up to date"
        )
        raise StorageError(
            f"the chat history {path} has schema {version}, this chinwag knows "
            f"{SCHEMA_VERSION}: {todo}"
        )
    return connection


class SqliteHistorySource:
    """The :class:`~chinwag.application.history_export.HistorySource` of one user's history
    file, in one read transaction from :meth:`open` (or ``with``) to :meth:`close`.

    Messages come from one cursor in ``seq`` order (by the conversation index for one
    conversation); the deliveries of outgoing group messages from a second cursor in the same
    order, merged as both advance. Either way SQLite hands over a row at a time.
    """

    def __init__(self, path: Path, user: str) -> None:
        self._path = path
        self._user = user
        self._connection = open_read_only(path)
        try:
            self._connection.execute("BEGIN")
            # A read transaction starts at its first read: this one pins the snapshot now.
            self._connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            self._connection.close()
            raise StorageError(f"cannot read the chat history {path}: {exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # nothing was written; closing ends it anyway
            self._connection.execute("ROLLBACK")
        self._connection.close()

    def __enter__(self) -> SqliteHistorySource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _query(self, sql: str, values: list[object]) -> sqlite3.Cursor:
        try:
            return self._connection.execute(sql, values)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the chat history {self._path}: {exc}") from exc

    def count(self, scope: ExportScope) -> int:
        where, values = _filter(scope, self._user)
        sql = f"SELECT count(*) FROM messages AS m WHERE {where}"
        (count,) = self._query(sql, values).fetchone()
        return int(count)

    def conversations(self, scope: ExportScope) -> list[ConversationHeading]:
        where, values = _filter(scope, self._user)
        rows = self._query(
            "SELECT m.conversation_id, max(m.group_id),"
            " min(CASE WHEN m.sender = ? THEN nullif(m.recipient, ?) ELSE m.sender END),"
            f" count(*) FROM messages AS m WHERE {where}"
            " GROUP BY m.conversation_id ORDER BY min(m.seq)",
            [self._user, NO_RECIPIENT, *values],
        ).fetchall()
        return [
            ConversationHeading(
                id=conversation_id,
                peer=None if group_id is not None else peer,
                group_id=group_id,
                group_name=None if group_id is None else self._group_name(group_id),
                messages=int(count),
            )
            for conversation_id, group_id, peer, count in rows
        ]

    def _group_name(self, group_id: str) -> str | None:
        """The name the latest stored change of the group gave it: a title for people, read
        from the change's signed JSON without checking it (nothing is decided by it)."""
        rows = self._query(
            "SELECT content FROM group_changes WHERE group_id = ? ORDER BY seq DESC", [group_id]
        )
        for (content,) in rows:
            try:
                name = json.loads(content).get("name")
            except (ValueError, AttributeError):
                continue
            if isinstance(name, str) and name:
                return name
        return None

    def messages(
        self, scope: ExportScope, conversation_id: str | None = None
    ) -> Iterator[ExportedMessage]:
        where, values = _filter(scope, self._user, conversation_id)
        rows = self._query(
            f"SELECT {_COLUMNS} FROM messages AS m WHERE {where} ORDER BY m.seq", values
        )
        deliveries = self._query(
            "SELECT d.message_seq, d.recipient, d.state, d.reason FROM messages AS m"
            " JOIN deliveries AS d ON d.message_seq = m.seq"
            f" WHERE m.group_id IS NOT NULL AND m.state <> 'received' AND {where}"
            " ORDER BY m.seq, d.recipient",  # the order of both indexes: no sort
            values,
        )
        pending = deliveries.fetchone()
        for row in rows:
            seq = row[0]
            found: list[ExportedDelivery] = []
            while pending is not None and pending[0] <= seq:
                if pending[0] == seq:
                    found.append(ExportedDelivery(pending[1], pending[2], pending[3]))
                pending = deliveries.fetchone()
            yield self._message(row, tuple(found))

    def _message(
        self, row: tuple[object, ...], deliveries: tuple[ExportedDelivery, ...]
    ) -> ExportedMessage:
        (
            _,
            id_,
            conversation_id,
            sender,
            recipient,
            body,
            sent_at,
            state,
            reason,
            received_at,
            group_id,
            stamp_seq,
            stamp_version,
            signature,
            file,
        ) = row
        assert isinstance(sent_at, int) and isinstance(sender, str)
        to = None if group_id is not None or recipient == NO_RECIPIENT else str(recipient)
        return ExportedMessage(
            id=str(id_),
            conversation_id=str(conversation_id),
            sender=sender,
            recipient=to,
            peer=None if group_id is not None else (to if sender == self._user else sender),
            group_id=None if group_id is None else str(group_id),
            body=str(body),
            sent_at=from_micros(sent_at),
            state=str(state),
            reason=None if reason is None else str(reason),
            received_at=None if not isinstance(received_at, int) else from_micros(received_at),
            stamp_seq=stamp_seq if isinstance(stamp_seq, int) else None,
            stamp_version=stamp_version if isinstance(stamp_version, int) else None,
            stamp_signature=bytes(signature) if isinstance(signature, bytes) else None,
            file=file if isinstance(file, str) else None,
            deliveries=deliveries,
        )
