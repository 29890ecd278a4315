"""The FileStore on a real disk: hashes, pieces in any order, atomic placement, hostile names,
planted links, a full disk, sparse zeros."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar
from uuid import UUID, uuid4

import pytest

from chinwag.adapters.local_files import OPEN_PARTS, LocalFiles, part_name
from chinwag.application.errors import FileProblem
from chinwag.application.ports.file_store import FileDigest
from tests.support import permissive_umask  # noqa: F401 (a fixture)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX links, modes and limits")
pytestmark = [posix_only, pytest.mark.timeout(30), pytest.mark.usefixtures("permissive_umask")]

IS_ROOT = os.name == "posix" and os.geteuid() == 0
PIECE = 16 * 1024
T = TypeVar("T")


def run(awaitable: Awaitable[T]) -> T:
    async def main() -> T:
        return await awaitable

    return asyncio.run(main())


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def piece_hashes(data: bytes, piece_size: int) -> bytes:
    return b"".join(sha(data[i : i + piece_size]) for i in range(0, len(data), piece_size))


def pieces(data: bytes, piece_size: int) -> list[tuple[int, bytes]]:
    return [(i, data[i : i + piece_size]) for i in range(0, len(data), piece_size)]


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


async def receive(
    files: LocalFiles, folder: Path, transfer: UUID, data: bytes, order: list[int] | None = None
) -> None:
    parts = pieces(data, PIECE)
    for index in order if order is not None else range(len(parts)):
        offset, piece = parts[index]
        await files.write_piece(str(folder), transfer, offset, piece)


# --- digest and reading -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 5, 1024 * 1024 + 7],
    ids=["empty", "one-byte", "under-a-piece", "one-piece", "piece-and-a-byte", "several", "1MiB+"],
)
def test_digest_hashes_the_file_whole_and_per_piece(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    found = run(LocalFiles().digest(str(source), PIECE))
    assert found == FileDigest(
        size=size,
        sha256=sha(data),
        hashes=piece_hashes(data, PIECE),
        mime="application/octet-stream",
    )
    assert len(found.hashes) == 32 * -(-size // PIECE)


def test_digest_with_pieces_that_straddle_its_reads(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 123)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    piece_size = 300_007  # not a divisor of the 1 MiB reads
    found = run(LocalFiles().digest(str(source), piece_size))
    assert found.hashes == piece_hashes(data, piece_size)
    assert found.sha256 == sha(data)


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("photo.jpg", "image/jpeg"),
        ("notes.txt", "text/plain"),
        ("blob.zzzq", "application/octet-stream"),
    ],
)
def test_digest_guesses_the_type_from_the_name(tmp_path: Path, name: str, mime: str) -> None:
    (tmp_path / name).write_bytes(b"x")
    assert run(LocalFiles().digest(str(tmp_path / name), PIECE)).mime == mime


def test_digest_of_what_is_not_a_readable_file_is_a_clear_problem(tmp_path: Path) -> None:
    files = LocalFiles()
    with pytest.raises(FileProblem, match="does not exist"):
        run(files.digest(str(tmp_path / "missing.txt"), PIECE))
    with pytest.raises(FileProblem, match="is a folder"):
        run(files.digest(str(tmp_path), PIECE))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(FileProblem, match="not a regular file"):
        run(files.digest(str(fifo), PIECE))


@pytest.mark.skipif(IS_ROOT, reason="root reads any file")
def test_digest_of_an_unreadable_file_says_so(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"x")
    secret.chmod(0)
    with pytest.raises(FileProblem, match="permission denied"):
        run(LocalFiles().digest(str(secret), PIECE))


def test_read_piece_reads_at_an_offset_and_refuses_a_file_that_shrank(tmp_path: Path) -> None:
    data = os.urandom(3 * PIECE + 10)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    files = LocalFiles()
    assert run(files.read_piece(str(source), PIECE, PIECE)) == data[PIECE : 2 * PIECE]
    assert run(files.read_piece(str(source), 3 * PIECE, 10)) == data[3 * PIECE :]
    source.write_bytes(data[: 2 * PIECE])
    with pytest.raises(FileProblem, match="changed since it was offered"):
        run(files.read_piece(str(source), PIECE, PIECE + 1))
    source.unlink()
    with pytest.raises(FileProblem, match="does not exist"):
        run(files.read_piece(str(source), 0, 1))


# --- receiving ----------------------------------------------------------------------------------


def test_pieces_in_any_order_make_the_exact_file(tmp_path: Path) -> None:
    data = os.urandom(5 * PIECE + 77)
    folder = tmp_path / "Downloads" / "new"  # made on first use
    transfer = uuid4()
    files = LocalFiles()

    async def scenario() -> str | None:
        await receive(files, folder, transfer, data, order=[5, 2, 0, 4, 1, 3])
        return await files.finish(str(folder), transfer, "report.pdf", len(data), sha(data))

    placed = run(scenario())
    assert placed == str(folder / "report.pdf")
    assert Path(placed).read_bytes() == data
    assert listing(folder) == ["report.pdf"]  # the partial file is gone
    assert stat.S_IMODE(os.stat(placed).st_mode) == 0o600


def test_a_partial_file_is_hidden_private_and_named_by_the_transfer(tmp_path: Path) -> None:
    transfer = uuid4()
    run(LocalFiles().write_piece(str(tmp_path), transfer, 0, b"abc"))
    assert listing(tmp_path) == [f".chinwag-{transfer}.part"] == [part_name(transfer)]
    assert stat.S_IMODE(os.stat(tmp_path / part_name(transfer)).st_mode) == 0o600


def test_a_file_that_does_not_match_its_hash_is_not_placed(tmp_path: Path) -> None:
    data = os.urandom(2 * PIECE)
    transfer = uuid4()
    files = LocalFiles()

    async def scenario() -> str | None:
        await receive(files, tmp_path, transfer, data)
        return await files.finish(str(tmp_path), transfer, "a.bin", len(data), sha(b"other"))

    assert run(scenario()) is None
    assert listing(tmp_path) == [part_name(transfer)]  # kept, to check and repair
    assert (tmp_path / part_name(transfer)).read_bytes() == data


def test_finish_without_a_partial_file_is_no_match(tmp_path: Path) -> None:
    assert run(LocalFiles().finish(str(tmp_path), uuid4(), "a.bin", 10, sha(bytes(10)))) is None
    assert listing(tmp_path) == []


def test_an_empty_file_is_placed_without_any_piece(tmp_path: Path) -> None:
    placed = run(LocalFiles().finish(str(tmp_path), uuid4(), "empty.txt", 0, sha(b"")))
    assert placed == str(tmp_path / "empty.txt")
    assert Path(placed).read_bytes() == b""
    assert listing(tmp_path) == ["empty.txt"]


def test_an_existing_file_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"mine")
    (tmp_path / "a (2).txt").symlink_to(tmp_path / "nowhere")  # a dangling link counts too
    files = LocalFiles()

    async def send(data: bytes) -> str | None:
        transfer = uuid4()
        await files.write_piece(str(tmp_path), transfer, 0, data)
        return await files.finish(str(tmp_path), transfer, "a.txt", len(data), sha(data))

    assert run(send(b"first")) == str(tmp_path / "a (3).txt")
    assert run(send(b"second")) == str(tmp_path / "a (4).txt")
    assert (tmp_path / "a.txt").read_bytes() == b"mine"
    assert not (tmp_path / "nowhere").exists()
    assert (tmp_path / "a (3).txt").read_bytes() == b"first"
    assert (tmp_path / "a (4).txt").read_bytes() == b"second"


@pytest.mark.parametrize(
    ("hostile", "saved"),
    [
        ("../../escaped.txt", "escaped.txt"),
        ("..", "file"),
        ("/etc/passwd", "passwd"),
        ("CON", "_CON"),
        ("a\u202etxt.exe", "atxt.exe"),
        (".bashrc", "bashrc"),
    ],
)
def test_hostile_names_land_inside_the_folder(tmp_path: Path, hostile: str, saved: str) -> None:
    folder = tmp_path / "in"
    transfer = uuid4()
    files = LocalFiles()

    async def scenario() -> str | None:
        await files.write_piece(str(folder), transfer, 0, b"payload")
        return await files.finish(str(folder), transfer, hostile, 7, sha(b"payload"))

    placed = run(scenario())
    assert placed == str(folder / saved)
    assert listing(folder) == [saved]
    assert listing(tmp_path) == ["in"]


def test_a_link_planted_at_the_partial_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    folder = tmp_path / "dl"
    folder.mkdir()
    transfer = uuid4()
    (folder / part_name(transfer)).symlink_to(victim)
    files = LocalFiles()
    with pytest.raises(FileProblem, match="symbolic link"):
        run(files.write_piece(str(folder), transfer, 0, b"attack"))
    with pytest.raises(FileProblem, match="symbolic link"):
        run(files.finish(str(folder), transfer, "x.txt", 8, sha(b"precious")))
    assert victim.read_bytes() == b"precious"
    assert listing(folder) == [part_name(transfer)]


def test_a_full_disk_is_disk_full_with_the_folder_named(tmp_path: Path) -> None:
    """RLIMIT_FSIZE in a child: writes past it fail with EFBIG (SIGXFSZ ignored)."""
    transfer = uuid4()
    script = """
