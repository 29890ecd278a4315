"""Files through the container, once over the memory twins and once over the real adapters
(TCP over Noise, SQLite, the disk): offers with hostile names land safely, and a transport that
damages or swaps pieces (a test double swapped in through the container) costs a refetch,
never a wrong file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from dependency_injector import providers

from chinwag.adapters.memory.files import InMemoryFileStore
from chinwag.application.ports.directory import PeerLocation
from chinwag.domain.filename import safe_filename
from chinwag.domain.transfer import (
    PIECE_SIZE,
    Direction,
    FileOffer,
    Transfer,
    TransferState,
)
from chinwag.entrypoints.container import Container
from tests.integration.test_use_cases_contract import Client, ClientFactory, kind, scenario
from tests.support import wait_until

__all__ = ["kind"]

HOSTILE = [
    "../../etc/passwd",
    "CON",
    "a\u202etxt.exe",
    "x" * 10_000,
    "nul\x00byte.txt",
]


def put(client: Client, folder: Path, name: str, data: bytes) -> str:
    """A file of ``data`` where ``client`` can read it; its path."""
    files = client.container.adapters.files()
    path = str(folder / name)
    if isinstance(files, InMemoryFileStore):
        files.files[path] = data
    else:
        folder.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return path


def saved(client: Client, path: str) -> bytes:
    files = client.container.adapters.files()
    if isinstance(files, InMemoryFileStore):
        return files.files[path]
    return Path(path).read_bytes()


def offered(client: Client, tid: UUID) -> Callable[[], bool]:
    """Whether ``client`` was told of ``tid`` yet."""
    return lambda: last(client, tid) is not None


def last(client: Client, tid: UUID) -> Transfer | None:
    found = [t for t, _ in client.events.transfers if t.id == tid]
    return found[-1] if found else None


async def done(client: Client, tid: UUID, timeout: float = 15.0) -> Transfer:
    def finished() -> bool:
        record = last(client, tid)
        return record is not None and record.final

    await wait_until(finished, timeout, f"transfer {tid} ended")
    record = last(client, tid)
    assert record is not None and record.state is TransferState.DONE, record
    return record


async def pair(make: ClientFactory) -> tuple[Client, Client]:
    alice, bob = make("alice"), make("bob")
    await bob.sign_in("bob")
    await alice.sign_in("alice")
    await wait_until(lambda: alice.sees_online("bob"), 10, "bob online")
    return alice, bob


async def offer_as_is(alice: Client, name: str, source: str, data: bytes) -> UUID:
    """What a hostile client does: offer ``data`` under ``name``, whatever it holds (the
    product's SendFile offers a file's real name; the wire and the recipient must cope)."""
    use = alice.use
    hashes = b"".join(
        hashlib.sha256(data[i : i + PIECE_SIZE]).digest() for i in range(0, len(data), PIECE_SIZE)
    )
    offer = FileOffer(
        name=name,
        size=len(data),
        sha256=hashlib.sha256(data).digest(),
        piece_size=PIECE_SIZE,
        root=hashlib.sha256(hashes).digest(),
    )
    tid = uuid4()
    now = alice.container.adapters.clock().now()
    transfers = alice.container.adapters.transfers()
    await transfers.add(
        Transfer(
            id=tid,
            direction=Direction.OUT,
            peer="bob",
            conversation_id=uuid4(),
            offer=offer,
            state=TransferState.OFFERED,
            path=source,
            created_at=now,
            updated_at=now,
        )
    )
    await transfers.set_hashes(tid, hashes)
    await use.send_message().execute("bob", "a file", file=offer, message_id=tid)
    return tid


@scenario
async def test_hostile_names_are_saved_safely_inside_the_folder(make: ClientFactory) -> None:
    alice, bob = await pair(make)
    base = Path(alice.container.config.adapters.database_path()).parent
    downloads = base / "downloads"
    for n, name in enumerate(HOSTILE):
        data = f"file {n}".encode()
        tid = await offer_as_is(alice, name, put(alice, base / "out", f"source-{n}", data), data)
        await wait_until(offered(bob, tid), 10, "the offer at bob")
        await bob.use.accept_file().execute(tid, str(downloads))
        record = await done(bob, tid)
        assert record.path is not None
        path = Path(record.path)
        assert path.parent == downloads, record.path
        assert path.name == safe_filename(name)
        assert saved(bob, record.path) == data
    names = [Path(t.path or "").name for t, _ in bob.events.transfers if t.path]
    assert "passwd" in names and "_CON" in names and "atxt.exe" in names
    assert all(len(n.encode()) <= 200 and "\x00" not in n for n in names)


class Tampering:
    """The recipient's transport, but the first answer for piece 1 comes damaged and the first
    for piece 2 is piece 3's data (reordered)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.asked: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def fetch_piece(
        self, peer: str, location: PeerLocation, transfer: UUID, index: int, timeout: float
    ) -> bytes:
        self.asked.append(index)
        data: bytes = await self._inner.fetch_piece(peer, location, transfer, index, timeout)
        if self.asked.count(index) == 1 and index == 1:
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        if self.asked.count(index) == 1 and index == 2:
            swapped: bytes = await self._inner.fetch_piece(peer, location, transfer, 3, timeout)
            return swapped
        return data


