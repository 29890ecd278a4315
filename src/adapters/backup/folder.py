"""Back a user's folder up into one encrypted file, and bring it back, all or nothing.

Backup works while a client runs as that user: the history is copied with SQLite's online
backup API (a consistent snapshot; in WAL mode readers never block the running writer) into a
temporary database, never copied as a file (a copy taken mid-write, or without its ``-wal``,
is a damaged or stale history). The user folder's lock is not taken, so a running client is
not refused, and nothing in the user folder is written. The temporary database (plaintext, as
the history itself is) lives in a private folder beside the user's folder, on the same disk as
what it copies, and is removed afterwards. The backup file is written under a temporary name
in its own folder, synced, then renamed: a crash leaves the old file or the new, never half.

Restore decrypts and checks everything into a private temporary folder in the data folder
(every chunk authenticated, the key file decoded, the history passing SQLite's quick check and
not newer than this chinwag's schema) and only then moves that folder into place with one
rename: a wrong passphrase, a cut or altered file leaves the data folder as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from chinwag.adapters.backup.archive import (
    DEFAULT_CHUNK_SIZE,
    ArchiveReader,
    ArchiveWriter,
    BackupError,
    DamagedBackup,
    ScryptParameters,
)
from chinwag.adapters.backup.bundle import Manifest, read_entries, write_entries
from chinwag.adapters.files import (
    FILE_MODE,
    cannot_write_words,
    check_not_link,
    create_private_file,
    open_private,
    private_folder,
    read_private,
    sync_folder,
    unwritable,
    written_whole,
)
from chinwag.adapters.secure.keys import KeyFileError, LocalKeys, decode_keys
from chinwag.adapters.sqlite.schema import SCHEMA_VERSION

_MAX_SMALL_FILE: Final = 16 * 1024 * 1024
"""Every file but the history is small (keys, pins, preferences, the input history)."""


@dataclass(frozen=True)
class UserFiles:
    """The names in a user's folder a backup holds (the entrypoint knows them)."""

    keys: str
    """The identity key file: required, it is who the user is."""
    database: str
    """The history (SQLite): snapshotted with the online backup API; absent if never made."""
    others: tuple[str, ...] = ()
    """Small plain files copied as they are when present (pins, preferences, ...)."""
    kept: tuple[str, ...] = ()
    """Other names chinwag keeps in a user's folder that a backup does not hold (the lock)."""

    @property
    def all(self) -> frozenset[str]:
        return frozenset((self.keys, self.database, *self.others))

    @property
    def ours(self) -> frozenset[str]:
        """Every name chinwag writes in a user's folder: SQLite's side files too."""
        side = (f"{self.database}-wal", f"{self.database}-shm", f"{self.database}-journal")
        return self.all | frozenset((*self.kept, *side))


