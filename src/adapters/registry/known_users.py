"""Every username that ever registered, so that "offline" can be told from "no such user"."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from chinwag.adapters.sqlite.database import StorageError

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, first_seen INTEGER NOT NULL)"


class KnownUsers:
    """Names in memory, backed by the registry's own SQLite file (or by nothing: ``path=None``).

    Writes happen once per name, the first time it registers: small enough to do inline on the
    registry's loop (one short transaction), durable before the registration is answered.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._names: set[str] = set()
        self._unsaved: set[str] = set()
        self._connection: sqlite3.Connection | None = None
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A short busy timeout: this runs on the registry's loop, which must not stall.
            connection = sqlite3.connect(path, isolation_level=None, timeout=0.05)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute(_SCHEMA)
            self._names = {name for (name,) in connection.execute("SELECT name FROM users")}
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the registry's user list {path}: {exc}") from exc
        self._connection = connection

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __len__(self) -> int:
        return len(self._names)

    def remember(self, name: str) -> None:
        if name in self._names and name not in self._unsaved:
            return
        if self._connection is not None:
            try:
                self._connection.execute(
                    "INSERT OR IGNORE INTO users (name, first_seen) "
                    "VALUES (?, CAST(strftime('%s', 'now') AS INTEGER))",
                    (name,),
                )
            except sqlite3.Error as exc:
                # Keep serving: the name is known for this run, and is written when it next
                # registers; losing it after a restart only makes "offline" read "unknown".
                log.warning("could not record the user %s: %s", name, exc)
                self._names.add(name)
                self._unsaved.add(name)
                return
        self._names.add(name)
        self._unsaved.discard(name)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