import asyncio, resource, signal, sys, uuid
from chinwag.adapters.local_files import LocalFiles
from chinwag.application.errors import DiskFull

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

async def main():
    files, folder, transfer = LocalFiles(), sys.argv[1], uuid.UUID(sys.argv[2])
    await files.write_piece(folder, transfer, 0, b"x" * 32768)
    try:
        await files.write_piece(folder, transfer, 32768, b"y" * 65536)
    except DiskFull as exc:
        print("DiskFull:", exc)
    else:
        print("written")

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(transfer)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"DiskFull: no room in {tmp_path} for 65536 more bytes")
    assert "the transfer waits until there is" in done.stdout
    assert (tmp_path / part_name(transfer)).read_bytes()[:32768] == b"x" * 32768


def test_a_folder_that_is_a_file_is_a_file_problem(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    with pytest.raises(FileProblem, match="is not a folder"):
        run(LocalFiles().write_piece(str(blocker), uuid4(), 0, b"x"))


def test_check_pieces_finds_what_was_written_and_intact(tmp_path: Path) -> None:
    data = os.urandom(4 * PIECE + 9)
    hashes = piece_hashes(data, PIECE)
    transfer = uuid4()
    files = LocalFiles()

    async def scenario() -> tuple[list[int], list[int], list[int]]:
        missing = await files.check_pieces(str(tmp_path), transfer, hashes, PIECE, len(data))
        await receive(files, tmp_path, transfer, data, order=[0, 2, 4])
        written = await files.check_pieces(str(tmp_path), transfer, hashes, PIECE, len(data))
        damaged = bytearray(data[2 * PIECE : 3 * PIECE])
        damaged[100] ^= 1
        await files.write_piece(str(tmp_path), transfer, 2 * PIECE, bytes(damaged))
        after = await files.check_pieces(str(tmp_path), transfer, hashes, PIECE, len(data))
        return missing, written, after

    assert run(scenario()) == ([], [0, 2, 4], [0, 4])


def test_zero_pieces_leave_the_file_sparse_and_it_still_finishes(tmp_path: Path) -> None:
    size = 8 * 1024 * 1024
    piece_size = 512 * 1024
    zeros = bytes(piece_size)
    hashes = piece_hashes(bytes(size), piece_size)
    transfer = uuid4()
    files = LocalFiles()

    async def scenario() -> tuple[list[int], str | None]:
        for offset in range(0, size, piece_size):
            await files.write_piece(str(tmp_path), transfer, offset, zeros)
        found = await files.check_pieces(str(tmp_path), transfer, hashes, piece_size, size)
        return found, await files.finish(
            str(tmp_path), transfer, "zeros.img", size, sha(bytes(size))
        )

    found, placed = run(scenario())
    assert found == list(range(16))  # past the end reads as zeros: nothing to fetch again
    assert placed == str(tmp_path / "zeros.img")
    info = os.stat(placed)
    assert info.st_size == size
    assert info.st_blocks * 512 < 1024 * 1024  # holes, not 8 MiB of written zeros
    assert sha(Path(placed).read_bytes()) == sha(bytes(size))


def test_zeros_inside_written_data_are_written(tmp_path: Path) -> None:
    transfer = uuid4()
    files = LocalFiles()
    data = b"\xff" * (3 * PIECE)
    fixed = data[:PIECE] + bytes(PIECE) + data[2 * PIECE :]

    async def scenario() -> str | None:
        await receive(files, tmp_path, transfer, data)
        await files.write_piece(str(tmp_path), transfer, PIECE, bytes(PIECE))  # a repair
        return await files.finish(str(tmp_path), transfer, "f.bin", len(fixed), sha(fixed))

    placed = run(scenario())
    assert placed is not None
    assert Path(placed).read_bytes() == fixed


def test_many_transfers_from_many_threads_at_once(tmp_path: Path) -> None:
    """More transfers than descriptors kept open, each written by several threads at once."""
    files = LocalFiles()
    transfers = {uuid4(): os.urandom(8 * PIECE) for _ in range(OPEN_PARTS * 2)}

    async def scenario() -> list[str | None]:
        await asyncio.gather(
            *(
                files.write_piece(str(tmp_path), transfer, offset, piece)
                for transfer, data in transfers.items()
                for offset, piece in pieces(data, PIECE)
            )
        )
        return await asyncio.gather(
            *(
                files.finish(str(tmp_path), transfer, f"{transfer}.bin", len(data), sha(data))
                for transfer, data in transfers.items()
            )
        )

    placed = run(scenario())
    for (transfer, data), path in zip(transfers.items(), placed, strict=True):
        assert path == str(tmp_path / f"{transfer}.bin")
        assert Path(path).read_bytes() == data
    files.close()


def test_discard_deletes_the_partial_file_and_tolerates_none(tmp_path: Path) -> None:
    transfer = uuid4()
    files = LocalFiles()

    async def scenario() -> None:
        await files.write_piece(str(tmp_path), transfer, 0, b"half")
        await files.discard(str(tmp_path), transfer)
        await files.discard(str(tmp_path), transfer)
        await files.discard(str(tmp_path / "never-made"), uuid4())

    run(scenario())
    assert listing(tmp_path) == []


def test_has_room_looks_at_the_nearest_existing_folder(tmp_path: Path) -> None:
    files = LocalFiles()
    assert run(files.has_room(str(tmp_path), 1))
    assert run(files.has_room(str(tmp_path / "not" / "yet"), 1))
    assert not run(files.has_room(str(tmp_path / "not" / "yet"), 2**62))
    assert not (tmp_path / "not").exists()


def test_default_directory_is_a_downloads_folder() -> None:
    found = LocalFiles().default_directory()
    assert found
    assert Path(found).is_absolute()
