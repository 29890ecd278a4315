"""What every pull needs, shared by all of them (the engine's parts), and the piece hashes
a pull starts with."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from chinwag.application.files.notices import Locate, Notices
from chinwag.application.files.records import Records
from chinwag.application.files.settings import FileSettings
from chinwag.application.files.wakes import PeerWakes
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.file_store import FileStore
from chinwag.application.ports.peer_transport import HASHES_PER_ANSWER, PeerTransport
from chinwag.domain.transfer import SHA256_SIZE, Transfer

BUSY_PAUSE = 0.1
"""Seconds before a piece the sender was too busy for is asked again."""
SLOTS_PER_SENDER = 48
"""Pieces asked of one sender at once, all transfers from it together: under what a sender
keeps waiting for one session (64, then ``busy``)."""


class PeerSlots:
    """A bound on requests in flight per sender, shared by every pull from it."""

    def __init__(self, size: int = SLOTS_PER_SENDER) -> None:
        self._size = size
        self._slots: dict[str, asyncio.Semaphore] = {}

    def of(self, peer: str) -> asyncio.Semaphore:
        slots = self._slots.get(peer)
        if slots is None:
            slots = self._slots[peer] = asyncio.Semaphore(self._size)
        return slots


@dataclass(frozen=True)
class PullWorld:
    """What every pull needs (the engine's parts)."""

    records: Records
    files: FileStore
    transport: PeerTransport
    locate: Locate
    wakes: PeerWakes
    notices: Notices
    settings: FileSettings
    clock: Callable[[], float]
    """Monotonic seconds (the event loop's time)."""
    slots: PeerSlots = field(default_factory=PeerSlots)


class PullFailed(Exception):
    """The transfer cannot go on; the text says why, for people."""


async def piece_hashes(
    world: PullWorld, peer: str, location: PeerLocation, record: Transfer
) -> bytes:
    """The piece hashes: stored, or fetched (all of them, in chunks) and checked against
    the offer's ``root`` before they are stored."""
    offer = record.offer
    stored = await world.records.store.hashes(record.id)
    if stored is not None and len(stored) == offer.pieces * SHA256_SIZE:
        return stored
    wanted = offer.pieces * SHA256_SIZE
    hashes = bytearray()
    while len(hashes) < wanted:
        start = len(hashes) // SHA256_SIZE
        chunk = await world.transport.fetch_hashes(peer, location, record.id, start)
        if (
            not chunk
            or len(chunk) % SHA256_SIZE
            or len(chunk) > HASHES_PER_ANSWER * SHA256_SIZE
            or len(hashes) + len(chunk) > wanted
        ):
            raise PullFailed("the sender's piece list does not match its offer")
        hashes += chunk
    if hashlib.sha256(hashes).digest() != offer.root:
        raise PullFailed("the sender's piece list does not match its offer")
    await world.records.store.set_hashes(record.id, bytes(hashes))
    return bytes(hashes)
