"""Low-level disk work shared by the sources and the partial files: positioned reads and
writes (several threads write one file at once, each at its own offset), whole-file hashing,
folder syncs."""

from __future__ import annotations

import hashlib
import os
import sys
import threading

READ_SIZE = 1024 * 1024
"""Bytes per read when hashing a whole file: few system calls, little memory."""

CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)
NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)


def pread_all(fd: int, length: int, offset: int) -> bytes:
    """Up to ``length`` bytes from ``offset`` (fewer only at the end of the file)."""
    chunks: list[bytes] = []
    while length > 0:
        chunk = _pread(fd, length, offset)
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """All of ``data`` at ``offset``; a write that stops short (a full disk, a file size
    limit) is continued, so the system's error for the rest is what is raised."""
    view = memoryview(data)
    while view:
        written = _pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def hash_whole(fd: int) -> bytes:
    """SHA-256 of the whole file behind ``fd``, read from its start."""
    whole = hashlib.sha256()
    offset = 0
    while block := _pread(fd, READ_SIZE, offset):
        whole.update(block)
        offset += len(block)
    return whole.digest()


if sys.platform == "win32":  # no pread/pwrite: seek, then read or write, under one lock
    _SEEK_LOCK = threading.Lock()

    def _pread(fd: int, length: int, offset: int) -> bytes:
        with _SEEK_LOCK:
            os.lseek(fd, offset, os.SEEK_SET)
            return os.read(fd, length)

    def _pwrite(fd: int, data: memoryview, offset: int) -> int:
        with _SEEK_LOCK:
            os.lseek(fd, offset, os.SEEK_SET)
            return os.write(fd, data)

else:
    _pread = os.pread
    _pwrite = os.pwrite
