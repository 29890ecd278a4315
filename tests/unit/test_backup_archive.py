"""The backup file format: what goes in comes out, and nothing altered, cut or guessed does."""

from __future__ import annotations

import errno
import io
import random
from pathlib import Path
from typing import BinaryIO

import pytest

from chinwag.adapters.backup.archive import (
    HEADER_SIZE,
    MIN_CHUNK_SIZE,
    TAG_SIZE,
    ArchiveReader,
    ArchiveWriter,
    BackupError,
    DamagedBackup,
    ScryptParameters,
    WrongPassphrase,
)
from chinwag.adapters.backup.bundle import Manifest, read_entries, write_entries
from chinwag.adapters.backup.folder import write_atomically

CHEAP = ScryptParameters(log2_n=4, r=1, p=1)
CHUNK = MIN_CHUNK_SIZE
SEALED = CHUNK + TAG_SIZE
START = HEADER_SIZE + TAG_SIZE
"""Where the first chunk starts."""


def seal(plaintext: bytes, passphrase: str = "correct horse", *, pieces: int = 1) -> bytes:
    out = io.BytesIO()
    writer = ArchiveWriter(out, passphrase, scrypt=CHEAP, chunk_size=CHUNK)
    step = max(1, len(plaintext) // pieces)
    for at in range(0, len(plaintext), step):
        writer.write(plaintext[at : at + step])
    writer.close()
    return out.getvalue()


def unseal(data: bytes, passphrase: str = "correct horse") -> bytes:
    return b"".join(ArchiveReader(io.BytesIO(data), passphrase).chunks())


PLAIN = random.Random(7).randbytes(3 * CHUNK + 100)  # three full chunks and a short last one


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 100])
def test_what_is_written_reads_back_the_same_whatever_its_size(size: int) -> None:
    data = seal(PLAIN[:size], pieces=3)
    chunks = max(1, -(-size // CHUNK))
    assert len(data) == START + size + chunks * TAG_SIZE  # exactly: nothing else is stored
    assert unseal(data) == PLAIN[:size]


def test_the_same_plaintext_twice_gives_unrelated_files() -> None:
    first, second = seal(PLAIN), seal(PLAIN)
    assert first[START:] != second[START:]  # fresh salt and nonce prefix each time
    assert PLAIN[:64] not in first


def test_the_kdf_parameters_are_read_from_the_header() -> None:
    out = io.BytesIO()
    writer = ArchiveWriter(out, "pw", scrypt=ScryptParameters(5, 2, 1), chunk_size=CHUNK)
    writer.write(b"hello")
    writer.close()
    assert out.getvalue()[10:13] == bytes([5, 2, 1])
    assert unseal(out.getvalue(), "pw") == b"hello"


def test_a_wrong_passphrase_is_said_as_such() -> None:
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        unseal(seal(PLAIN), "Correct horse")


def test_an_empty_passphrase_is_refused() -> None:
    with pytest.raises(BackupError):
        ArchiveWriter(io.BytesIO(), "", scrypt=CHEAP)


@pytest.mark.parametrize(
    "length",
    [0, 5, HEADER_SIZE - 1, HEADER_SIZE, START - 1, START, START + 1, START + SEALED - 1,
     START + SEALED, START + SEALED + 1, START + 2 * SEALED, START + 3 * SEALED,
     START + 3 * SEALED + TAG_SIZE, -1],
)  # fmt: skip
def test_a_file_cut_anywhere_is_refused(length: int) -> None:
    data = seal(PLAIN)
    with pytest.raises(DamagedBackup):
        unseal(data[:length])


def test_a_file_cut_at_a_chunk_boundary_is_refused_though_each_chunk_is_whole() -> None:
    data = seal(PLAIN[: 3 * CHUNK])  # three full chunks, the third one final
    assert len(data) == START + 3 * SEALED
    assert unseal(data) == PLAIN[: 3 * CHUNK]
    with pytest.raises(DamagedBackup, match="chunk 1"):
        unseal(data[: START + 2 * SEALED])  # chunk 1 was not sealed as the last one


def test_one_flipped_bit_anywhere_is_refused() -> None:
    data = seal(PLAIN[: CHUNK + 10])
    for at in range(len(data)):  # every byte: header, header check, each chunk and tag
        damaged = bytearray(data)
        damaged[at] ^= 0x01 << (at % 8)
        with pytest.raises(DamagedBackup if at >= START else BackupError):
            unseal(bytes(damaged))


def test_a_header_change_is_refused_before_anything_is_decrypted() -> None:
    data = bytearray(seal(PLAIN))
    data[10] += 1  # scrypt cost
    with pytest.raises(WrongPassphrase):
        unseal(bytes(data))
    data = bytearray(seal(PLAIN))
    data[8] = 2  # version
    with pytest.raises(DamagedBackup, match="version 2"):
        unseal(bytes(data))
    data = bytearray(seal(PLAIN))
    data[10] = 30  # a crafted cost that would take gigabytes is not even tried
    with pytest.raises(DamagedBackup, match="parameters"):
        unseal(bytes(data))
    with pytest.raises(DamagedBackup, match="not a chinwag backup"):
        unseal(b"SQLite format 3\x00" + bytes(100))


def _chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    body = data[START:]
    return data[:START], [body[at : at + SEALED] for at in range(0, len(body), SEALED)]


def test_chunks_dropped_repeated_or_swapped_are_refused() -> None:
    head, chunks = _chunks(seal(PLAIN))
    assert len(chunks) == 4
    variants = {
        "first dropped": chunks[1:],
        "middle dropped": [chunks[0], chunks[2], chunks[3]],
        "last dropped": chunks[:3],
        "swapped": [chunks[1], chunks[0], *chunks[2:]],
        "repeated": [chunks[0], *chunks],
        "last moved": [chunks[0], chunks[1], chunks[3], chunks[2]],
        "appended": [*chunks, chunks[0]],
    }
    for name, order in variants.items():
        with pytest.raises(DamagedBackup):
            unseal(head + b"".join(order))
        assert name  # each variant checked


def test_chunks_of_another_backup_with_the_same_passphrase_do_not_fit() -> None:
    head, chunks = _chunks(seal(PLAIN))
    _, others = _chunks(seal(PLAIN))
    with pytest.raises(DamagedBackup):
        unseal(head + chunks[0] + others[1] + b"".join(chunks[2:]))


def test_trailing_bytes_after_the_final_chunk_are_refused() -> None:
    with pytest.raises(DamagedBackup):
        unseal(seal(PLAIN) + b"\x00")


def test_the_reader_yields_nothing_it_has_not_authenticated() -> None:
    data = bytearray(seal(PLAIN))
    data[START + 2 * SEALED + 5] ^= 1  # the third chunk
    chunks = ArchiveReader(io.BytesIO(bytes(data)), "correct horse").chunks()
    assert next(chunks) + next(chunks) == PLAIN[: 2 * CHUNK]
    with pytest.raises(DamagedBackup, match="chunk 2"):
        next(chunks)


def _bundle(tmp_path: Path, files: dict[str, bytes]) -> bytes:
    source = tmp_path / "source"
    source.mkdir()
    for name, content in files.items():
        (source / name).write_bytes(content)
    out = io.BytesIO()
    writer = ArchiveWriter(out, "pw", scrypt=CHEAP, chunk_size=CHUNK)
    write_entries(writer, "alice", [(name, source / name) for name in files])
    writer.close()
    return out.getvalue()


def test_a_bundle_round_trips_its_files_and_manifest(tmp_path: Path) -> None:
    files = {"identity.key": b"keys", "history.sqlite3": PLAIN, "empty": b""}
    data = _bundle(tmp_path, files)
    into = tmp_path / "into"
    into.mkdir()
    reader = ArchiveReader(io.BytesIO(data), "pw")
    manifest = read_entries(reader.chunks(), into, frozenset(files), limits={})
    assert manifest.user == "alice" and manifest.files == tuple(files)
    assert {path.name: path.read_bytes() for path in into.iterdir()} == files


def test_a_bundle_with_a_file_the_reader_does_not_take_is_refused(tmp_path: Path) -> None:
    data = _bundle(tmp_path, {"identity.key": b"keys", "evil": b"x"})
    into = tmp_path / "into"
    into.mkdir()
    reader = ArchiveReader(io.BytesIO(data), "pw")
    with pytest.raises(DamagedBackup, match="unexpected file 'evil'"):
        read_entries(reader.chunks(), into, frozenset({"identity.key"}), limits={})


def test_a_bundle_file_over_its_limit_is_refused(tmp_path: Path) -> None:
    data = _bundle(tmp_path, {"identity.key": PLAIN})
    into = tmp_path / "into"
    into.mkdir()
    reader = ArchiveReader(io.BytesIO(data), "pw")
    with pytest.raises(DamagedBackup, match="too big"):
        read_entries(
            reader.chunks(), into, frozenset({"identity.key"}), limits={"identity.key": 10}
        )


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only file system"),
        (OSError(errno.EIO, "Input/output error"), "input/output error"),
    ],
)
def test_a_backup_file_that_cannot_be_written_is_named_not_its_temporary_file(
    tmp_path: Path, error: OSError, said: str
) -> None:
    output = tmp_path / "x.chinwag-backup"

    def fail(out: BinaryIO) -> Manifest:
        out.write(b"partly")
        raise error

    with pytest.raises(BackupError) as caught:
        write_atomically(output, fail)
    assert str(caught.value) == f"cannot write {output}: {said}"
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone, nothing replaced


def test_a_file_that_cannot_be_read_while_backing_up_stays_named_as_itself(
    tmp_path: Path,
) -> None:
    source = tmp_path / "history.sqlite3"

    def fail(out: BinaryIO) -> Manifest:
        raise PermissionError(errno.EACCES, "Permission denied", str(source))

    with pytest.raises(PermissionError) as caught:
        write_atomically(tmp_path / "x.cwb", fail)
    assert caught.value.filename == str(source)
    assert list(tmp_path.iterdir()) == []
