"""``chinwag-cli export`` and ``chinwag-cli import``: a user's history out to a file (JSON lines,
text or one HTML page) and a JSON-lines export back in, merged by message id.

Export reads the history file through a read-only connection of its own, so it works while
that user's client runs; the file it writes is private (0600) and appears whole or not at all
(written beside it, then renamed), never over one of chinwag's own files. Import writes the
history, so it takes the user's folder lock like a client: it is refused while that user's
client runs, and where that user has no identity yet (it would make a user nobody signed in
as). It checks group messages against the groups' logs stored in the history
(:mod:`chinwag.application.history_import`).

Exit codes: 0 done, 1 the history or a file could not be read or written (said on stderr),
2 a bad flag.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final, NoReturn, TextIO
from uuid import UUID

from chinwag.adapters.console.group_names import pick_group
from chinwag.adapters.export.jsonl import BadLine, parse_line
from chinwag.adapters.export.to_file import (
    FORMATS,
    ExportError,
    check_target,
    format_of,
    history_writer,
    private_output,
)
from chinwag.adapters.files import read_private
from chinwag.adapters.secure.keys import LocalKeys, decode_keys
from chinwag.adapters.secure.signatures import IdentitySignatures
from chinwag.adapters.sqlite.conversations import SqliteConversationRepository
from chinwag.adapters.sqlite.database import Database, StorageError
from chinwag.adapters.sqlite.export_rows import SqliteHistorySource
from chinwag.adapters.sqlite.groups import SqliteGroupRepository
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.application.history_export import ExportScope, HistorySource, export_history
from chinwag.application.history_import import (
    ForeignMessage,
    ImportedMessage,
    ImportHistory,
    NotGenuine,
)
from chinwag.domain.errors import InvalidUsername, UnknownGroup
from chinwag.domain.user import normalize_username
from chinwag.entrypoints.cli_backup import USER_FILES
from chinwag.entrypoints.common import StartupError, flag_error
from chinwag.entrypoints.settings import (
    HISTORY_FILE,
    KEYS_FILE,
    ClientSettings,
    default_data_dir,
    lock_user_folder,
)

BATCH: Final = 500
"""Messages imported per transaction (the repository's largest single statement batch)."""
_PROGRESS_EVERY: Final = 0.2
"""Seconds between two progress lines."""
_BAR: Final = 24
"""Cells of the progress bar."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise StartupError(flag_error(message, self.prog), code="bad_flag")


def _parser(command: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"chinwag-cli {command}")
    parser.add_argument("--user", help="whose history (env CHINWAG_USER)")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        help=f"the data folder (env CHINWAG_DATA_DIR, default: {default_data_dir()})",
    )
    if command == "export":
        parser.description = "Write your history, or one conversation of it, to a file."
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--with", dest="peer", metavar="PEER", help="only the chat with PEER")
        which.add_argument(
            "--group",
            metavar="GROUP",
            help="only the group GROUP: its id, its name, or the start of its id (as /groups "
            "shows it)",
        )
        parser.add_argument(
            "--format",
            choices=FORMATS,
            help="jsonl (for tools, and import), txt or html (default: from OUT's ending, "
            "else jsonl)",
        )
        parser.add_argument(
            "--since",
            metavar="DATE",
            help="only messages sent from DATE on: 2024-05-17 or 2024-05-17T12:30 (UTC unless "
            "it says otherwise)",
        )
        parser.add_argument("out", metavar="OUT", help="the file to write; - for stdout")
    else:
        parser.description = "Merge a JSON-lines export into your history (by message id)."
        parser.add_argument("file", metavar="FILE", help="the export to read; - for stdin")
    return parser


def parse_since(text: str) -> datetime:
    """A date or date and time in ISO 8601, as an aware time (UTC when no zone is given)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise StartupError(
            f"--since: {text!r} is no date (write 2024-05-17 or 2024-05-17T12:30)",
            code="bad_flag",
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _user_folder(args: argparse.Namespace) -> tuple[str, Path]:
    raw = args.user or os.environ.get("CHINWAG_USER") or None
    if raw is None:
        raise StartupError("--user NAME is required (or set CHINWAG_USER)", code="bad_flag")
    try:
        user = normalize_username(raw)
    except InvalidUsername as exc:
        raise StartupError(str(exc), code=exc.code) from None
    data_dir = args.data_dir or os.environ.get("CHINWAG_DATA_DIR") or None
    settings = ClientSettings(
        user=user,
        registry=("localhost", 0),  # unused: only the folder is wanted
        data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
        listen=None,
        log_level="WARNING",
    )
    return user, settings.user_dir(user)


def _count(number: int, noun: str) -> str:
    """``1 message``, ``2 messages``, ``29,500 messages``."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


@dataclass(frozen=True)
class _Group:
    """A group of the history, as :func:`pick_group` finds one."""

    id: UUID
    name: str


def _find_group(source: HistorySource, named: str) -> str:
    """The id of the group of the history that ``named`` means, as the terminal's ``/g`` finds
    it (its id, else its name, else the start of its id); refused as a bad flag otherwise."""
    with contextlib.suppress(ValueError):
        return str(UUID(named.strip()))  # an id: said below if the history has none of it
    groups = [
        _Group(UUID(heading.group_id), heading.group_name or "(no name known)")
        for heading in source.conversations(ExportScope())
        if heading.group_id is not None
    ]
    try:
        return str(pick_group(named, groups).id)
    except UnknownGroup as exc:  # a bad flag (exit 2), said with the groups there are
        raise StartupError(f"--group: {exc}", code="unknown_group") from None


class Progress:
    """``[##----------------------]   8% exported 80,000 of 1,000,000 messages`` redrawn on one
    terminal line, at most every :data:`_PROGRESS_EVERY` seconds (a count alone when the total
    is unknown); nothing at all when ``out`` is not a terminal."""

    def __init__(self, out: TextIO, verb: str, total: int | None, unit: str = "messages") -> None:
        self._out = out
        self._verb = verb
        self._total = total
        self._unit = unit
        self._shown = False
        self._next = 0.0
        self.enabled = out.isatty()

    def __call__(self, done: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next and not force:
            return
        self._next = now + _PROGRESS_EVERY
        if self._total:
            part = min(done, self._total) / self._total
            filled = int(part * _BAR)
            bar = "#" * filled + "-" * (_BAR - filled)
            text = f"[{bar}] {int(part * 100):3d}% {self._verb} {done:,} of {self._total:,}"
            text += f" {self._unit}"
        else:
            text = f"{self._verb} {done:,} {self._unit}"
        self._out.write(f"\r{text}\x1b[K")
        self._out.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            self._out.write("\r\x1b[K")
            self._out.flush()


@contextlib.contextmanager
def _output(out: str) -> Iterator[TextIO]:
    """The text stream to write the export to: stdout for ``-``; otherwise a private file
    beside ``out``, renamed to it when the export is complete (removed if it is not)."""
    if out == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with private_output(Path(out)) as stream:
        yield stream


def export(args: argparse.Namespace, stderr: TextIO) -> int:
    user, folder = _user_folder(args)
    try:
        peer = None if args.peer is None else normalize_username(args.peer)
    except InvalidUsername as exc:
        raise StartupError(f"--with: {exc}", code="bad_flag") from None
    since = None if args.since is None else parse_since(args.since)
    kind = args.format or format_of(args.out)
    if args.out != "-":
        check_target(Path(args.out), user, folder, USER_FILES)  # before anything is read
    with SqliteHistorySource(folder / HISTORY_FILE, user) as source:
        group = None if args.group is None else _find_group(source, args.group)
        scope = ExportScope(peer=peer, group=group, since=since)
        if (peer or group) and source.count(ExportScope(peer=peer, group=group)) == 0:
            what = f"a conversation with {peer}" if peer else f"the group {group}"
            print(f"chinwag-cli export: {user}'s history has no messages in {what}", file=stderr)
            return 1
        progress = Progress(stderr, "exported", source.count(scope))
        with _output(args.out) as out:
            written = export_history(source, history_writer(kind, out, user), scope, progress)
        progress.done()
    where = "stdout" if args.out == "-" else args.out
    print(f"exported {_count(written, 'message')} to {where} ({kind})", file=stderr)
    return 0


def _lines(stream: IO[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield number, line


async def _import(
    history: ImportHistory, stream: IO[str], name: str, progress: Callable[[int], None]
) -> None:
    batch: list[ImportedMessage] = []
    for number, line in _lines(stream):
        try:
            imported = await history.check(parse_line(line))
        except (BadLine, ForeignMessage, NotGenuine) as exc:
            if batch:
                await history.add(batch)
            await history.finish()
            raise BadLine(f"{name}, line {number}: {exc}") from None
        batch.append(imported)
        if len(batch) >= BATCH:
            await history.add(batch)
            batch = []
            progress(history.read)
    await history.add(batch)
    await history.finish()


def _identity(user: str, folder: Path) -> LocalKeys:
    """``user``'s keys, read as the client reads them at sign-in; refused in one line when
    there are none (an import would make a user who never signed in here)."""
    path = folder / KEYS_FILE
    try:
        data = read_private(path)
    except FileNotFoundError:
        raise StartupError(
            f"no user {user} in {folder.parent}: sign in once, or restore a backup, before "
            "importing",
            exit_code=1,
            code="no_user",
        ) from None
    return decode_keys(data, path)


def import_(args: argparse.Namespace, stderr: TextIO) -> int:
    user, folder = _user_folder(args)
    keys = _identity(user, folder)  # before anything is made: no folder for nobody
    name = "stdin" if args.file == "-" else args.file
    try:
        stream: IO[str] = (
            io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
            if args.file == "-"
            else open(args.file, encoding="utf-8")  # noqa: SIM115 (closed below)
        )
    except OSError as exc:
        print(f"chinwag-cli import: cannot read {name}: {exc.strerror or exc}", file=stderr)
        return 1
    lock = lock_user_folder(folder, user)
    try:
        with stream, Database(folder / HISTORY_FILE) as db:
            history = ImportHistory(
                SqliteMessageRepository(db),
                SqliteConversationRepository(db),
                user,
                groups=SqliteGroupRepository(db),
                signatures=IdentitySignatures(keys),
            )
            progress = Progress(stderr, "read", None)
            try:
                asyncio.run(_import(history, stream, name, progress))
            except (BadLine, UnicodeDecodeError) as exc:
                progress.done()
                print(f"chinwag-cli import: {exc}", file=stderr)
                print(
                    f"chinwag-cli import: {_count(history.added, 'new message')} "
                    f"{'was' if history.added == 1 else 'were'} imported before it; importing "
                    "again after fixing it adds only the rest",
                    file=stderr,
                )
                return 1
            progress.done()
    finally:
        lock.close()
    print(
        f"imported {_count(history.added, 'new message')} of {history.read:,} read from {name}",
        file=stderr,
    )
    return 0


def main(command: str, argv: Sequence[str], stderr: TextIO | None = None) -> int:
    """Run ``chinwag-cli export|import`` with ``argv`` (the words after the command)."""
    err = sys.stderr if stderr is None else stderr
    if command not in ("export", "import"):
        raise ValueError(f"no command {command!r}: export or import")
    parser = _parser(command)
    try:
        args = parser.parse_args(list(argv))
        return export(args, err) if command == "export" else import_(args, err)
    except StartupError as exc:
        if exc.code == "bad_flag":
            parser.print_usage(err)
        print(f"chinwag-cli {command}: {exc}", file=err)
        return exc.exit_code
    except (StorageError, ExportError, OSError) as exc:
        print(f"chinwag-cli {command}: {exc}", file=err)
        return 1
