"""Backing a user up and bringing one back, as ``chinwag-cli backup|restore`` and the desktop
app's menu both do it: one implementation, so the two cannot drift apart.

The callers know where things are (the data folder, a user's folder, the names of the files
in it, how a user's folder is locked); this module knows the order things happen in and what
is refused. Every refusal is a :class:`~chinwag.adapters.backup.archive.BackupError` whose text
is one sentence a person can act on; restore writes nothing when it refuses or fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chinwag.adapters.backup.archive import BackupError, DamagedBackup, ScryptParameters
from chinwag.adapters.backup.bundle import Manifest
from chinwag.adapters.backup.folder import UserFiles, backup_folder, move_into_place, unpack
from chinwag.adapters.own_files import refuse_our_files
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.identity import fingerprint
from chinwag.domain.user import normalize_username


class Closable(Protocol):
    def close(self) -> None: ...


LockFolder = Callable[[Path, str], Closable]
"""Lock a user's folder as a running client does (refused while one runs as that user)."""
UserFolder = Callable[[str], Path]
"""Where a user's folder is in the data folder."""


class IdentityExists(BackupError):
    """Restoring would replace a user who is already in the data folder; the caller may ask
    the person and restore again with ``replace``."""

    def __init__(self, user: str, data_dir: Path) -> None:
        self.user = user
        super().__init__(
            f"{user} already has an identity in {data_dir}; restoring would replace it "
            "(and its history)"
        )


@dataclass(frozen=True)
class BackedUp:
    """A backup written: what it holds, where, and how big it is (bytes)."""

    manifest: Manifest
    path: Path
    size: int


@dataclass(frozen=True)
class RestoredUser:
    """A user brought back: their name, their key's fingerprint and their folder now."""

    user: str
    fingerprint: str
    folder: Path


def back_up_user(
    folder: Path,
    user: str,
    output: Path,
    passphrase: str,
    files: UserFiles,
    *,
    scrypt: ScryptParameters | None = None,
) -> BackedUp:
    """Write ``user``'s ``folder`` into the encrypted file ``output`` while their client may
    run (the history through SQLite's online backup); the file appears whole or not at all."""
    if not passphrase:
        raise BackupError("the passphrase is empty; nothing was written")
    target = output.expanduser().absolute()
    refuse_our_files(
        target, folder.absolute(), user, files, writing="the backup", refused=BackupError
    )
    manifest = backup_folder(folder, user, target, passphrase, files, scrypt=scrypt)
    return BackedUp(manifest, target, target.stat().st_size)


def check_backup_file(backup: Path) -> Path:
    """``backup`` (its ``~`` expanded) if it is a file; said in words if it is not."""
    path = backup.expanduser()
    if path.is_dir():
        raise BackupError(f"{path} is a folder, not a backup file: give the backup file itself")
    if not path.is_file():
        raise BackupError(f"there is no file {path}")
    return path


def restore_user(
    backup: Path,
    passphrase: str,
    data_dir: Path,
    files: UserFiles,
    user_folder: UserFolder,
    lock: LockFolder,
    *,
    replace: bool = False,
) -> RestoredUser:
    """Decrypt and check ``backup`` into ``data_dir``, then move the user's folder into place.

    :class:`IdentityExists` if that user is there already and not ``replace``; the folder of a
    user being replaced is locked first (refused while their client runs). Nothing is written
    unless it succeeds (not even ``data_dir``, when it did not exist).
    """
    backup = check_backup_file(backup).absolute()
    if not passphrase:
        raise BackupError("the passphrase is empty; nothing was written")
    data_dir = data_dir.expanduser().absolute()  # a relative one works as well
    made_data_dir = not os.path.lexists(data_dir)
    try:
        restored = unpack(backup, passphrase, data_dir, files)
    except BaseException:
        if made_data_dir:  # nothing written: not even the data folder
            with contextlib.suppress(OSError):
                os.rmdir(data_dir)
        raise
    try:
        user = _user_of(restored.manifest.user)
        target = user_folder(user)
        taken = any(os.path.lexists(target / name) for name in (files.keys, files.database))
        if taken and not replace:
            raise IdentityExists(user, data_dir)
        if os.path.lexists(target):
            held = lock(target, user)  # refused while a client runs as user
            try:
                move_into_place(restored, target, replace=True)
            finally:
                held.close()
        else:
            move_into_place(restored, target, replace=False)
    except BaseException:
        shutil.rmtree(restored.folder, ignore_errors=True)
        raise
    return RestoredUser(user, fingerprint(restored.keys.identity_key), target)


def _user_of(named: str) -> str:
    """The user a backup names, if it is a valid name spelt as chinwag stores it."""
    try:
        user = normalize_username(named)
    except InvalidUsername:
        raise DamagedBackup("the backup names no valid user") from None
    if user != named:
        raise DamagedBackup("the backup names no valid user")
    return user