def backup_folder(
    folder: Path,
    user: str,
    output: Path,
    passphrase: str,
    files: UserFiles,
    *,
    scrypt: ScryptParameters | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Manifest:
    """Write ``folder`` (``user``'s) into the backup file ``output``, atomically; the manifest.

    :class:`BackupError` if there is no identity to back up, or its key is damaged (a backup
    of it could never be restored), or ``output`` cannot be written (said of ``output``, never
    of a temporary file); OSError or ``sqlite3.Error`` if a file cannot be read (nothing is
    left behind then).
    """
    check_output(output)
    keys = folder / files.keys
    try:
        decode_keys(read_private(keys), keys)  # as the client loads it at sign-in
    except FileNotFoundError:
        raise BackupError(f"there is no identity for {user} in {folder.parent}") from None
    except KeyFileError as exc:
        raise BackupError(
            f"{user}'s identity key {keys} is damaged ({key_fault(exc)}), so a backup of it "
            "could never be restored; nothing was written"
        ) from None
    work = Path(tempfile.mkdtemp(prefix=".backup-", dir=folder.parent))  # 0700
    try:
        entries = [(files.keys, keys)]
        database = folder / files.database
        check_not_link(database)
        if database.exists():
            snapshot = work / files.database
            snapshot_database(database, snapshot)
            entries.append((files.database, snapshot))
        for name in files.others:
            path = folder / name
            check_not_link(path)
            if path.exists():
                entries.append((name, path))

        def write(out: BinaryIO) -> Manifest:
            writer = ArchiveWriter(out, passphrase, scrypt=scrypt, chunk_size=chunk_size)
            manifest = write_entries(writer, user, entries)
            writer.close()
            return manifest

        return write_atomically(output, write)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def snapshot_database(source: Path, target: Path) -> None:
    """A consistent copy of the live SQLite database ``source`` at ``target`` (a new private
    file), through the online backup API; a single self-contained file (rollback journal)."""
    create_private_file(target)
    with contextlib.closing(sqlite3.connect(source, timeout=30)) as live:
        live.execute("PRAGMA query_only = ON")
        with contextlib.closing(sqlite3.connect(target)) as copy:
            live.backup(copy)  # all pages in one step: one read transaction, one snapshot
            copy.execute("PRAGMA journal_mode = DELETE")
            (check,) = copy.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise BackupError(f"the history {source} is damaged: {check}")


def key_fault(exc: OSError) -> str:
    """What is wrong with a key file, in a few words: the part of
    :func:`~chinwag.adapters.secure.keys.decode_keys`'s sentence between its brackets (the
    rest of it tells a signed-in user what to do, which makes no sense here)."""
    found = re.search(r"is damaged \((.*)\); ", str(exc))
    return found.group(1) if found else "it cannot be read as a key"


def check_output(output: Path) -> None:
    """Refuse, in words, an ``output`` that is a folder or whose folder is missing, before any
    work is done (:func:`write_atomically` says so too if it changes meanwhile)."""
    if (exc := unwritable(output)) is not None:
        raise cannot_write(output, exc)


def cannot_write(output: Path, exc: OSError) -> BackupError:
    """Why ``output`` cannot be written, said of ``output`` itself (not of the temporary file
    the system named) in plain words."""
    return BackupError(cannot_write_words(output, exc, "backup file"))


def write_atomically(output: Path, write: Callable[[BinaryIO], Manifest]) -> Manifest:
    """Call ``write`` with a new private file beside ``output``, sync it, rename it over
    ``output``; on any failure the temporary file is removed and ``output`` is untouched.

    A failure to write the file itself is a :class:`BackupError` naming ``output``; one to read
    what ``write`` copies stays an OSError naming that file."""
    check_not_link(output)
    with written_whole(output, lambda exc: cannot_write(output, exc)) as out:
        manifest = write(out)
    return manifest


@dataclass(frozen=True)
class Restored:
    """What a checked backup holds, decrypted into :attr:`folder` (a temporary folder)."""

    manifest: Manifest
    keys: LocalKeys
    folder: Path


def unpack(backup: Path, passphrase: str, data_dir: Path, files: UserFiles) -> Restored:
    """Decrypt and check ``backup`` into a new private folder inside ``data_dir``.

    Raises :class:`WrongPassphrase` / :class:`DamagedBackup` (nothing is left behind); on
    success the caller moves :attr:`Restored.folder` into place (:func:`move_into_place`) or
    removes it.
    """
    data_dir = data_dir.absolute()  # the history is opened by URI, which must be absolute
    private_folder(data_dir)
    work = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))  # 0700
    try:
        fd = open_private(backup, os.O_RDONLY)
        with os.fdopen(fd, "rb") as source:
            reader = ArchiveReader(source, passphrase)
            limits = {name: _MAX_SMALL_FILE for name in files.all if name != files.database}
            manifest = read_entries(reader.chunks(), work, files.all, limits=limits)
        keys = _check(work, files, backup)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Restored(manifest=manifest, keys=keys, folder=work)


def _check(work: Path, files: UserFiles, backup: Path) -> LocalKeys:
    """The restored key file decodes, the history opens and is sound and not from a newer
    chinwag; DamagedBackup otherwise (naming ``backup``, never the temporary folder)."""
    try:
        keys = decode_keys(read_private(work / files.keys), work / files.keys)
    except FileNotFoundError:
        raise DamagedBackup("the backup holds no identity key") from None
    except KeyFileError as exc:
        raise DamagedBackup(
            f"the identity key in the backup {backup} is damaged ({key_fault(exc)}), so it "
            "cannot be restored; nothing was written"
        ) from None
    except OSError as exc:
        raise DamagedBackup(
            f"the identity key in the backup {backup} cannot be read: {exc.strerror or exc}"
        ) from None
    database = work / files.database
    if database.exists():
        try:
            uri = f"{database.absolute().as_uri()}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                (check,) = db.execute("PRAGMA quick_check").fetchone()
                (version,) = db.execute("PRAGMA user_version").fetchone()
        except sqlite3.Error as exc:
            raise DamagedBackup(f"the backup's history cannot be opened: {exc}") from None
        if check != "ok":
            raise DamagedBackup(f"the backup's history is damaged: {check}")
        if version > SCHEMA_VERSION:
            raise BackupError(
                f"the backup's history was written by a newer chinwag (schema {version}, this "
                f"one knows up to {SCHEMA_VERSION}); upgrade chinwag to restore it"
            )
    for path in work.iterdir():
        os.chmod(path, FILE_MODE)
    return keys


def move_into_place(restored: Restored, target: Path, *, replace: bool) -> None:
    """Rename the checked folder to ``target``. An existing ``target`` is refused
    (FileExistsError) unless ``replace``: then it is moved aside first and removed after the
    new folder is in place (the caller holds its lock, so no client runs on it)."""
    aside: Path | None = None
    if os.path.lexists(target):
        if not replace:
            raise FileExistsError(target)
        aside = target.with_name(f".{target.name}.replaced-{secrets.token_hex(4)}")
        os.rename(target, aside)
    try:
        os.rename(restored.folder, target)
    except BaseException:
        if aside is not None:
            os.rename(aside, target)
        raise
    sync_folder(target.parent)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
