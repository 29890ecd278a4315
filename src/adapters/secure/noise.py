"""The Noise Protocol Framework, revision 34, over pyca/cryptography.

chinwag speaks ``Noise_XX_25519_ChaChaPoly_SHA256`` (DESIGN.md §9): mutual authentication with
keys nobody vouched for beforehand, which stdlib ``ssl`` cannot do. The ``noiseprotocol`` package
is unmaintained and forgets the peer's static key, so this is a small implementation of the spec's
three objects (CipherState, SymmetricState, HandshakeState) for the fifteen basic patterns without
PSK, proven byte for byte by the published cacophony vectors (tests/unit/test_noise_vectors.py).
Every primitive comes from ``cryptography``; only the framework's bookkeeping is written here.

Every failure is a :class:`NoiseError`, and a handshake that failed once stays failed: nothing is
resumed after a peer sent something wrong.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x448 import X448PrivateKey, X448PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chinwag.adapters.secure.noise_cipher import (
    CIPHERS,
    MAX_MESSAGE,
    MAX_NONCE,
    TAG_SIZE,
    CipherState,
    NoiseError,
)

__all__ = [
    "MAX_MESSAGE",
    "MAX_NONCE",
    "PROTOCOL_NAME",
    "TAG_SIZE",
    "CipherState",
    "HandshakeState",
    "NoiseError",
    "SymmetricState",
    "generate_private_key",
    "public_key",
]

PROTOCOL_NAME: Final = "Noise_XX_25519_ChaChaPoly_SHA256"
"""The one protocol chinwag speaks; the others exist to be checked against the test vectors."""

_DH_LEN: Final = {"25519": 32, "448": 56}
_PRIVATE_KEYS: Final[dict[str, type[X25519PrivateKey] | type[X448PrivateKey]]] = {
    "25519": X25519PrivateKey,
    "448": X448PrivateKey,
}
_HASHES: Final[dict[str, hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256(),
    "SHA512": hashes.SHA512(),
    "BLAKE2s": hashes.BLAKE2s(32),
    "BLAKE2b": hashes.BLAKE2b(64),
}
# Pattern -> (initiator's pre-message, responder's pre-message, messages) as in spec §7.4-7.5.
# Messages alternate, the initiator's first, and are separated by "|".
_PATTERNS: Final = {
    "N": ("", "s", "e es"),
    "K": ("s", "s", "e es ss"),
    "X": ("", "s", "e es s ss"),
    "NN": ("", "", "e | e ee"),
    "NK": ("", "s", "e es | e ee"),
    "NX": ("", "", "e | e ee s es"),
    "XN": ("", "", "e | e ee | s se"),
    "XK": ("", "s", "e es | e ee | s se"),
    "XX": ("", "", "e | e ee s es | s se"),
    "KN": ("s", "", "e | e ee se"),
    "KK": ("s", "s", "e es ss | e ee se"),
    "KX": ("s", "", "e | e ee se s es"),
    "IN": ("", "", "e s | e ee se"),
    "IK": ("", "s", "e es s ss | e ee se"),
    "IX": ("", "", "e s | e ee se s es"),
}


class SymmetricState:
    """The handshake transcript hash ``h`` and chaining key ``ck`` (spec §5.2)."""

    def __init__(self, protocol_name: str, cipher: str, hash_name: str) -> None:
        self._algorithm = _HASHES[hash_name]
        self._cipher = cipher
        name = protocol_name.encode("ascii")
        size = self._algorithm.digest_size
        self.h = name.ljust(size, b"\0") if len(name) <= size else self._hash(name)
        self.ck = self.h
        self.cipher_state = CipherState(cipher)

    def _hash(self, data: bytes) -> bytes:
        digest = hashes.Hash(self._algorithm)
        digest.update(data)
        return digest.finalize()

    def _hkdf(self, ikm: bytes) -> tuple[bytes, bytes]:
        """Noise's HKDF (spec §4.3) is RFC 5869's with ``ck`` as salt and no info: two outputs."""
        size = self._algorithm.digest_size
        okm = HKDF(algorithm=self._algorithm, length=2 * size, salt=self.ck, info=b"").derive(ikm)
        return okm[:size], okm[size:]

    def mix_key(self, ikm: bytes) -> None:
        """Fold a DH result into ``ck`` and key the cipher (keys are 32 bytes for any hash)."""
        self.ck, temp_k = self._hkdf(ikm)
        self.cipher_state.initialize_key(temp_k[:32])

    def mix_hash(self, data: bytes) -> None:
        """Bind ``data`` into the transcript, so both sides agree on everything seen."""
        self.h = self._hash(self.h + data)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        """Encrypt with the transcript as associated data, then add the ciphertext to it."""
        ciphertext = self.cipher_state.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        """The reading side of :meth:`encrypt_and_hash`."""
        plaintext = self.cipher_state.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        """The two transport ciphers: initiator to responder, then responder to initiator."""
        first, second = self._hkdf(b"")
        return CipherState(self._cipher, first[:32]), CipherState(self._cipher, second[:32])


class _KeyPair:
    """A DH private key parsed once, with its raw public key."""

    def __init__(self, dh: str, private: bytes | None = None) -> None:
        kind = _PRIVATE_KEYS.get(dh)
        if kind is None:
            raise ValueError(f"unsupported Noise DH function {dh!r}")
        self._key = kind.generate() if private is None else kind.from_private_bytes(private)
        self.public = self._key.public_key().public_bytes_raw()
        self.private = self._key.private_bytes_raw()

    def dh(self, remote: bytes) -> bytes:
        """DH with a peer's raw public key; a low-order key (all-zero result) is refused."""
        try:
            if isinstance(self._key, X25519PrivateKey):
                return self._key.exchange(X25519PublicKey.from_public_bytes(remote))
            return self._key.exchange(X448PublicKey.from_public_bytes(remote))
        except ValueError:
            raise NoiseError("the peer's public key is malformed or of low order") from None


