"""Reading the files a user sends: hashed once for the offer, then read piece by piece."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import stat

from chinwag.adapters.local_files.disk import CLOEXEC, NONBLOCK, READ_SIZE, pread_all
from chinwag.application.errors import FileGone, FileProblem
from chinwag.application.ports.file_store import FileDigest

DEFAULT_MIME = "application/octet-stream"


def digest(path: str, piece_size: int) -> FileDigest:
    """Size, SHA-256, piece hashes and MIME type of ``path``, all in one read of it."""
    if piece_size <= 0:
        raise ValueError(f"a piece of {piece_size} bytes")
    whole, piece = hashlib.sha256(), hashlib.sha256()
    hashes = bytearray()
    size = filled = 0
    fd = open_source(path)
    try:
        while block := _read(fd, READ_SIZE, path):
            size += len(block)
            whole.update(block)
            view = memoryview(block)
            while view:
                taken = view[: piece_size - filled]
                piece.update(taken)
                filled += len(taken)
                view = view[len(taken) :]
                if filled == piece_size:
                    hashes += piece.digest()
                    piece, filled = hashlib.sha256(), 0
    finally:
        os.close(fd)
    if filled:
        hashes += piece.digest()
    mime = mimetypes.guess_type(os.path.basename(path))[0] or DEFAULT_MIME
    return FileDigest(size=size, sha256=whole.digest(), hashes=bytes(hashes), mime=mime)


def read_piece(path: str, offset: int, length: int) -> bytes:
    """``length`` bytes of ``path`` from ``offset``; FileProblem if the file has fewer now."""
    if offset < 0 or length < 0:
        raise FileProblem(f"cannot read {length} bytes at offset {offset}")
    fd = open_source(path)
    try:
        data = pread_all(fd, length, offset)
    except OSError as exc:
        raise read_error(exc, path) from None
    finally:
        os.close(fd)
    if len(data) < length:
        raise FileGone(
            f"{path} ends before byte {offset + length}: it changed since it was offered"
        )
    return data


def open_source(path: str) -> int:
    """A descriptor to read the regular file ``path`` (a file the user chose: links followed).

    Opened non-blocking so that a FIFO answers at once (and is refused) instead of hanging.
    """
    try:
        fd = os.open(path, os.O_RDONLY | CLOEXEC | NONBLOCK)
    except OSError as exc:
        raise read_error(exc, path) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise FileGone(f"{path} is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise FileGone(f"{path} is not a regular file")
        if NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_error(exc: OSError, path: str) -> FileProblem:
    """The user's words for why ``path`` cannot be read."""
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return FileGone(f"{path} does not exist")
    if isinstance(exc, IsADirectoryError):
        return FileGone(f"{path} is a folder, not a file")
    if isinstance(exc, PermissionError):
        return FileProblem(f"{path} cannot be read: permission denied")
    return FileProblem(f"{path} cannot be read: {exc.strerror or exc}")


def _read(fd: int, length: int, path: str) -> bytes:
    try:
        return os.read(fd, length)
    except OSError as exc:
        raise read_error(exc, path) from None
