"""This installation's keys: an Ed25519 identity and the X25519 Noise static key it signs.

As libp2p does it: the identity key is who you are (fingerprints, pins and safety numbers are
made of it); the Noise key only encrypts, and is bound to the identity by a signature that
travels in the encrypted handshake payload, so it can be replaced without changing who you are.

The key file is the one thing that must never be silently replaced: new keys would make you
somebody else to every contact who pinned you. So a damaged file is an error, never a reason to
make new keys, and two processes starting at once agree on one identity.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from chinwag.adapters.files import UnsafePath, create_private, read_private, read_versioned_json

STATIC_KEY_CONTEXT: Final = b"chinwag-noise-static-key:"
"""Prefix of what the identity key signs, so that signature can never be taken for another."""

KEY_FILE_VERSION: Final = 1
KEY_SIZE: Final = 32
"""Bytes of every raw key here: Ed25519 and X25519, public and private."""

_MAX_KEY_FILE = 64 * 1024
"""A key file is about 150 bytes; anything this big is not one (and is not parsed)."""


class KeyFileError(OSError):
    """The key file exists but cannot be used; it is left alone for the user to look at."""


@dataclass(frozen=True)
class LocalKeys:
    """The private keys of this installation (user + data folder)."""

    signing: Ed25519PrivateKey = field(repr=False)
    """The identity: signs the Noise key; its public half is what others pin."""
    noise: X25519PrivateKey = field(repr=False)
    """The Noise static key, used in the handshake only."""

    @cached_property
    def identity_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key: what fingerprints are made of."""
        return self.signing.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @cached_property
    def noise_private(self) -> bytes:
        """The raw 32-byte X25519 private key (Noise libraries take raw keys)."""
        return self.noise.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @cached_property
    def noise_public(self) -> bytes:
        """The raw 32-byte X25519 public key, as the peer sees it in the handshake."""
        return self.noise.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def static_key_signature(self) -> bytes:
        """The identity's signature over the Noise public key (see :func:`verify_static_key`);
        made once (Ed25519 signatures are deterministic), sent in every handshake."""
        return self._signature

    @cached_property
    def _signature(self) -> bytes:
        return self.signing.sign(STATIC_KEY_CONTEXT + self.noise_public)

    @classmethod
    def generate(cls) -> LocalKeys:
        """Fresh keys from the operating system's random source."""
        return cls(signing=Ed25519PrivateKey.generate(), noise=X25519PrivateKey.generate())

    def __repr__(self) -> str:
        return f"LocalKeys(identity_key={self.identity_key.hex()})"


BytesLike = bytes | bytearray | memoryview


def verify_static_key(
    identity_key: BytesLike, noise_public: BytesLike, signature: BytesLike
) -> bool:
    """Whether ``identity_key`` signed ``noise_public``; ``False`` for anything malformed.

    A peer's handshake payload is untrusted input: wrong sizes, wrong types or a bad signature
    are all just "not proven", never an exception that could end more than this handshake.
    Keys of small order are refused too, though their signatures verify (see
    :func:`weak_identity`): no one holds their private half, so they prove nothing.
    """
    parts = (identity_key, noise_public, signature)
    if not all(isinstance(part, bytes | bytearray | memoryview) for part in parts):
        return False
    identity, noise, signed = (bytes(part) for part in parts)
    if len(identity) != KEY_SIZE or len(noise) != KEY_SIZE or len(signed) != 64:
        return False
    try:
        public = Ed25519PublicKey.from_public_bytes(identity)
        public.verify(signed, STATIC_KEY_CONTEXT + noise)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return not weak_identity(identity) and not _weak_noise_key(noise)


_P: Final = 2**255 - 19
"""The prime of Curve25519's field."""


_PROBE: Final = X25519PrivateKey.generate()
"""A throwaway key to test others with: its exchanges are never used for anything."""