# Every low-order point gives the all-zero DH result whatever the (clamped) scalar, so one trial
# DH with a throwaway key of ours refuses such a key as soon as it arrives, not at the pattern's
# first DH with it (for XX's message 1 that would be the responder's next write, not this read).
_PROBES: Final = {dh: _KeyPair(dh) for dh in _DH_LEN}


def _checked(dh: str, public: bytes) -> bytes:
    _PROBES[dh].dh(public)
    return public


def public_key(private: bytes, dh: str = "25519") -> bytes:
    """The raw public key of a raw private key."""
    return _KeyPair(dh, private).public


def generate_private_key(dh: str = "25519") -> bytes:
    """A fresh raw private key for ``dh``."""
    return _KeyPair(dh).private


def _parse(protocol_name: str) -> tuple[str, str, str, str]:
    parts = protocol_name.split("_")
    tables: tuple[Collection[str], ...] = (("Noise",), _PATTERNS, _DH_LEN, CIPHERS, _HASHES)
    if len(parts) != len(tables) or any(p not in t for p, t in zip(parts, tables, strict=True)):
        raise ValueError(
            f"unsupported Noise protocol {protocol_name!r}: expected Noise_PATTERN_DH_CIPHER_HASH"
            f" with PATTERN in {', '.join(_PATTERNS)} (no PSK or other modifiers), DH in"
            f" {', '.join(_DH_LEN)}, CIPHER in {', '.join(CIPHERS)}, HASH in {', '.join(_HASHES)}"
        )
    return parts[1], parts[2], parts[3], parts[4]


