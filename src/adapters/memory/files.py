"""The ``FileStore`` port in memory: files as bytes under their paths, for tests and embedders.

It keeps the disk adapter's promises (a finished file never replaces another, ``name (2).ext``
instead; a partial file is separate until it matches) without a disk, and can be made "full"
(``room``) to exercise pauses.
"""

from __future__ import annotations

import hashlib
import mimetypes
import posixpath
from collections.abc import Sequence
from uuid import UUID

from chinwag.application.errors import DiskFull, FileGone, FileProblem
from chinwag.application.ports.file_store import FileDigest
from chinwag.domain.filename import numbered

MAX_COPIES = 1000


class InMemoryFileStore:
    """Files by path (``files``), partial files by (folder, transfer)."""

    def __init__(self, downloads: str = "/downloads") -> None:
        self.files: dict[str, bytes] = {}
        self.parts: dict[tuple[str, UUID], bytearray] = {}
        self.room: int | None = None
        """Bytes that may still be written (None: no limit); writes past it raise DiskFull."""
        self._downloads = downloads

    def default_directory(self) -> str:
        return self._downloads

    async def digest(self, path: str, piece_size: int) -> FileDigest:
        data = self._source(path)
        hashes = b"".join(
            hashlib.sha256(data[start : start + piece_size]).digest()
            for start in range(0, len(data), piece_size)
        )
        mime = mimetypes.guess_type(posixpath.basename(path))[0] or "application/octet-stream"
        return FileDigest(len(data), hashlib.sha256(data).digest(), hashes, mime)

    async def read_piece(self, path: str, offset: int, length: int) -> bytes:
        data = self._source(path)[offset : offset + length]
        if len(data) != length:
            raise FileGone(f"{path} is shorter than when it was offered")
        return data

    def _source(self, path: str) -> bytes:
        try:
            return self.files[path]
        except KeyError:
            raise FileGone(f"{path}: no such file") from None

    async def write_piece(self, directory: str, transfer: UUID, offset: int, data: bytes) -> None:
        part = self.parts.setdefault((directory, transfer), bytearray())
        grows = max(0, offset + len(data) - len(part))
        if self.room is not None:
            if grows > self.room:
                raise DiskFull(f"no room in {directory}: the transfer waits until there is")
            self.room -= grows
        if len(part) < offset:
            part.extend(bytes(offset - len(part)))
        part[offset : offset + len(data)] = data

    async def check_pieces(
        self,
        directory: str,
        transfer: UUID,
        hashes: bytes,
        piece_size: int,
        size: int,
        only: Sequence[int] | None = None,
    ) -> list[int]:
        part = self.parts.get((directory, transfer))
        if part is None:
            return []
        good = []
        count = len(hashes) // 32
        for index in range(count) if only is None else sorted(i for i in only if i < count):
            start = index * piece_size
            piece = bytes(part[start : min(start + piece_size, size)])
            if len(piece) == min(piece_size, size - start) and (
                hashlib.sha256(piece).digest() == hashes[index * 32 : index * 32 + 32]
            ):
                good.append(index)
        return good

    async def finish(
        self,
        directory: str,
        transfer: UUID,
        name: str,
        size: int,
        sha256: bytes,
        *,
        checked: bool = False,
    ) -> str | None:
        part = self.parts.get((directory, transfer), bytearray())
        data = bytes(part[:size]).ljust(size, b"\0")
        if not checked and hashlib.sha256(data).digest() != sha256:
            return None
        for copy in range(1, MAX_COPIES + 1):
            path = posixpath.join(directory, name if copy == 1 else numbered(name, copy))
            if path not in self.files:
                self.files[path] = data
                self.parts.pop((directory, transfer), None)
                return path
        raise FileProblem(f"{directory} has {MAX_COPIES} files named like {name}")

    async def discard(self, directory: str, transfer: UUID) -> None:
        self.parts.pop((directory, transfer), None)

    async def has_room(self, directory: str, size: int) -> bool:
        return self.room is None or self.room >= size
