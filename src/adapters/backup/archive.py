"""The encrypted backup file: a passphrase-derived key and an AEAD over numbered chunks.

A backup holds the identity's private keys, so it must be useless without the passphrase and
must never be restored half-read or altered: every byte is authenticated, and a file that was
cut short, had chunks dropped, repeated or swapped, or had any byte changed is refused.

File format (version 1; integers big-endian)::

    header (48 bytes, all of it the associated data of every AEAD call below)
      0  magic        8 bytes  b"CHINWAGB"
      8  version      u8       1
      9  kdf          u8       1 = scrypt (RFC 7914)
     10  log2_n       u8       scrypt cost: N = 2**log2_n (1..22)
     11  r            u8       scrypt block size (1..32)
     12  p            u8       scrypt parallelism (1..16)
     13  aead         u8       1 = ChaCha20-Poly1305 (RFC 8439)
     14  chunk_size   u32      plaintext bytes per chunk (1 KiB .. 16 MiB)
     18  salt         16 bytes random, the scrypt salt
     34  nonce_prefix 7 bytes  random, the first 7 bytes of every nonce
     41  reserved     7 bytes  zero
    header check  16 bytes: the AEAD tag of an empty plaintext under nonce
                  prefix || 0xFFFFFFFF || 0x02 (tells a wrong passphrase from a damaged body)
    chunks: chunk i (i = 0, 1, ...) is AEAD(key, nonce = prefix || u32 i || last, plaintext,
            header), where last is 0x01 for the final chunk and 0x00 for the others; every
            chunk but the final one holds exactly chunk_size bytes of plaintext (so is
            chunk_size + 16 bytes long), the final one 0..chunk_size bytes. There is always a
            final chunk (an empty plaintext gives one 16-byte chunk), and nothing follows it.

The key is scrypt(passphrase as UTF-8, salt, N, r, p, 32 bytes). This is the STREAM
construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): the counter in the nonce detects
reordering and dropped chunks, the last-chunk flag detects truncation at a chunk boundary, and
the header as associated data binds every chunk to these parameters. The KDF parameters read
from a file are bounded before use, so a crafted file cannot make restore take gigabytes.

What the plaintext holds (the user's files) is :mod:`chinwag.adapters.backup.bundle`'s.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC: Final = b"CHINWAGB"
VERSION: Final = 1
KDF_SCRYPT: Final = 1
AEAD_CHACHA20_POLY1305: Final = 1
_HEADER = struct.Struct(">8sBBBBBBI16s7s7s")
HEADER_SIZE: Final = _HEADER.size
TAG_SIZE: Final = 16
SALT_SIZE: Final = 16
PREFIX_SIZE: Final = 7
DEFAULT_CHUNK_SIZE: Final = 64 * 1024
MIN_CHUNK_SIZE: Final = 1024
MAX_CHUNK_SIZE: Final = 16 * 1024 * 1024
MAX_CHUNKS: Final = 2**32 - 1
"""Counter 0xFFFFFFFF is the header check's."""
_HEADER_CHECK: Final = b"\xff\xff\xff\xff\x02"


class BackupError(Exception):
    """The backup cannot be read or written; the message says why in one line."""


class WrongPassphrase(BackupError):
    """The passphrase does not open this file (or its header was altered)."""


class DamagedBackup(BackupError):
    """The file is not a whole, unaltered chinwag backup."""


