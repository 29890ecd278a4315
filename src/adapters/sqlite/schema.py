"""The history file's schema: its migrations in order (``PRAGMA user_version`` counts them) and
the bulk indexing of new messages for search. Never change a migration that shipped: add one.
"""

from __future__ import annotations

import sqlite3
from typing import Final

MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 1: conversations, messages in local insertion order (seq), and full-text search over bodies.
    (
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
        # Emoji are symbols (So), which unicode61 would otherwise drop as separators.
        """CREATE VIRTUAL TABLE messages_fts USING fts5(
            body, content='messages', content_rowid='seq',
            tokenize="unicode61 remove_diacritics 2 categories 'L* N* Co So'"
        )""",
        # New rows are indexed in bulk just before each commit (see index_new_messages): one
        # FTS5 statement per transaction costs a tenth of one per row. Rows up to indexed_upto
        # are in the index; only those need removing from it.
        "CREATE TABLE search_progress (indexed_upto INTEGER NOT NULL)",
        "INSERT INTO search_progress (indexed_upto) VALUES (0)",
        """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
        WHEN old.seq <= (SELECT indexed_upto FROM search_progress) BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, body)
                VALUES ('delete', old.seq, old.body);
        END""",
        # Only a changed body touches the index: state updates leave it alone.
        """CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
        WHEN old.seq <= (SELECT indexed_upto FROM search_progress) BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, body)
                VALUES ('delete', old.seq, old.body);
            INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
        END""",
    ),
    # 2: the outbox (messages not yet acknowledged), found without reading the whole history.
    (
        """CREATE INDEX messages_outbox ON messages (sender, seq)
        WHERE state IN ('pending', 'queued', 'sent')""",
    ),
    # 3: contacts pinned to their identity key (trust on first use), and when a received message
    # was stored by this device. Times are microseconds since the epoch, like sent_at.
    (
        """CREATE TABLE contacts (
            name TEXT PRIMARY KEY,
            key BLOB NOT NULL,
            first_seen INTEGER NOT NULL,
            verified INTEGER NOT NULL DEFAULT 0,
            pending_key BLOB,
            accepted INTEGER NOT NULL DEFAULT 0
        )""",
        "ALTER TABLE messages ADD COLUMN received_at INTEGER",
    ),
    # 4: how far the user has read each conversation: the local seq of the last message they
    # saw (received messages after it are unread). What was stored before this migration counts
    # as read: a history that never kept a marker must not come back all unread.
    (
        "ALTER TABLE conversations ADD COLUMN read_upto INTEGER NOT NULL DEFAULT 0",
        """UPDATE conversations SET read_upto = coalesce(
            (SELECT max(seq) FROM messages WHERE conversation_id = conversations.id), 0)""",
    ),
    # 5: every signed change of every group's membership log this client learnt (issue 10),
    # once each by its hash, in the order stored (seq); the canonical chain is recomputed from
    # them. ``content`` is the change's canonical JSON (its signed bytes without the context
    # prefix) and ``signature`` its signature: with them the change is rebuilt exactly, and
    # checked against ``hash`` on every read. group_id and version repeat what content says,
    # for the index.
    (
        """CREATE TABLE group_changes (
            hash BLOB PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            group_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            content BLOB NOT NULL,
            signature BLOB NOT NULL
        )""",
        "CREATE INDEX group_changes_by_group ON group_changes (group_id, seq)",
    ),
    # 6: deliveries, one per (outgoing message, recipient), each with its own state and reason,
    # so a group message can be delivered to some members and not yet to others. The messages'
    # state/reason/recipient stay as the summary that reading code uses (for a one-to-one
    # message exactly its one delivery). ``updated_at`` is when the state was last written here
    # (microseconds since the epoch), NULL for a delivery this migration made: that time was
    # never kept. The history file holds one user's messages, and the outgoing ones are those
    # not ``received``: each gets the delivery its columns describe.
    (
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
        """INSERT INTO deliveries (message_seq, recipient, state, reason)
        SELECT seq, recipient, state, reason FROM messages WHERE state <> 'received'""",
    ),
    # 7: group messages (issue 10). A group message names its group (``group_id``, which is
    # also its conversation_id) and keeps its author's stamp exactly as signed, so any member
    # can forward it: the author's sequence number in the group, the membership version it was
    # sent under, and the signature (all NULL for a one-to-one message). It has no recipient:
    # ``recipient`` stays NOT NULL (SQLite cannot drop that with ALTER, and rebuilding
    # ``messages`` would mean rebuilding the search index's triggers and the deliveries'
    # foreign key with it), so a group message stores '' there, which no username can be, and
    # is read back with recipient None. Its deliveries, one per member, are in ``deliveries``;
    # its state/reason are their summary. The unique index stores each author's number once per
    # group and answers "how far is each author" and "an author's messages after N" (sync).
    (
        "ALTER TABLE messages ADD COLUMN group_id TEXT",
        "ALTER TABLE messages ADD COLUMN stamp_seq INTEGER",
        "ALTER TABLE messages ADD COLUMN stamp_version INTEGER",
        "ALTER TABLE messages ADD COLUMN stamp_signature BLOB",
        """CREATE UNIQUE INDEX messages_by_group_author ON messages (group_id, sender, stamp_seq)
        WHERE group_id IS NOT NULL""",
    ),
    # 8: files (issue 11, docs/design-files.md). A file offer is a message whose ``file`` holds
    # the offer as JSON (name, size, sha256 and root in hex, piece_size, mime); NULL for any
    # other message. ``transfers`` has one record per (offer id, peer): the peer is the author
    # of an incoming offer, the recipient of an outgoing one ('' for a group's offer as a
    # whole). It repeats the offer, because an outgoing record is made before its message
    # exists. Times are microseconds since the epoch, like sent_at; ``notice`` is 1 while the
    # peer has not been told of a final state reached here. The piece hashes and the bitmap of
    # pieces stored (incoming) are per offer id, in tables of their own: they can be large (a
    # hash per 512 KiB) and are written far more rarely (hashes) or far more often (bitmap)
    # than the rest. ``transfers_unfinished`` holds only what a client resumes when it starts.
    (
        "ALTER TABLE messages ADD COLUMN file TEXT",
        """CREATE TABLE transfers (
            id TEXT NOT NULL,
            peer TEXT NOT NULL,
            direction TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            group_id TEXT,
            offer TEXT NOT NULL,
            state TEXT NOT NULL,
            bytes INTEGER NOT NULL DEFAULT 0,
            reason TEXT,
            path TEXT,
            directory TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            notice INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (id, peer)
        )""",
        "CREATE INDEX transfers_by_created ON transfers (created_at)",
        """CREATE INDEX transfers_unfinished ON transfers (created_at)
        WHERE state IN ('offered', 'active', 'paused') OR notice <> 0""",
        "CREATE TABLE transfer_hashes (id TEXT PRIMARY KEY, hashes BLOB NOT NULL)",
        "CREATE TABLE transfer_pieces (id TEXT PRIMARY KEY, bitmap BLOB NOT NULL)",
    ),
)

