"""A ``FileServer`` that offers nothing: for a handler of peer traffic that takes no files (an
embedder's, a test's), every request is refused as a stranger's would be."""

from __future__ import annotations

from uuid import UUID

from chinwag.application.errors import FileRefused
from chinwag.application.ports.peer_transport import TransferNotice

NOT_OFFERED = "no such file was offered to you"


class NoFiles:
    """Mix into an ``InboundHandler`` that serves no files."""

    async def piece_requested(self, peer: str, transfer: UUID, index: int) -> bytes:
        raise FileRefused("unknown_transfer", NOT_OFFERED)

    async def hashes_requested(self, peer: str, transfer: UUID, start: int) -> bytes:
        raise FileRefused("unknown_transfer", NOT_OFFERED)

    async def notice_received(self, peer: str, notice: TransferNotice) -> None:
        raise FileRefused("unknown_transfer", NOT_OFFERED)
