"""The SQLite file behind the history: schema, migrations, and group commit on a writer thread.

One connection per thread, never shared: a dedicated writer thread owns the connection that writes,
and a single-worker executor owns the one that reads. Writes queued while the writer is busy are
committed together in one transaction (group commit), each job inside its own savepoint.

The file and its folder are made private (0600/0700) before SQLite opens them, and a symbolic link
in place of the file or of one SQLite keeps beside it is refused. If the writer thread dies, every
write waiting for it and every later one fails with :class:`StorageError` instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

from chinwag.adapters.files import check_not_link, create_private_file, private_folder
from chinwag.adapters.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, index_new_messages
from chinwag.application.errors import HistoryUnavailable

T = TypeVar("T")

log = logging.getLogger(__name__)

__all__ = ["MAX_BATCH", "SCHEMA_VERSION", "SYNCHRONOUS_MODES", "Database", "StorageError"]

SYNCHRONOUS_MODES: Final = frozenset({"FULL", "NORMAL"})
"""Accepted ``synchronous`` settings: FULL survives power loss, NORMAL only application crashes."""

MAX_BATCH: Final = 1024
"""The most jobs committed in one transaction, which bounds how long any one of them waits."""

_BUSY_TIMEOUT_MS: Final = 5000

_SIDE_FILES: Final = ("", "-wal", "-shm", "-journal")
"""The history file and the files SQLite keeps next to it: none of them may be a link."""


class StorageError(HistoryUnavailable):
    """The history file cannot be opened or written; the message names the file and the cause."""


@dataclass(frozen=True, slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_Outcome = tuple[_Job, Any, BaseException | None]


class Database:
    """An open history file, written by one thread with group commit and read by another.

    Opening blocks while the schema is created or migrated; close with :meth:`close` (or use it
    as a context manager). Jobs given to :meth:`write` and :meth:`read` run on those threads with
    their connection and must not manage transactions themselves.
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "FULL") -> None:
        if synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS_MODES)}")
        self.path = Path(path)
        self._synchronous = synchronous
        self._batches_committed = 0
        self._lock = threading.Lock()
        self._closed = False
        self._queue: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()  # None: stop
        self._outbox: list[_Job] = []  # jobs of this loop pass, handed over together
        self._stopped: BaseException | None = None  # why the writer thread died, if it did
        self._prepare_file()

        ready: ThreadFuture[None] = ThreadFuture()
        self._writer = threading.Thread(
            target=self._write_loop, args=(ready,), name="chinwag-sqlite-writer", daemon=True
        )
        self._writer.start()
        try:
            ready.result()
        except BaseException:
            self._writer.join()
            raise

        self._reader_connection: sqlite3.Connection | None = None
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chinwag-sqlite-reader")
        try:
            self._reader.submit(self._open_reader).result()
        except BaseException:
            self.close()
            raise

    @property
    def batches_committed(self) -> int:
        """How many write transactions have committed: fewer than jobs when commits are grouped."""
        return self._batches_committed

    def write(self, job: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run ``job`` on the writer thread; the future has its result once its transaction has
        committed. (A plain function returning a future: no coroutine frame on the hot path.)

        A job that raises is rolled back alone (its savepoint); a failed commit fails every job of
        the batch. SQLite errors arrive as :class:`StorageError`, anything else as raised. A
        cancelled caller does not un-commit a job that was already queued. If the writer thread
        has died, this raises :class:`StorageError` and so does every job it left unfinished.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._closed:
                raise StorageError(f"the chat history {self.path} is closed")
            if self._stopped is not None:
                raise self._writer_stopped()
            if not self._outbox:
                loop.call_soon(self._hand_over)
            self._outbox.append(_Job(job, future, loop))
        return future

    def _hand_over(self) -> None:
        """Give the writer every job queued during this loop pass at once: waking the writer
        thread once per job made the two threads fight over the GIL."""
        with self._lock:
            if self._outbox:
                self._queue.put(self._outbox)
                self._outbox = []

    async def read(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``job`` on the reader thread, in one read-only transaction (a consistent snapshot).

        SQLite errors arrive as :class:`StorageError`, anything else as raised.
        """
        loop = asyncio.get_running_loop()
        try:
            result = loop.run_in_executor(self._reader, self._run_read, job)
        except RuntimeError as exc:  # the executor was shut down
            raise StorageError(f"the chat history {self.path} is closed") from exc
        return await result

    def close(self) -> None:
        """Finish the queued writes, stop both threads and close their connections. Idempotent.

        This blocks; from a running event loop prefer ``await asyncio.to_thread(db.close)``.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._outbox:
                self._queue.put(self._outbox)
                self._outbox = []
        # The reader first, then the writer: the last connection to close merges the WAL into
        # the file, and two closing at once may each think the other is last (then the whole
        # history stays in -wal: nothing lost, but the file alone is not the history).
        self._reader.submit(self._close_reader).result()
        self._reader.shutdown(wait=True)
        self._queue.put(None)
        self._writer.join()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the file and its connections ------------------------------------------------------

    def _prepare_file(self) -> None:
        """Make the folder (0700) and the file (0600) ourselves, refusing symbolic links.

        SQLite follows links and creates files with the process's umask, so it only ever gets a
        file made here. It creates its side files (-wal, -shm, -journal) with the mode of the
        database file; a link planted under one of those names is refused too, before anything
        is written, since SQLite would write through it.
        """
        try:
            private_folder(self.path.parent)
            for suffix in _SIDE_FILES:
                check_not_link(Path(f"{self.path}{suffix}"))
            if self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK):
                raise StorageError(
                    f"cannot open the chat history {self.path}: permission denied "
                    "(chinwag needs to read and write it)"
                )
            create_private_file(self.path)
        except OSError as exc:
            reason = exc.strerror if exc.strerror else str(exc)
            raise StorageError(f"cannot open the chat history {self.path}: {reason}") from exc

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None)
        connection.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA foreign_keys = ON")
        return connection

    def _error(self, doing: str, exc: sqlite3.Error) -> StorageError:
        error = StorageError(f"cannot {doing} the chat history {self.path}: {exc}")
        error.__cause__ = exc
        return error

    def _open_writer(self) -> sqlite3.Connection:
        """Open the writing connection and bring the schema up to date, or raise StorageError."""
        try:
            connection = self._connect()
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        try:
            self._migrate(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        try:
            # Read before anything is written, so a foreign or newer file is left untouched.
            self._check_version(connection)
            (mode,) = connection.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode != "wal":
                raise StorageError(
                    f"cannot open the chat history {self.path}: WAL journaling is unavailable"
                )
            connection.execute(f"PRAGMA synchronous = {self._synchronous}")
            connection.execute("BEGIN IMMEDIATE")  # also fails at once on a read-only file
            for statements in MIGRATIONS[self._check_version(connection) :]:
                for statement in statements:
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc

    def _check_version(self, connection: sqlite3.Connection) -> int:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"cannot open the chat history {self.path}: it was written by a newer chinwag "
                f"(schema {version}, this one knows up to {SCHEMA_VERSION}); upgrade chinwag"
            )
        return int(version)

    def _open_reader(self) -> None:
        try:
            connection = self._connect()
            connection.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        self._reader_connection = connection

    def _close_reader(self) -> None:
        if self._reader_connection is not None:
            self._reader_connection.close()
            self._reader_connection = None

    def _run_read(self, job: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._reader_connection
        if connection is None:
            raise StorageError(f"the chat history {self.path} is closed")
        try:
            connection.execute("BEGIN")
            try:
                return job(connection)
            finally:
                connection.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self._error("read", exc) from exc

    # --- the writer thread -----------------------------------------------------------------

    def _write_loop(self, ready: ThreadFuture[None]) -> None:
        try:
            connection = self._open_writer()
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        batch: list[_Job] = []  # taken from the queue, not all settled yet
        try:
            stopping = False
            while not stopping:
                batch = []
                item = self._queue.get()
                while True:
                    if item is None:
                        stopping = True
                        break
                    batch.extend(item)
                    if len(batch) >= MAX_BATCH:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                for start in range(0, len(batch), MAX_BATCH):
                    self._settle(self._commit(connection, batch[start : start + MAX_BATCH]))
        except BaseException as exc:  # a bug or MemoryError: nobody may be left waiting
            self._stop_writing(exc, batch)
        finally:
            connection.close()  # rolls back a transaction the error interrupted

    def _stop_writing(self, exc: BaseException, batch: list[_Job]) -> None:
        """Fail every job the dying writer would have run: in hand, queued, or not handed over
        yet; later writes fail in :meth:`write`. Jobs of ``batch`` already settled stay so:
        their outcome reached their loop first, and :func:`_resolve` skips a done future."""
        with self._lock:
            self._stopped = exc
            jobs = [*batch, *self._outbox]
            self._outbox = []
            while True:  # every put happens under the lock: nothing arrives after this
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    jobs.extend(item)
        self._settle([(job, None, self._writer_stopped()) for job in jobs])
        log.critical("the writer of the chat history %s stopped", self.path, exc_info=exc)

    def _writer_stopped(self) -> StorageError:
        """A new error each time: one exception object raised in many tasks would collect all
        their tracebacks."""
        cause = self._stopped
        reason = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        error = StorageError(
            f"the history writer stopped: {reason}; nothing more can be saved to the chat "
            f"history {self.path} until chinwag restarts"
        )
        error.__cause__ = cause
        return error

    def _commit(self, connection: sqlite3.Connection, batch: list[_Job]) -> list[_Outcome]:
        """Run ``batch`` in one transaction.

        First every job straight through (the common case: a savepoint per job makes FTS5 flush
        its buffer each time, which halved throughput); only if a job raises is the transaction
        rolled back and the batch run again with each job in its own savepoint.
        """
        outcomes = self._transaction(connection, batch, self._run_straight)
        if outcomes is None:
            outcomes = self._transaction(connection, batch, self._run_isolated)
        assert outcomes is not None
        return outcomes

    def _transaction(
        self,
        connection: sqlite3.Connection,
        batch: list[_Job],
        run: Callable[[sqlite3.Connection, list[_Job]], list[_Outcome] | None],
    ) -> list[_Outcome] | None:
        """``run`` the batch between BEGIN and COMMIT, indexing new messages for search; None
        when ``run`` gave up (and rolled back); a failed transaction fails every job."""
        try:
            connection.execute("BEGIN IMMEDIATE")
            outcomes = run(connection, batch)
            if outcomes is None:
                return None
            index_new_messages(connection)
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            return self._fail_all(connection, batch, exc)
        self._batches_committed += 1
        return outcomes

    @staticmethod
    def _run_straight(connection: sqlite3.Connection, batch: list[_Job]) -> list[_Outcome] | None:
        """Every job, no savepoints; None (rolled back) as soon as one raises."""
        outcomes: list[_Outcome] = []
        for job in batch:
            try:
                outcomes.append((job, job.fn(connection), None))
            except BaseException:
                connection.execute("ROLLBACK")
                return None
        return outcomes

    def _run_isolated(self, connection: sqlite3.Connection, batch: list[_Job]) -> list[_Outcome]:
        """Every job in its own savepoint: one that raises is rolled back alone."""
        outcomes: list[_Outcome] = []
        for job in batch:
            connection.execute("SAVEPOINT job")
            try:
                outcomes.append((job, job.fn(connection), None))
            except BaseException as exc:
                connection.execute("ROLLBACK TO job")
                error = self._error("write", exc) if isinstance(exc, sqlite3.Error) else exc
                outcomes.append((job, None, error))
            connection.execute("RELEASE job")
        return outcomes

    def _fail_all(
        self, connection: sqlite3.Connection, batch: list[_Job], exc: sqlite3.Error
    ) -> list[_Outcome]:
        if connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
        return [(job, None, self._error("write", exc)) for job in batch]

    @staticmethod
    def _settle(outcomes: list[_Outcome]) -> None:
        """Hand each outcome to its caller's loop: one wake-up per loop, not per job."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, settled in by_loop.items():
            # A closed loop means its callers are gone: nobody is left to tell.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, settled)


def _resolve(outcomes: list[_Outcome]) -> None:
    for job, value, error in outcomes:
        if job.future.done():  # cancelled by its caller
            continue
        if error is None:
            job.future.set_result(value)
        else:
            job.future.set_exception(error)