NO_RECIPIENT: Final = ""
"""What ``messages.recipient`` holds for a group message (migration 7): it has none."""

_INDEX_NEW: Final = (
    "INSERT INTO messages_fts (rowid, body) SELECT seq, body FROM messages "
    "WHERE seq > (SELECT indexed_upto FROM search_progress)"
)
_MARK_INDEXED: Final = (
    "UPDATE search_progress SET indexed_upto = (SELECT coalesce(max(seq), 0) FROM messages)"
)


def index_new_messages(connection: sqlite3.Connection) -> None:
    """Add the messages stored in this transaction to the search index, in one statement."""
    if connection.execute(_INDEX_NEW).rowcount:
        connection.execute(_MARK_INDEXED)


_LAST_SEQ: Final = (
    "SELECT max((SELECT coalesce(max(seq), 0) FROM messages), indexed_upto) FROM search_progress"
)


def last_seq(connection: sqlite3.Connection) -> int:
    """The highest ``seq`` a committed message ever had: new messages are numbered after it.

    SQLite would number a new row one past the largest ``seq`` still stored, so once the latest
    messages are discarded their numbers would come back. They must not: a read marker
    (``read_upto``) or an unread count's end may name them, and the search index's triggers take
    every row up to ``indexed_upto`` as indexed, so a new row numbered below it would never be
    indexed, and deleting it later would corrupt the index. ``indexed_upto`` remembers: every
    transaction that stores messages ends by indexing them and moving it to the largest ``seq``,
    and nothing lowers it. (A number used and discarded within one transaction may come back:
    nobody outside that transaction ever saw it.)
    """
    (last,) = connection.execute(_LAST_SEQ).fetchone()
    return int(last)


SCHEMA_VERSION: Final = len(MIGRATIONS)
"""The ``PRAGMA user_version`` this code writes; a file with a higher one is refused."""
