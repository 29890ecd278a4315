"""The registry's name book: every name that ever registered, bound to the key that first did.

Names and keys live in memory for the event loop, backed by the registry's SQLite file
(``registry.sqlite3``). Writes happen on one worker thread, never on the event loop (an fsync
per new name would stall every client), and a binding is durable before it is answered.
``chinwag-registry release NAME`` deletes a binding from the file; a running registry reads the
file again before it refuses a name as taken, so it notices at the next sign-in of that name.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

from chinwag.adapters.files import check_not_link, create_private_file, private_folder
from chinwag.adapters.sqlite.database import StorageError
from chinwag.domain.user import username_skeleton

log = logging.getLogger(__name__)

_SCHEMA: Final = (
    # Version 1 (unencrypted chinwag) knew names only; they stay known, unbound until the first
    # key registers them.
    "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, first_seen INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bindings (name TEXT PRIMARY KEY, key BLOB NOT NULL,"
    " skeleton TEXT NOT NULL, bound_at INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS bindings_by_skeleton ON bindings (skeleton)",
)


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=False)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    for statement in _SCHEMA:
        connection.execute(statement)
    return connection


def open_book_file(path: Path) -> sqlite3.Connection:
    """The registry's file, created privately (0600 in a 0700 folder), never through a link."""
    try:
        private_folder(path.parent)
        for suffix in ("", "-wal", "-shm", "-journal"):
            check_not_link(path.with_name(path.name + suffix))
        create_private_file(path)
        return _connect(path)
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot open the registry's name book {path}: {exc}") from exc


class NameBook:
    """Names bound to identity keys (or only in memory: ``path=None``, for tests)."""

    def __init__(self, path: Path | None = None) -> None:
        self._keys: dict[str, bytes] = {}
        self._known: set[str] = set()
        self._by_skeleton: dict[str, str] = {}
        self._connection: sqlite3.Connection | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="name-book")
        self._lock = threading.Lock()
        if path is None:
            return
        connection = open_book_file(path)
        try:
            self._known = {name for (name,) in connection.execute("SELECT name FROM users")}
            for name, key in connection.execute("SELECT name, key FROM bindings"):
                self._remember(name, bytes(key))
        except sqlite3.Error as exc:
            connection.close()
            raise StorageError(f"cannot read the registry's name book {path}: {exc}") from exc
        self._connection = connection

    def __contains__(self, name: object) -> bool:
        return name in self._known or name in self._keys

    def __len__(self) -> int:
        return len(self._known | self._keys.keys())

    def key_of(self, name: str) -> bytes | None:
        """The key ``name`` is bound to, as this process knows it."""
        return self._keys.get(name)

    def lookalike(self, name: str) -> str | None:
        """Another bound name that reads like ``name`` (same UTS #39 skeleton), if any."""
        other = self._by_skeleton.get(username_skeleton(name))
        return other if other is not None and other != name else None

    def _remember(self, name: str, key: bytes) -> None:
        self._keys[name] = key
        self._known.add(name)
        self._by_skeleton.setdefault(username_skeleton(name), name)

    def _forget(self, name: str) -> None:
        self._keys.pop(name, None)
        skeleton = username_skeleton(name)
        if self._by_skeleton.get(skeleton) == name:
            del self._by_skeleton[skeleton]

    async def bind(self, name: str, key: bytes) -> bytes:
        """Bind ``name`` to ``key`` durably (on the writer thread) unless it is bound already;
        the key it is bound to now (``key``, or the first one's). StorageError if it cannot."""
        if self._connection is None:
            bound = self._keys.get(name, key)
        else:
            connection = self._connection

            def write() -> bytes:
                with self._lock, connection:
                    connection.execute("BEGIN IMMEDIATE")
                    connection.execute(
                        "INSERT INTO bindings (name, key, skeleton, bound_at) "
                        "VALUES (?, ?, ?, CAST(strftime('%s', 'now') AS INTEGER)) "
                        "ON CONFLICT (name) DO NOTHING",
                        (name, key, username_skeleton(name)),
                    )
                    row = connection.execute(
                        "SELECT key FROM bindings WHERE name = ?", (name,)
                    ).fetchone()
                    return bytes(row[0])

            try:
                bound = await asyncio.get_running_loop().run_in_executor(self._writer, write)
            except sqlite3.Error as exc:
                raise StorageError(f"cannot record {name}'s key: {exc}") from exc
        self._remember(name, bound)
        return bound

    async def refresh(self, name: str) -> bytes | None:
        """Read ``name``'s binding from the file again (an operator may have released it)."""
        if self._connection is None:
            return self._keys.get(name)
        connection = self._connection

        def read() -> bytes | None:
            with self._lock:
                row = connection.execute(
                    "SELECT key FROM bindings WHERE name = ?", (name,)
                ).fetchone()
            return None if row is None else bytes(row[0])

        try:
            key = await asyncio.get_running_loop().run_in_executor(self._writer, read)
        except sqlite3.Error as exc:
            log.warning("cannot read %r's binding again: %s", name, exc)
            return self._keys.get(name)
        if key is None:
            self._forget(name)
            log.info("%s was released by the operator", name)
        else:
            self._remember(name, key)
        return key

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def release(path: Path, name: str) -> bool:
    """Delete ``name``'s binding (and its memory as a known name) from the registry's file;
    False if the file does not know the name."""
    connection = open_book_file(path)
    try:
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            deleted = connection.execute("DELETE FROM bindings WHERE name = ?", (name,)).rowcount
            deleted += connection.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount
    except sqlite3.Error as exc:
        raise StorageError(f"cannot release {name} in {path}: {exc}") from exc
    finally:
        connection.close()
    return deleted > 0