@dataclass(frozen=True)
class ScryptParameters:
    """scrypt's cost: the default takes 128 MiB and about a quarter of a second (OWASP's
    recommendation, N=2^17, r=8, p=1); tests pass a cheap one."""

    log2_n: int = 17
    r: int = 8
    p: int = 1

    def check(self) -> None:
        """Refuse parameters outside what chinwag writes (1 GiB at most): a crafted header
        must not make reading it exhaust memory or time."""
        if not (1 <= self.log2_n <= 22 and 1 <= self.r <= 32 and 1 <= self.p <= 16):
            raise DamagedBackup(f"unsupported key derivation parameters {self}")
        if 128 * self.r * (2**self.log2_n) > 2**30:
            raise DamagedBackup("the key derivation would need more than 1 GiB of memory")

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        self.check()
        kdf = Scrypt(salt=salt, length=32, n=2**self.log2_n, r=self.r, p=self.p)
        return kdf.derive(passphrase.encode("utf-8"))


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class ArchiveWriter:
    """Encrypts what is written to it into ``out``, a chunk at a time (constant memory).

    :meth:`close` writes the final chunk; without it the file is refused when read, as a
    truncated one is. It does not close ``out``.
    """

    def __init__(
        self,
        out: BinaryIO,
        passphrase: str,
        *,
        scrypt: ScryptParameters | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if not passphrase:
            raise BackupError("the passphrase is empty")
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size {chunk_size} out of range")
        scrypt = scrypt or ScryptParameters()
        salt, self._prefix = os.urandom(SALT_SIZE), os.urandom(PREFIX_SIZE)
        self._header = _HEADER.pack(
            MAGIC,
            VERSION,
            KDF_SCRYPT,
            scrypt.log2_n,
            scrypt.r,
            scrypt.p,
            AEAD_CHACHA20_POLY1305,
            chunk_size,
            salt,
            self._prefix,
            bytes(7),
        )
        self._aead = ChaCha20Poly1305(scrypt.derive(passphrase, salt))
        self._out = out
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._counter = 0
        self._closed = False
        check = self._aead.encrypt(self._prefix + _HEADER_CHECK, b"", self._header)
        out.write(self._header + check)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise ValueError("write to a closed backup")
        self._buffer += data
        while len(self._buffer) > self._chunk_size:  # keep one back: it may be the last
            self._seal(bytes(self._buffer[: self._chunk_size]), last=False)
            del self._buffer[: self._chunk_size]

    def close(self) -> None:
        """Write the final chunk (what is left, maybe nothing)."""
        if not self._closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        if self._counter >= MAX_CHUNKS:
            raise BackupError("the backup is too large")
        nonce = _nonce(self._prefix, self._counter, last)
        self._out.write(self._aead.encrypt(nonce, plaintext, self._header))
        self._counter += 1


class ArchiveReader:
    """Decrypts a backup from ``source``, a verified chunk at a time.

    The constructor reads the header and checks the passphrase (:class:`WrongPassphrase`);
    :meth:`chunks` yields plaintext chunks, each authenticated before it is yielded, and raises
    :class:`DamagedBackup` at the first one that is not (or if the file ends early or goes on
    after its final chunk). A caller must treat what it got as untrusted until the iteration
    ends without an exception.
    """

    def __init__(self, source: BinaryIO, passphrase: str) -> None:
        head = _read_exactly(source, HEADER_SIZE + TAG_SIZE)
        if len(head) < HEADER_SIZE or head[:8] != MAGIC:
            raise DamagedBackup("not a chinwag backup")
        if len(head) < HEADER_SIZE + TAG_SIZE:
            raise DamagedBackup("the file is cut short")
        header, check = head[:HEADER_SIZE], head[HEADER_SIZE:]
        _magic, version, kdf, log2_n, r, p, aead, chunk_size, salt, prefix, reserved = (
            _HEADER.unpack(header)
        )
        if version != VERSION:
            raise DamagedBackup(f"backup format version {version} is not known to this chinwag")
        if kdf != KDF_SCRYPT or aead != AEAD_CHACHA20_POLY1305 or reserved != bytes(7):
            raise DamagedBackup("unknown key derivation or cipher in the header")
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise DamagedBackup(f"unsupported chunk size {chunk_size}")
        self._aead = ChaCha20Poly1305(ScryptParameters(log2_n, r, p).derive(passphrase, salt))
        try:
            self._aead.decrypt(prefix + _HEADER_CHECK, check, header)
        except InvalidTag:
            raise WrongPassphrase("wrong passphrase (or the file's header was altered)") from None
        self._source = source
        self._header = header
        self._prefix = prefix
        self._sealed_size = chunk_size + TAG_SIZE

    def chunks(self) -> Iterator[bytes]:
        counter = 0
        sealed = _read_exactly(self._source, self._sealed_size)
        while True:
            if len(sealed) < TAG_SIZE:
                raise DamagedBackup("the file is cut short")
            following = b"" if len(sealed) < self._sealed_size else self._peek()
            last = not following
            if counter >= MAX_CHUNKS:
                raise DamagedBackup("the file has too many chunks")
            try:
                plaintext = self._aead.decrypt(
                    _nonce(self._prefix, counter, last), sealed, self._header
                )
            except InvalidTag:
                raise DamagedBackup(
                    f"the file is damaged, cut short or altered (chunk {counter})"
                ) from None
            yield plaintext
            if last:
                return
            counter += 1
            sealed = following + _read_exactly(self._source, self._sealed_size - len(following))

    def _peek(self) -> bytes:
        """A byte of what follows a full chunk: none means that chunk should be the final one."""
        return _read_exactly(self._source, 1)


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of the file (reads may return short)."""
    parts: list[bytes] = []
    left = size
    while left > 0:
        part = source.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)