def _weak_noise_key(u: bytes) -> bool:
    """Whether Diffie-Hellman with ``u`` gives all zeros: a point of small order (or on the
    twist's small subgroup), which would make a session key everybody knows."""
    try:
        _PROBE.exchange(X25519PublicKey.from_public_bytes(u))
    except ValueError:
        return True
    return False


def weak_identity(identity_key: bytes) -> bool:
    """Whether ``identity_key`` is an Ed25519 point nobody owns (small order) or not canonical.

    OpenSSL's verify accepts them: the all-zero key "signs" anything with an all-zero
    signature, so such a key would be an identity anyone can claim. Small-order Edwards points
    map to small-order Montgomery points (``u = (1 + y) / (1 - y)``), checked as Noise keys are;
    ``y = 1`` is the neutral point itself, which has no ``u``.
    """
    y = int.from_bytes(identity_key, "little") & ((1 << 255) - 1)
    if y >= _P or y == 1:
        return True
    u = (1 + y) * pow(1 - y, -1, _P) % _P
    return _weak_noise_key(u.to_bytes(32, "little"))


def encode_keys(keys: LocalKeys) -> bytes:
    """The key file's content: small, versioned JSON with the raw private keys in base64."""
    signing = keys.signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    document = {
        "version": KEY_FILE_VERSION,
        "identity": base64.b64encode(signing).decode("ascii"),
        "noise": base64.b64encode(keys.noise_private).decode("ascii"),
    }
    return (json.dumps(document, indent=1) + "\n").encode("ascii")


def decode_keys(data: bytes, path: Path) -> LocalKeys:
    """Keys from a key file's bytes, or :class:`KeyFileError` naming ``path`` and the fault."""

    def damaged(why: str) -> KeyFileError:
        return KeyFileError(
            f"the key file {path} is damaged ({why}); chinwag will not replace it, since new "
            "keys would make you someone else to your contacts: restore it from a backup, or "
            "move it away to start with a new identity"
        )

    document = read_versioned_json(
        data, version=KEY_FILE_VERSION, max_size=_MAX_KEY_FILE, damaged=damaged
    )

    def raw(name: str) -> bytes:
        return decode_raw_key(document.get(name), f"the {name!r} key", damaged)

    return LocalKeys(
        signing=Ed25519PrivateKey.from_private_bytes(raw("identity")),
        noise=X25519PrivateKey.from_private_bytes(raw("noise")),
    )


def decode_raw_key(text: object, label: str, damaged: Callable[[str], Exception]) -> bytes:
    """A 32-byte raw key from the base64 text our files keep it as; else ``damaged(why)``."""
    if text is None:
        raise damaged(f"{label} is missing")
    if not isinstance(text, str):
        raise damaged(f"{label} is not text")
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise damaged(f"{label} is not base64") from None
    if len(value) != KEY_SIZE:
        raise damaged(f"{label} is {len(value)} bytes, not {KEY_SIZE}")
    return value


def load_or_create_keys(path: Path) -> LocalKeys:
    """This installation's keys from ``path``, made (0600) the first time.

    Creation is exclusive and atomic (:func:`chinwag.adapters.files.create_private`), and the
    file is read back either way: if two processes start at once, the one that loses the race
    uses the keys the other wrote, so there is only ever one identity. A link at ``path`` is
    refused (:class:`~chinwag.adapters.files.UnsafePath`), nothing is written through it;
    a file that exists but cannot be read or decoded raises :class:`KeyFileError`.
    The folder must exist (it is the user's private folder).
    """
    try:
        try:
            data = read_private(path)
        except FileNotFoundError:
            create_private(path, encode_keys(LocalKeys.generate()))
            data = read_private(path)  # ours, or the winner's if another process was first
    except UnsafePath:
        raise
    except FileNotFoundError as exc:
        raise KeyFileError(f"the key file {path} vanished while it was being created") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot use the key file {path}: {exc.strerror or exc}") from exc
    return decode_keys(data, path)
