"""Hand-written fakes for the file transfer tests: a file store in memory, a sender that
serves pieces from bytes (and can damage, swap, drop or hold them, or be away), and alice's
transfers engine over the in-memory registry, contacts and transfer records."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from chinwag.adapters.memory.clock import ManualClock
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.directory import InMemoryDirectory, InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.transfers import InMemoryTransferRepository
from chinwag.application.errors import DiskFull, FileGone, FileRefused, PeerUnreachable
from chinwag.application.files import FileSettings, Transfers
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.file_store import FileDigest
from chinwag.application.ports.peer_transport import (
    HASHES_PER_ANSWER,
    DeliveryReport,
    Route,
    TransferNotice,
)
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.domain.contact import Contact
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.message import Message
from chinwag.domain.transfer import (
    MIN_PIECE_SIZE,
    Direction,
    FileLimits,
    FileOffer,
    Transfer,
    TransferState,
)
from chinwag.domain.user import PeerAddress
from tests.support import wait_until

ALICE_KEY = bytes([0xA1]) * 32
BOB_KEY = bytes([0xB0]) * 32
CAROL_KEY = bytes([0xC0]) * 32
PIECE = MIN_PIECE_SIZE
DOWNLOADS = "/downloads"
FAST = FileSettings(
    stall=0.2, max_retry_delay=0.05, disk_retry=0.01, checkpoint_seconds=0.05, checkpoint_pieces=4
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def content(size: int, seed: int = 7) -> bytes:
    """``size`` bytes that differ from piece to piece (a swapped piece does not match)."""
    block = hashlib.sha256(bytes([seed])).digest()
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(block + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def piece_hashes(data: bytes, piece_size: int = PIECE) -> bytes:
    return b"".join(
        hashlib.sha256(data[i : i + piece_size]).digest() for i in range(0, len(data), piece_size)
    )


def offer_of(data: bytes, name: str = "photo.jpg", piece_size: int = PIECE) -> FileOffer:
    return FileOffer(
        name=name,
        size=len(data),
        sha256=hashlib.sha256(data).digest(),
        piece_size=piece_size,
        root=hashlib.sha256(piece_hashes(data, piece_size)).digest(),
    )


def incoming(offer: FileOffer, n: int = 1, peer: str = "bob") -> Transfer:
    return Transfer(
        id=UUID(int=n),
        direction=Direction.IN,
        peer=peer,
        conversation_id=direct_conversation_id("alice", peer),
        offer=offer,
        state=TransferState.OFFERED,
        created_at=T0,
        updated_at=T0,
    )


class FakeFiles:
    """The ``FileStore`` in memory: sources by path, partial files by (folder, transfer)."""

    def __init__(self) -> None:
        self.sources: dict[str, bytes] = {}
        self.partials: dict[tuple[str, UUID], bytearray] = {}
        self.saved: dict[str, bytes] = {}
        self.full = False
        """Writes raise DiskFull while set; :meth:`has_room` says the opposite."""
        self.writes = 0
        self.limit_unseen = False
        """Writes raise DiskFull while :meth:`has_room` says there is room (a quota, a
        largest file size: limits the free space does not show)."""
        self.placing: asyncio.Event | None = None
        """While set, ``finish`` waits for it before it places the file (a slow fsync)."""
        self.finished: list[bool] = []
        self.checked: list[list[int] | None] = []
        """``only`` of each ``check_pieces``: the pieces looked at (None: all)."""
        """``checked`` of each ``finish``: whether the file was hashed as it was written."""

    def default_directory(self) -> str:
        return DOWNLOADS

    async def digest(self, path: str, piece_size: int) -> FileDigest:
        data = self._source(path)
        return FileDigest(
            len(data), hashlib.sha256(data).digest(), piece_hashes(data, piece_size), "image/jpeg"
        )

    async def read_piece(self, path: str, offset: int, length: int) -> bytes:
        data = self._source(path)[offset : offset + length]
        if len(data) < length:
            raise FileGone(f"{path} is shorter than it was")
        return data

    def _source(self, path: str) -> bytes:
        if path not in self.sources:
            raise FileGone(f"{path} does not exist")
        return self.sources[path]

    async def write_piece(self, directory: str, transfer: UUID, offset: int, data: bytes) -> None:
        if self.full or self.limit_unseen:
            raise DiskFull(f"the disk is full: no room in {directory}")
        partial = self.partials.setdefault((directory, transfer), bytearray())
        if len(partial) < offset + len(data):
            partial.extend(bytes(offset + len(data) - len(partial)))
        partial[offset : offset + len(data)] = data
        self.writes += 1

    async def check_pieces(
        self,
        directory: str,
        transfer: UUID,
        hashes: bytes,
        piece_size: int,
        size: int,
        only: Sequence[int] | None = None,
    ) -> list[int]:
        self.checked.append(None if only is None else list(only))
        partial = self.partials.get((directory, transfer))
        if partial is None:
            return []
        found = []
        for index in range(len(hashes) // 32) if only is None else only:
            data = bytes(partial[index * piece_size : min((index + 1) * piece_size, size)])
            if hashlib.sha256(data).digest() == hashes[index * 32 : index * 32 + 32]:
                found.append(index)
        return found

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
        self.finished.append(checked)
        if self.placing is not None:
            await self.placing.wait()
        partial = self.partials.get((directory, transfer))
        if partial is None or len(partial) != size:
            return None
        if not checked and hashlib.sha256(partial).digest() != sha256:
            return None
        path = f"{directory}/{name}"
        self.saved[path] = bytes(self.partials.pop((directory, transfer)))
        return path

    async def discard(self, directory: str, transfer: UUID) -> None:
        self.partials.pop((directory, transfer), None)

    async def has_room(self, directory: str, size: int) -> bool:
        return not self.full


@dataclass
class FakeSender:
    """Bob's side of the wire, as alice's transport reaches it: serves ``data`` in pieces.

    ``damage``: piece -> how many more times it comes damaged; ``swap``: pieces that come as
    another one's data (out of order); ``drop``: pieces never answered (the transport's stall
    after ``timeout``); ``hold``: pieces answered only once released; ``away``: every ask
    fails as a broken session; ``refuse``: the sender refuses with that reason."""

    data: bytes = b""
    piece_size: int = PIECE
    hashes: bytes | None = None
    damage: dict[int, int] = field(default_factory=dict)
    swap: dict[int, int] = field(default_factory=dict)
    drop: set[int] = field(default_factory=set)
    hold: set[int] = field(default_factory=set)
    away: bool = False
    refuse: str | None = None
    busy: set[int] = field(default_factory=set)
    """Pieces answered ``busy`` once (the sender has too many asks waiting)."""
    asked: list[int] = field(default_factory=list)
    hash_asks: list[int] = field(default_factory=list)
    notices: list[tuple[str, TransferNotice]] = field(default_factory=list)
    notices_fail: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def piece(self, index: int) -> bytes:
        start = index * self.piece_size
        return self.data[start : start + self.piece_size]


class FakeTransport:
    """The ``PeerTransport`` calls the engine makes, answered by :class:`FakeSender`s."""

    def __init__(self) -> None:
        self.senders: dict[str, FakeSender] = {}
        self.delivered: list[Message] = []

    def sender(self, peer: str) -> FakeSender:
        return self.senders.setdefault(peer, FakeSender())

    async def fetch_piece(
        self, peer: str, location: PeerLocation, transfer: UUID, index: int, timeout: float
    ) -> bytes:
        sender = self.sender(peer)
        self._check(sender)
        sender.asked.append(index)
        if index in sender.drop:
            sender.drop.discard(index)
            await asyncio.sleep(timeout)
            raise PeerUnreachable(f"no data from {peer} for {timeout:g}s", "stalled")
        if index in sender.hold:
            await sender.released.wait()
            self._check(sender)
        if index in sender.busy:
            sender.busy.discard(index)
            raise FileRefused("busy", f"{peer}: too many requests at once; ask again")
        if sender.damage.get(index, 0) > 0:
            sender.damage[index] -= 1
            return bytes(b ^ 0xFF for b in sender.piece(index))
        if index in sender.swap:
            return sender.piece(sender.swap.pop(index))
        return sender.piece(index)

    async def fetch_hashes(
        self, peer: str, location: PeerLocation, transfer: UUID, start: int
    ) -> bytes:
        sender = self.sender(peer)
        self._check(sender)
        sender.hash_asks.append(start)
        hashes = sender.hashes
        if hashes is None:
            hashes = piece_hashes(sender.data, sender.piece_size)
        return hashes[start * 32 : (start + HASHES_PER_ANSWER) * 32]

    async def send_notice(self, peer: str, location: PeerLocation, notice: TransferNotice) -> None:
        sender = self.sender(peer)
        if sender.notices_fail:
            raise PeerUnreachable(f"{peer} did not answer", "timeout")
        sender.notices.append((peer, notice))

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        self.delivered.extend(messages)
        return DeliveryReport(frozenset(m.id for m in messages), route=Route.DIRECT)

    def route(self, peer: str) -> Route | None:
        return None

    async def listen(self, me: str, address: PeerAddress | None, handler: object) -> None:
        return None

    async def close(self) -> None:
        return None

    @staticmethod
    def _check(sender: FakeSender) -> None:
        if sender.away:
            raise PeerUnreachable("the session broke", "lost")
        if sender.refuse is not None:
            raise FileRefused(sender.refuse, f"refused: {sender.refuse}")


class World:
    """Alice's transfers engine; bob (and carol) on the same in-memory registry."""

    def __init__(self, settings: FileSettings = FAST, limits: FileLimits | None = None) -> None:
        self.registry = InMemoryRegistry()
        self.directory = InMemoryDirectory(self.registry, ALICE_KEY)
        self.others = {
            "bob": InMemoryDirectory(self.registry, BOB_KEY),
            "carol": InMemoryDirectory(self.registry, CAROL_KEY),
        }
        self.contacts = InMemoryContactRepository()
        self.events = RecordingEvents()
        self.clock = ManualClock()
        self.trust = TrustPolicy(self.contacts, self.directory, self.events, self.clock, ALICE_KEY)
        self.session = Session()
        self.store = InMemoryTransferRepository()
        self.files = FakeFiles()
        self.transport = FakeTransport()
        self.engine = Transfers(
            self.session,
            self.directory,
            self.transport,  # type: ignore[arg-type]  # only the calls the engine makes
            self.store,
            self.files,
            self.contacts,
            self.trust,
            self.events,
            self.clock,
            limits,
            settings,
        )

    async def start(self, *online: str) -> None:
        self.session.start("alice", None)
        self.trust.signed_in_as("alice")
        await self.directory.sign_in("alice", None, self.events)
        for name in online:
            await self.come_online(name, wake=False)
        await self.engine.start()

    async def come_online(self, name: str, *, wake: bool = True) -> None:
        await self.others[name].sign_in(
            name, PeerAddress(host=f"{name}.example", port=1), self.events
        )
        if wake:
            self.engine.online(self.registry.online())

    async def go_offline(self, name: str) -> None:
        await self.others[name].sign_out()
        self.engine.online(self.registry.online())

    async def verified(self, name: str, key: bytes) -> None:
        await self.contacts.save(
            Contact(name=name, key=key, first_seen=T0, verified=True, accepted=True)
        )

    def serve(self, data: bytes, peer: str = "bob") -> FakeSender:
        sender = self.transport.sender(peer)
        sender.data = data
        return sender

    async def record(self, n: int = 1, peer: str = "bob") -> Transfer:
        found = await self.store.get(UUID(int=n), peer)
        assert found is not None
        return found

    def states(self, n: int = 1) -> list[TransferState]:
        """Every state told for transfer ``n``, in order, repeats folded."""
        seen: list[TransferState] = []
        for transfer, _ in self.events.transfers:
            if transfer.id == UUID(int=n) and (not seen or seen[-1] != transfer.state):
                seen.append(transfer.state)
        return seen

    def last(self, n: int = 1) -> Transfer | None:
        told = [t for t, _ in self.events.transfers if t.id == UUID(int=n)]
        return told[-1] if told else None

    async def until_state(self, state: TransferState, n: int = 1, timeout: float = 5.0) -> None:
        await wait_until(
            lambda: (last := self.last(n)) is not None and last.state is state,
            timeout,
            f"transfer {n} {state}",
        )
