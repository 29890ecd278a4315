"""What a backup's plaintext holds: a manifest, then the user's files, one after another.

Plaintext layout (inside the encrypted stream of :mod:`chinwag.adapters.backup.archive`)::

    entry*  end
    entry = u16 name length (1..255), name (ASCII), u64 size, size bytes   (big-endian)
    end   = u16 0

The first entry is ``manifest.json``: ``{"format": 1, "user": NAME, "created": ISO-8601 UTC,
"files": [NAME, ...]}`` listing the entries that follow, in order. Only the names the reader
is told to accept are written anywhere, each once, as a plain file in the folder it fills; so
a backup can never place a file outside that folder, nor a link, whatever it says. Nothing may
follow the end marker.

Files are streamed, a piece at a time, so a history of any size takes constant memory.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Final

from chinwag.adapters.backup.archive import ArchiveWriter, DamagedBackup
from chinwag.adapters.files import open_private

MANIFEST: Final = "manifest.json"
BUNDLE_FORMAT: Final = 1
MAX_MANIFEST: Final = 64 * 1024
_NAME = struct.Struct(">H")
_SIZE = struct.Struct(">Q")
_PIECE: Final = 1024 * 1024


@dataclass(frozen=True)
class Manifest:
    user: str
    created: str
    files: tuple[str, ...]

    def encode(self) -> bytes:
        document = {
            "format": BUNDLE_FORMAT,
            "user": self.user,
            "created": self.created,
            "files": list(self.files),
        }
        return json.dumps(document, ensure_ascii=False).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise DamagedBackup("the backup's manifest is not JSON") from None
        if not isinstance(document, dict) or document.get("format") != BUNDLE_FORMAT:
            raise DamagedBackup("the backup's content is of a format this chinwag does not know")
        user, created, files = document.get("user"), document.get("created"), document.get("files")
        if not isinstance(user, str) or not isinstance(created, str):
            raise DamagedBackup("the backup's manifest has no user")
        if not isinstance(files, list) or not all(isinstance(name, str) for name in files):
            raise DamagedBackup("the backup's manifest has no file list")
        return cls(user=user, created=created, files=tuple(files))


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_entries(writer: ArchiveWriter, user: str, files: Iterable[tuple[str, Path]]) -> Manifest:
    """The manifest, then each ``(name, path)`` file's bytes, then the end marker."""
    files = list(files)
    manifest = Manifest(user=user, created=now_text(), files=tuple(name for name, _ in files))
    _write_entry(writer, MANIFEST, manifest.encode())
    for name, path in files:
        fd = open_private(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            writer.write(_entry_head(name, size))
            left = size
            while left:
                piece = source.read(min(_PIECE, left))
                if not piece:
                    raise OSError(f"{path} got shorter while it was being backed up")
                writer.write(piece)
                left -= len(piece)
    writer.write(_NAME.pack(0))
    return manifest


def _entry_head(name: str, size: int) -> bytes:
    encoded = name.encode("ascii")
    return _NAME.pack(len(encoded)) + encoded + _SIZE.pack(size)


def _write_entry(writer: ArchiveWriter, name: str, data: bytes) -> None:
    writer.write(_entry_head(name, len(data)) + data)


class _Plaintext:
    """The decrypted chunks as a byte stream; running out early means the file is damaged."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def take(self, size: int) -> bytes:
        """At most ``size`` bytes (at least one), from what is buffered or the next chunk."""
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                raise DamagedBackup("the backup's content ends in the middle of a file")
            self._buffer = chunk
        piece, self._buffer = self._buffer[:size], self._buffer[size:]
        return piece

    def exactly(self, size: int) -> bytes:
        parts, left = [], size
        while left:
            piece = self.take(left)
            parts.append(piece)
            left -= len(piece)
        return b"".join(parts)

    def finish(self) -> None:
        """Read to the end: every chunk must verify, and nothing may follow the end marker."""
        if self._buffer or any(self._chunks):
            raise DamagedBackup("the backup has data after its end")


def read_entries(
    chunks: Iterator[bytes], into: Path, accepted: frozenset[str], *, limits: dict[str, int]
) -> Manifest:
    """Write each entry of the plaintext into the folder ``into`` (private files, made
    exclusively, synced) and return the manifest once the whole stream verified.

    Refused (:class:`DamagedBackup`): a name not in ``accepted`` or not in the manifest's list,
    a name twice, a file larger than ``limits[name]`` says, data after the end. The caller
    removes ``into`` on any exception.
    """
    stream = _Plaintext(chunks)
    name, size = _read_head(stream)
    if name != MANIFEST or size > MAX_MANIFEST:
        raise DamagedBackup("the backup does not start with its manifest")
    manifest = Manifest.decode(stream.exactly(size))
    expected = list(manifest.files)
    while True:
        name, size = _read_head(stream)
        if not name:
            break
        if name not in accepted or not expected or expected[0] != name:
            raise DamagedBackup(f"the backup holds an unexpected file {name!r}")
        expected.pop(0)
        if size > limits.get(name, 2**63):
            raise DamagedBackup(f"the backup's {name} is far too big ({size} bytes)")
        _copy_out(stream, size, into / name)
    if expected:
        raise DamagedBackup(f"the backup lacks {expected[0]!r}")
    stream.finish()
    return manifest


def _read_head(stream: _Plaintext) -> tuple[str, int]:
    (length,) = _NAME.unpack(stream.exactly(_NAME.size))
    if length == 0:
        return "", 0
    raw = stream.exactly(length)
    try:
        name = raw.decode("ascii")
    except UnicodeDecodeError:
        raise DamagedBackup("the backup holds a file with an unreadable name") from None
    (size,) = _SIZE.unpack(stream.exactly(_SIZE.size))
    return name, size


def _copy_out(stream: _Plaintext, size: int, path: Path) -> None:
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    target: BinaryIO
    with os.fdopen(fd, "wb") as target:
        left = size
        while left:
            piece = stream.take(min(left, _PIECE))
            target.write(piece)
            left -= len(piece)
        target.flush()
        os.fsync(target.fileno())
