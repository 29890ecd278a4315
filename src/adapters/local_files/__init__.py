"""Files on this device (the ``FileStore``): sources read for offers, downloads written safely.

Every method does its disk work in a thread (``asyncio.to_thread``): hashing a 4 GiB file or
syncing a folder must never stall the event loop that carries the chat.

Received pieces go into a partial file of the transfer's own in the target folder
(:mod:`.parts`), at their offsets with ``pwrite``, so they may arrive in any order and from
several threads. When all are in, ``finish`` checks the whole file's SHA-256 and only then gives
it its (cleaned) name, atomically and never over an existing file: ``os.link`` fails if the
name is taken, and ``photo (2).jpg`` is tried next.

Zeros cost nothing: a piece of only zero bytes past the end of the partial file is not written
(the file gets a hole there), ``check_pieces`` reads past the end as zeros, and ``finish``
extends the file to its size before hashing. So a 1 GiB file of zeros stays sparse.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

import platformdirs

from chinwag.adapters.local_files import parts, sources
from chinwag.adapters.local_files.open_parts import OpenParts
from chinwag.adapters.local_files.parts import part_name
from chinwag.application.ports.file_store import FileDigest

__all__ = ["OPEN_PARTS", "LocalFiles", "part_name"]

OPEN_PARTS = 8
"""Partial files kept open between pieces (the most recently written)."""


class LocalFiles:
    """The ``FileStore`` on the local disk. One per process; :meth:`close` at shutdown.
    ``downloads``: the folder accepted files go to (``--downloads``); None: the platform's."""

    def __init__(self, downloads: str | None = None) -> None:
        self._parts = OpenParts(OPEN_PARTS, parts.open_part)
        self._downloads = downloads

    def default_directory(self) -> str:
        if self._downloads:
            return self._downloads
        try:
            found = platformdirs.user_downloads_dir()
        except Exception:  # a platform without one: the conventional folder
            found = ""
        return found or str(Path.home() / "Downloads")

    async def digest(self, path: str, piece_size: int) -> FileDigest:
        return await asyncio.to_thread(sources.digest, path, piece_size)

    async def read_piece(self, path: str, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(sources.read_piece, path, offset, length)

    async def write_piece(self, directory: str, transfer: UUID, offset: int, data: bytes) -> None:
        await asyncio.to_thread(parts.write_piece, self._parts, directory, transfer, offset, data)

    async def check_pieces(
        self,
        directory: str,
        transfer: UUID,
        hashes: bytes,
        piece_size: int,
        size: int,
        only: Sequence[int] | None = None,
    ) -> list[int]:
        path = parts.part_path(directory, transfer)
        return await asyncio.to_thread(parts.check_pieces, path, hashes, piece_size, size, only)

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
        return await asyncio.to_thread(
            parts.finish, self._parts, directory, transfer, name, size, sha256, checked
        )

    async def discard(self, directory: str, transfer: UUID) -> None:
        await asyncio.to_thread(parts.discard, self._parts, directory, transfer)

    async def has_room(self, directory: str, size: int) -> bool:
        return await asyncio.to_thread(parts.has_room, directory, size)

    def close(self) -> None:
        """Close the partial files kept open (a later write opens them again)."""
        self._parts.close_all()
