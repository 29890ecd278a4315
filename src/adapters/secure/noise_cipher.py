"""Noise's CipherState (spec §5.1) and its AEADs, over pyca/cryptography: what a session's
records are sealed and opened with once the handshake is over (:mod:`.noise` has the rest of
the framework, and re-exports these names)."""

from __future__ import annotations

import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

MAX_MESSAGE: Final = 65535
"""Noise's maximum message length in bytes, for handshake and transport messages alike."""
TAG_SIZE: Final = 16
"""What the AEAD adds to every encrypted payload."""
MAX_NONCE: Final = 2**64 - 1
"""Reserved by Noise for rekeying: nothing is ever encrypted or decrypted at this nonce."""
# The 12-byte nonce is 4 zero bytes and the 64-bit counter, little-endian for ChaChaPoly and
# big-endian for AESGCM (spec §12.3, §12.4). A prebuilt Struct packs it in one call per message.
_NONCES: Final = {"ChaChaPoly": struct.Struct("<4xQ"), "AESGCM": struct.Struct(">4xQ")}
CIPHERS: Final = tuple(_NONCES)
"""The cipher names a protocol name may hold."""


class NoiseError(Exception):
    """A Noise operation failed (bad tag or key, wrong turn, too long, nonce spent): drop it."""


def _aead(cipher: str, key: bytes) -> ChaCha20Poly1305 | AESGCM:
    return ChaCha20Poly1305(key) if cipher == "ChaChaPoly" else AESGCM(key)


class CipherState:
    """A key and its counter nonce (spec §5.1); without a key it passes plaintext through.

    The AEAD object is built once per key, not per message: building it costs about as much as
    sealing a small record, and a chat session seals many small records.
    """

    def __init__(self, cipher: str = "ChaChaPoly", key: bytes | None = None) -> None:
        if cipher not in _NONCES:
            raise ValueError(f"unsupported Noise cipher {cipher!r}")
        self._cipher = cipher
        self._pack_nonce = _NONCES[cipher].pack
        self._aead: ChaCha20Poly1305 | AESGCM | None = None
        self._n = 0
        if key is not None:
            self.initialize_key(key)

    def initialize_key(self, key: bytes) -> None:
        """Take a new 32-byte key with the nonce back at zero (InitializeKey)."""
        self._aead = _aead(self._cipher, key)
        self._n = 0

    def has_key(self) -> bool:
        """Whether messages are encrypted yet: early handshake payloads travel in the clear."""
        return self._aead is not None

    @property
    def nonce(self) -> int:
        """The counter the next message uses: one per message, never reused for a key."""
        return self._n

    def set_nonce(self, nonce: int) -> None:
        """SetNonce, for a transport that carries explicit nonces (and for tests of the limit)."""
        if not 0 <= nonce <= MAX_NONCE:
            raise ValueError("a Noise nonce is a 64-bit unsigned integer")
        self._n = nonce

    def _next_nonce(self) -> bytes:
        if self._n >= MAX_NONCE:
            raise NoiseError("nonce space spent: a new session should have started long ago")
        return self._pack_nonce(self._n)

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes | memoryview) -> bytes:
        """Seal ``plaintext`` bound to ``ad``; the nonce advances only when a message is made."""
        if len(plaintext) + (0 if self._aead is None else TAG_SIZE) > MAX_MESSAGE:
            raise NoiseError(f"a Noise message holds at most {MAX_MESSAGE} bytes")
        if self._aead is None:
            return bytes(plaintext)
        ciphertext = self._aead.encrypt(self._next_nonce(), plaintext, ad)
        self._n += 1
        return ciphertext

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes:
        """Open ``ciphertext``; on failure the nonce stays (though the session should end)."""
        if len(ciphertext) > MAX_MESSAGE:
            raise NoiseError(f"a Noise message holds at most {MAX_MESSAGE} bytes")
        if self._aead is None:
            return ciphertext
        try:
            plaintext = self._aead.decrypt(self._next_nonce(), ciphertext, ad)
        except InvalidTag:
            raise NoiseError("message failed authentication") from None
        self._n += 1
        return plaintext

    def rekey(self) -> None:
        """Replace the key by one derived from it (spec §11.3), keeping the nonce."""
        if self._aead is None:
            raise NoiseError("there is no key to rekey")
        key = self._aead.encrypt(self._pack_nonce(MAX_NONCE), bytes(32), b"")[:32]
        self._aead = _aead(self._cipher, key)
