"""Partial files: received pieces written at their offsets, checked, then moved into place.

A partial file is ``.chinwag-<transfer id>.part`` in the target folder: hidden, named by
nothing a sender controls, opened without following links (a link planted under that name is
refused, never written through) and made 0600 (half a file is nobody else's business).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from chinwag.adapters.files import UnsafePath, open_private, sync_folder
from chinwag.adapters.local_files.disk import (
    CLOEXEC,
    NOFOLLOW,
    hash_whole,
    pread_all,
    pwrite_all,
)
from chinwag.adapters.local_files.open_parts import OpenParts
from chinwag.application.errors import ChatError, DiskFull, FileProblem
from chinwag.domain.filename import numbered, safe_filename
from chinwag.domain.transfer import SHA256_SIZE

MAX_COPIES = 1000
"""``name (2)`` ... ``name (1000)``: past that, the folder is not one to fill further."""

_NO_ROOM = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if code is not None
)
"""Disk full, quota reached, file size limit (``RLIMIT_FSIZE``, FAT's 4 GiB): all "no room"."""
_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV}
)
"""What ``link`` says on file systems without hard links (FAT, some network shares)."""


def part_name(transfer: UUID) -> str:
    """The partial file's name: hidden, and nothing of it comes from the sender."""
    return f".chinwag-{transfer}.part"


def part_path(directory: str, transfer: UUID) -> Path:
    return Path(directory).absolute() / part_name(transfer)


def open_part(path: Path) -> int:
    """Open (made on first use, 0600) the partial file at ``path``, never through a link."""
    path.parent.mkdir(parents=True, exist_ok=True)  # the user's folder: the user's umask
    return open_private(path, os.O_RDWR | os.O_CREAT)


def write_piece(parts: OpenParts, directory: str, transfer: UUID, offset: int, data: bytes) -> None:
    """``data`` at ``offset`` of the partial file; zeros past its end leave a hole instead."""
    if offset < 0:
        raise FileProblem(f"cannot write at offset {offset}")
    path = part_path(directory, transfer)
    try:
        with parts.use(path) as fd:
            # First and last bytes first: a piece of data is told apart at once; only a piece
            # that may be all zeros is scanned (a full scan of each piece cost 0.3 s a GiB).
            zeros = not data or (data[0] == 0 == data[-1] and data.count(0) == len(data))
            if zeros and offset >= os.fstat(fd).st_size:
                return  # finish() extends the file: the hole reads as these zeros
            pwrite_all(fd, data, offset)
    except OSError as exc:
        raise write_error(exc, directory, path, len(data)) from None


def check_pieces(
    path: Path, hashes: bytes, piece_size: int, size: int, only: Sequence[int] | None = None
) -> list[int]:
    """The pieces of the partial file at ``path`` that match their hashes.

    Bytes past its end count as zeros: that is what ``finish`` makes of them (zero pieces past
    the end are never written), so a piece of zeros there is as good as written.
    """
    if piece_size <= 0:
        raise ValueError(f"a piece of {piece_size} bytes")
    try:
        fd = open_private(path, os.O_RDONLY)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FileProblem(f"{path} cannot be read: {exc.strerror or exc}") from None
    count = min(len(hashes) // SHA256_SIZE, -(-size // piece_size))
    found: list[int] = []
    try:
        for index in range(count) if only is None else sorted(i for i in only if 0 <= i < count):
            offset = index * piece_size
            length = min(piece_size, size - offset)
            data = pread_all(fd, length, offset)
            data += bytes(length - len(data))
            expected = hashes[index * SHA256_SIZE : (index + 1) * SHA256_SIZE]
            if hashlib.sha256(data).digest() == expected:
                found.append(index)
    except OSError as exc:
        raise FileProblem(f"{path} cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return found


def finish(
    parts: OpenParts,
    directory: str,
    transfer: UUID,
    name: str,
    size: int,
    sha256: bytes,
    checked: bool = False,
) -> str | None:
    """Extend or cut the partial file to ``size``, sync it, check its SHA-256 (unless the
    caller ``checked`` what it wrote), and if it matches, move it into place as (a cleaned)
    ``name``; None, the file kept, if not."""
    path = part_path(directory, transfer)
    parts.close(path)
    try:
        try:  # an empty file never had a piece written, so nothing made its partial file
            fd = open_private(path, os.O_RDWR | (os.O_CREAT if size == 0 else 0))
        except FileNotFoundError:
            return None
        try:
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)
            os.fsync(fd)
            matches = checked or hash_whole(fd) == sha256
        finally:
            os.close(fd)
        if not matches:
            return None
        return place(path, Path(directory).absolute(), safe_filename(name))
    except OSError as exc:
        raise write_error(exc, directory, path, size) from None


def discard(parts: OpenParts, directory: str, transfer: UUID) -> None:
    path = part_path(directory, transfer)
    parts.close(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise FileProblem(f"cannot delete {path}: {exc.strerror or exc}") from None


def place(part: Path, folder: Path, name: str) -> str:
    """Give the checked partial file its name in ``folder``, atomically, over nothing.

    ``link`` refuses a name that exists (a dangling link too), so a file of the user's is never
    replaced, and the file appears whole or not at all. Without hard links (FAT, some shares),
    the name is claimed with ``O_EXCL`` and the partial file renamed over that empty claim.
    The file keeps the partial file's mode, 0600: what a contact sent is private until the
    user shares it.
    """
    for n in range(1, MAX_COPIES + 1):
        final = folder / (name if n == 1 else numbered(name, n))
        try:
            _link(part, final)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            return _place_by_rename(part, folder, name, n)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
        sync_folder(folder)
        return str(final)
    raise FileProblem(f"{folder} has {MAX_COPIES} files named like {name}: none was replaced")


def _place_by_rename(part: Path, folder: Path, name: str, first: int) -> str:
    for n in range(first, MAX_COPIES + 1):
        final = folder / (name if n == 1 else numbered(name, n))
        try:
            claim = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, 0o600)
        except FileExistsError:
            continue
        os.close(claim)
        os.replace(part, final)
        sync_folder(folder)
        return str(final)
    raise FileProblem(f"{folder} has {MAX_COPIES} files named like {name}: none was replaced")


def _link(source: Path, target: Path) -> None:
    """A hard link to ``source`` itself (were it swapped for a symbolic link: to the link)."""
    try:
        os.link(source, target, follow_symlinks=False)
    except NotImplementedError:  # platforms without linkat()
        os.link(source, target)


def write_error(exc: OSError, directory: str, path: Path, size: int) -> ChatError:
    """``DiskFull`` when there is no room (the transfer waits), else ``FileProblem``."""
    if exc.errno in _NO_ROOM:
        return DiskFull(
            f"no room in {directory} for {size} more bytes: the transfer waits until there is"
        )
    if isinstance(exc, UnsafePath):
        return FileProblem(f"cannot write the partial file: {exc}")
    if isinstance(exc, PermissionError):
        return FileProblem(f"cannot write in {directory}: permission denied")
    if isinstance(exc, NotADirectoryError | FileExistsError) and not path.parent.is_dir():
        return FileProblem(f"{directory} is not a folder")
    return FileProblem(f"cannot write {path}: {exc.strerror or exc}")


def has_room(directory: str, size: int) -> bool:
    """Free space where ``directory`` is (or, if it is not made yet, will be)."""
    probe = Path(directory).absolute()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free >= size
    except OSError as exc:
        raise FileProblem(f"cannot tell the free space in {directory}: {exc.strerror}") from None
