from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class FileDigest:
    """What an offer needs of a file on disk, read in one pass."""

    size: int
    sha256: bytes
    hashes: bytes
    """Each piece's SHA-256, in order (32 bytes each)."""
    mime: str


class FileStore(Protocol):
    """Files on this device: the sources of files sent, and the downloads folder.

    Every method blocks on the disk in the adapter's own threads, never on the event loop.
    Errors: ``FileGone`` (a ``FileProblem``: a path that is missing, not a regular file, or
    shorter than it was: it will not come back as offered), ``FileProblem`` (it cannot be
    read or written now: no access, a device error), ``DiskFull`` (no room to write: the
    transfer pauses and tries again).
    """

    def default_directory(self) -> str:
        """The platform's downloads folder (where accepted files go unless told otherwise)."""
        ...

    async def digest(self, path: str, piece_size: int) -> FileDigest:
        """Hash the file at ``path``: whole, and per piece of ``piece_size``."""
        ...

    async def read_piece(self, path: str, offset: int, length: int) -> bytes:
        """``length`` bytes of the file at ``path`` from ``offset``; FileGone if there are
        fewer (the file shrank) or it is gone."""
        ...

    async def write_piece(self, directory: str, transfer: UUID, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` of the transfer's partial file in ``directory`` (made
        on first use; a name of its own that nothing else has, never a file of the user's)."""
        ...

    async def check_pieces(
        self,
        directory: str,
        transfer: UUID,
        hashes: bytes,
        piece_size: int,
        size: int,
        only: Sequence[int] | None = None,
    ) -> list[int]:
        """The pieces of the partial file that match their hashes (none if it is missing);
        ``only``: of these pieces (a resume checks those it has no record of, not all)."""
        ...

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
        """If the partial file is ``size`` bytes that hash to ``sha256``: move it into place
        as ``name`` (a clean name, given by the caller) in ``directory``, atomically, never over
        an existing file (``name (2).ext``, ``name (3).ext``... instead), and return its path.
        None, and the partial file kept, if it does not match. ``checked``: the caller hashed
        every byte it wrote, in order, and they matched; the file is then not read back."""
        ...

    async def discard(self, directory: str, transfer: UUID) -> None:
        """Delete the transfer's partial file, if any."""
        ...

    async def has_room(self, directory: str, size: int) -> bool:
        """Whether ``directory`` has ``size`` bytes free now."""
        ...