class HandshakeState:
    """One side of a handshake (spec §5.3), message by message, then :meth:`split`.

    Keys are raw bytes: ``s`` our static private key, ``rs`` the peer's static public key when
    known beforehand, ``e`` and ``re`` only to replay test vectors.
    """

    def __init__(
        self,
        protocol_name: str,
        *,
        initiator: bool,
        prologue: bytes = b"",
        s: bytes | None = None,
        e: bytes | None = None,
        rs: bytes | None = None,
        re: bytes | None = None,
    ) -> None:
        pattern, dh, cipher, hash_name = _parse(protocol_name)
        pre_initiator, pre_responder, messages = _PATTERNS[pattern]
        self.protocol_name = protocol_name
        self._dh, self._dh_len, self._initiator = dh, _DH_LEN[dh], initiator
        for name, remote in (("rs", rs), ("re", re)):
            if remote is not None and len(remote) != self._dh_len:
                raise ValueError(f"{name} must be a {self._dh_len}-byte {dh} public key")
        self._s = None if s is None else _KeyPair(dh, s)
        self._e = None if e is None else _KeyPair(dh, e)
        self._rs, self._re = rs, re
        self._messages = [message.split() for message in messages.split("|")]
        ours = pre_initiator if initiator else pre_responder
        sent = [token for tokens in self._messages[0 if initiator else 1 :: 2] for token in tokens]
        if s is None and ("s" in ours or "s" in sent):
            raise ValueError(f"{protocol_name} needs our static key s")
        if rs is None and "s" in (pre_responder if initiator else pre_initiator):
            raise ValueError(f"{protocol_name} needs the peer's static key rs beforehand")
        self._symmetric = SymmetricState(protocol_name, cipher, hash_name)
        self._symmetric.mix_hash(prologue)
        for pre, by_us in ((pre_initiator, initiator), (pre_responder, not initiator)):
            if pre:  # "s" in every pattern here: that side's static public key, checked above
                key = self._s.public if by_us and self._s else rs
                assert key is not None
                self._symmetric.mix_hash(key)
        self._index = 0
        self._failed = self._split = False

    @property
    def complete(self) -> bool:
        """Whether every handshake message was written or read: :meth:`split` may be called."""
        return self._index >= len(self._messages)

    @property
    def remote_static(self) -> bytes | None:
        """The peer's static public key, once received (or as given beforehand)."""
        return self._rs

    @property
    def handshake_hash(self) -> bytes:
        """The transcript hash ``h``: equal on both sides and unique to this handshake."""
        return self._symmetric.h

    def _turn(self, *, writing: bool) -> list[str]:
        if self._failed:
            raise NoiseError("this handshake already failed")
        if self.complete:
            raise NoiseError("the handshake is complete")
        if (self._index % 2 == 0) != (self._initiator == writing):
            raise NoiseError(f"not our turn to {'write' if writing else 'read'}")
        return self._messages[self._index]

    @contextmanager
    def _fail_on_error(self) -> Iterator[None]:
        """A half-processed message leaves the state useless: mark it so nothing goes on."""
        try:
            yield
        except NoiseError:
            self._failed = True
            raise

    def _dh_token(self, token: str) -> bytes:
        """``ee``/``es``/``se``/``ss``: letters name the initiator's key first, so swap for us."""
        mine, theirs = (token[0], token[1]) if self._initiator else (token[1], token[0])
        local = self._e if mine == "e" else self._s
        remote = self._re if theirs == "e" else self._rs
        if local is None or remote is None:
            raise NoiseError(f"a key for {token} is missing")
        return local.dh(remote)

    def _overhead(self, tokens: list[str]) -> int:
        """What the tokens and the payload's tag add to a message, known before any change."""
        keyed = self._symmetric.cipher_state.has_key()
        size = 0
        for token in tokens:
            if token in ("e", "s"):
                size += self._dh_len + (TAG_SIZE if token == "s" and keyed else 0)
            else:
                keyed = True
        return size + (TAG_SIZE if keyed else 0)

    def write_message(self, payload: bytes = b"") -> bytes:
        """Our next handshake message, carrying ``payload`` (encrypted once a key exists)."""
        tokens = self._turn(writing=True)
        if len(payload) > MAX_MESSAGE - self._overhead(tokens):
            raise NoiseError(f"payload too long: a Noise message holds at most {MAX_MESSAGE} bytes")
        out = bytearray()
        with self._fail_on_error():
            for token in tokens:
                if token == "e":
                    self._e = self._e or _KeyPair(self._dh)
                    out += self._e.public
                    self._symmetric.mix_hash(self._e.public)
                elif token == "s":
                    assert self._s is not None  # checked in __init__
                    out += self._symmetric.encrypt_and_hash(self._s.public)
                else:
                    self._symmetric.mix_key(self._dh_token(token))
            out += self._symmetric.encrypt_and_hash(payload)
        self._index += 1
        return bytes(out)

    def read_message(self, message: bytes) -> bytes:
        """Process the peer's next handshake message and return its payload."""
        tokens = self._turn(writing=False)
        with self._fail_on_error():
            if len(message) > MAX_MESSAGE:
                raise NoiseError(f"message too long: Noise allows at most {MAX_MESSAGE} bytes")
            rest = bytes(message)
            for token in tokens:
                if token not in ("e", "s"):
                    self._symmetric.mix_key(self._dh_token(token))
                    continue
                keyed = token == "s" and self._symmetric.cipher_state.has_key()
                size = self._dh_len + (TAG_SIZE if keyed else 0)
                if len(rest) < size:
                    raise NoiseError("handshake message too short")
                part, rest = rest[:size], rest[size:]
                if token == "e":
                    self._symmetric.mix_hash(part)
                    self._re = _checked(self._dh, part)
                else:
                    self._rs = _checked(self._dh, self._symmetric.decrypt_and_hash(part))
            payload = self._symmetric.decrypt_and_hash(rest)
        self._index += 1
        return payload

    def split(self) -> tuple[CipherState, CipherState]:
        """(initiator->responder, responder->initiator) ciphers, once, after the last message.

        A second split would hand out the same keys with fresh nonces, a nonce reuse waiting to
        happen, so it is refused.
        """
        if not self.complete or self._failed:
            raise NoiseError("the handshake is not complete")
        if self._split:
            raise NoiseError("the handshake was already split")
        self._split = True
        return self._symmetric.split()