def tamper(container: Container) -> Tampering:
    double = Tampering(container.adapters.transport())
    container.adapters.transport.override(providers.Object(double))
    return double


@scenario
async def test_damaged_and_reordered_pieces_are_fetched_again(make: ClientFactory) -> None:
    alice, bob = make("alice"), make("bob")
    double = tamper(bob.container)
    await bob.sign_in("bob")
    await alice.sign_in("alice")
    await wait_until(lambda: alice.sees_online("bob"), 10, "bob online")
    base = Path(alice.container.config.adapters.database_path()).parent
    data = b"".join(bytes([n + 1]) * PIECE_SIZE for n in range(5))  # 5 pieces, each different
    sent = await alice.use.send_file().execute(put(alice, base / "out", "five.bin", data), to="bob")
    await wait_until(offered(bob, sent.id), 10, "the offer at bob")
    await bob.use.accept_file().execute(sent.id, str(base / "in"))
    record = await done(bob, sent.id)
    assert record.path is not None and saved(bob, record.path) == data
    assert double.asked.count(1) == 2 and double.asked.count(2) == 2, double.asked
    assert sorted(set(double.asked)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("size", [0, 1, PIECE_SIZE, 2 * PIECE_SIZE + 3])
def test_every_small_size_arrives_whole_in_both_worlds(
    kind: str, tmp_path: Path, size: int
) -> None:
    @scenario
    async def sizes(make: ClientFactory) -> None:
        alice, bob = await pair(make)
        data = bytes((n * 7) % 251 for n in range(size))
        base = Path(alice.container.config.adapters.database_path()).parent
        sent = await alice.use.send_file().execute(put(alice, base, "f.bin", data), to="bob")
        assert sent.offer.sha256 == hashlib.sha256(data).digest()
        await wait_until(offered(bob, sent.id), 10, "the offer at bob")
        await bob.use.accept_file().execute(sent.id, str(base / "in"))
        record = await done(bob, sent.id)
        assert record.path is not None and saved(bob, record.path) == data
        await done(alice, sent.id)

    sizes(kind, tmp_path)


@scenario
async def test_a_file_offered_to_a_group_reaches_each_member_who_accepts(
    make: ClientFactory,
) -> None:
    alice, bob, carol = make("alice"), make("bob"), make("carol")
    for client, name in ((bob, "bob"), (carol, "carol"), (alice, "alice")):
        await client.sign_in(name)
    await wait_until(lambda: alice.sees_online("bob", "carol"), 10, "bob and carol online")
    group = await alice.use.groups().create("Friends", ["bob", "carol"])
    base = Path(alice.container.config.adapters.database_path()).parent
    data = b"".join(bytes([n + 1]) * PIECE_SIZE for n in range(3)) + b"tail"
    sent = await alice.use.send_file().execute(
        put(alice, base / "out", "holiday.zip", data), group=group.id
    )
    assert sent.peer == "" and sent.group_id == group.id
    for member in (bob, carol):
        await wait_until(offered(member, sent.id), 10, "the offer at each member")
        offer = last(member, sent.id)
        assert offer is not None and offer.peer == "alice" and offer.group_id == group.id
        await member.use.accept_file().execute(sent.id, str(base / "in"))
        record = await done(member, sent.id)
        assert record.path is not None and saved(member, record.path) == data
    # alice keeps the offer's own record and one per member who fetched it, each told done

    def members_done() -> bool:
        states = {t.peer: t.state for t, _ in alice.events.transfers if t.id == sent.id}
        return all(states.get(name) is TransferState.DONE for name in ("bob", "carol"))

    await wait_until(members_done, 10, "bob's and carol's records done at alice")
    assert "" in {t.peer for t, _ in alice.events.transfers if t.id == sent.id}
