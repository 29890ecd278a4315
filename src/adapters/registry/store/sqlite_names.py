"""The registry's names in its SQLite file (``registry.sqlite3``): every name that ever
registered, bound to the key that first did (moved from ``names.py``).

The file is the truth and a :class:`~chinwag.adapters.registry.store.memory.MemoryNameStore`
mirrors it for the answers without I/O. Reads and writes run on one worker thread, never on the
event loop (an fsync per new name would stall every client), and a binding is durable before
:meth:`SqliteNameStore.bind` returns. ``chinwag-registry release NAME`` deletes a binding from
the file while the registry runs (:func:`release_in_file`); the registry sees it at the next
:meth:`SqliteNameStore.key_of` of that name.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

from chinwag.adapters.files import check_not_link, create_private_file, private_folder
from chinwag.adapters.registry.store.memory import MemoryNameStore
from chinwag.adapters.sqlite.database import StorageError
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import BindResult
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

_T = TypeVar("_T")


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    connection = sqlite3.connect(
        path, isolation_level=None, timeout=timeout, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = FULL")
    for statement in _SCHEMA:
        connection.execute(statement)
    return connection


def open_book_file(path: Path, timeout: float = 5.0) -> sqlite3.Connection:
    """The registry's file, created privately (0600 in a 0700 folder), never through a link."""
    try:
        private_folder(path.parent)
        for suffix in ("", "-wal", "-shm", "-journal"):
            check_not_link(path.with_name(path.name + suffix))
        create_private_file(path)
        return _connect(path, timeout)
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot open the registry's name book {path}: {exc}") from exc


def release_in_file(path: Path, name: str) -> bool:
    """Delete ``name``'s binding (and its memory as a known name) from the registry's file;
    False if the file does not know the name. StorageError if it cannot."""
    connection = open_book_file(path)
    try:
        with connection:
            deleted = _delete(connection, name)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot release {name} in {path}: {exc}") from exc
    finally:
        connection.close()
    return deleted


def _delete(connection: sqlite3.Connection, name: str) -> bool:
    connection.execute("BEGIN IMMEDIATE")
    deleted = connection.execute("DELETE FROM bindings WHERE name = ?", (name,)).rowcount
    deleted += connection.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount
    return deleted > 0


class SqliteNameStore:
    """A :class:`~chinwag.application.registry.ports.name_store.NameStore` in the registry's
    file at ``path``. Raises StorageError if the file cannot be opened or read at start;
    afterwards each failure of the file is a StoreUnavailable of the call that met it.

    ``timeout`` is how long a write waits for another writer of the file (the operator's
    ``release``) before it gives up.
    """

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="name-book")
        self._lock = threading.Lock()
        connection = open_book_file(path, timeout)
        try:
            known = [name for (name,) in connection.execute("SELECT name FROM users")]
            bindings = list(connection.execute("SELECT name, key FROM bindings ORDER BY rowid"))
        except sqlite3.Error as exc:
            connection.close()
            raise StorageError(f"cannot read the registry's name book {path}: {exc}") from exc
        self.mirror = MemoryNameStore(known)
        """What this process knows of the file (the answers without I/O)."""
        for name, key in bindings:
            self.mirror.remember(name, bytes(key))
        self._connection: sqlite3.Connection | None = connection

    async def _run(self, what: str, job: Callable[[sqlite3.Connection], _T]) -> _T:
        """``job`` on the worker thread, under the lock; StoreUnavailable if the file fails."""
        connection = self._connection
        if connection is None:
            raise StoreUnavailable(f"cannot {what}: the name book is closed")

        def run() -> _T:
            with self._lock:
                return job(connection)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._writer, run)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot {what}: {exc}") from exc
        except RuntimeError as exc:  # the worker was shut down under us
            raise StoreUnavailable(f"cannot {what}: {exc}") from exc

    # -- without I/O -----------------------------------------------------------------------------

    def cached_key(self, name: str) -> bytes | None:
        return self.mirror.cached_key(name)

    def cached_lookalike(self, name: str) -> str | None:
        return self.mirror.cached_lookalike(name)

    def cached_known(self, name: str) -> bool:
        return self.mirror.cached_known(name)

    def __len__(self) -> int:
        return len(self.mirror)

    # -- the port --------------------------------------------------------------------------------

    async def key_of(self, name: str) -> bytes | None:
        def read(connection: sqlite3.Connection) -> bytes | None:
            row = connection.execute("SELECT key FROM bindings WHERE name = ?", (name,)).fetchone()
            return None if row is None else bytes(row[0])

        key = await self._run(f"read {name}'s binding", read)
        if key is not None:
            self.mirror.remember(name, key)
        elif self.mirror.cached_key(name) is not None:
            self.mirror.forget(name)
            log.info("%s was released by the operator", name)
        return key

    async def lookalike(self, name: str) -> str | None:
        skeleton = username_skeleton(name)

        def read(connection: sqlite3.Connection) -> str | None:
            return _lookalike(connection, name, skeleton)

        return await self._run(f"look for names like {name}", read)

    async def bind(self, name: str, key: bytes) -> BindResult:
        """First key wins, a lookalike of a bound name is refused: both in one transaction of
        the file (the operator's ``release`` is the only other writer), durable on return."""
        return await self._bind(name, key, refuse_lookalike=True)

    async def bind_ignoring_lookalikes(self, name: str, key: bytes) -> bytes:
        """Bind as :meth:`bind` but without the skeleton check (the caller checked it before,
        as ``NameBook`` did); the key ``name`` is bound to now."""
        result = await self._bind(name, key, refuse_lookalike=False)
        assert result.bound_key is not None
        return result.bound_key

    async def _bind(self, name: str, key: bytes, refuse_lookalike: bool) -> BindResult:
        skeleton = username_skeleton(name)

        def write(connection: sqlite3.Connection) -> BindResult:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                row = connection.execute(
                    "SELECT key FROM bindings WHERE name = ?", (name,)
                ).fetchone()
                if row is not None:
                    return BindResult(bytes(row[0]))
                if refuse_lookalike:
                    other = _lookalike(connection, name, skeleton)
                    if other is not None:
                        return BindResult(None, other)
                connection.execute(
                    "INSERT INTO bindings (name, key, skeleton, bound_at) "
                    "VALUES (?, ?, ?, CAST(strftime('%s', 'now') AS INTEGER))",
                    (name, key, skeleton),
                )
                return BindResult(key)

        result = await self._run(f"record {name}'s key", write)
        if result.bound_key is not None:
            self.mirror.remember(name, result.bound_key)
        return result

    async def known(self, name: str) -> bool:
        """From the mirror, without I/O: it holds every name of the file, and more only after an
        operator's ``release`` this registry has not read yet (then ``offline`` is answered
        rather than ``unknown_user``, as before the stores were ports)."""
        return self.mirror.cached_known(name)

    async def release(self, name: str) -> bool:
        deleted = await self._run(f"release {name}", lambda c: _in_transaction(c, name))
        self.mirror.forget(name, known=False)
        return deleted

    def shut(self) -> None:
        """Close the file now (after the writes under way); each later call is unavailable."""
        self._writer.shutdown(wait=True)
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.shut()


def _in_transaction(connection: sqlite3.Connection, name: str) -> bool:
    with connection:
        return _delete(connection, name)


def _lookalike(connection: sqlite3.Connection, name: str, skeleton: str) -> str | None:
    row = connection.execute(
        "SELECT name FROM bindings WHERE skeleton = ? AND name != ? ORDER BY rowid LIMIT 1",
        (skeleton, name),
    ).fetchone()
    return None if row is None else str(row[0])
