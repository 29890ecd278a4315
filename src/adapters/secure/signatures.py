"""The ``Signatures`` port with Ed25519 identity keys (pyca/cryptography).

The same key signs this installation's Noise key (:mod:`chinwag.adapters.secure.keys`, context
``chinwag-noise-static-key:``); every use has its own context, so a signature for one use never
passes for another.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chinwag.adapters.secure.keys import KEY_SIZE, LocalKeys, weak_identity

SIGNATURE_SIZE = 64
CONTEXT = re.compile(rb"chinwag-[a-z]+(?:-[a-z]+)*:")
"""How every signed message starts: its context (no context is a prefix of another, since a
name holds no colon)."""


class IdentitySignatures:
    """Signs with ``keys``' identity key; checks anyone's."""

    def __init__(self, keys: LocalKeys) -> None:
        self._keys = keys

    def sign(self, message: bytes) -> bytes:
        _check_context(message)
        return self._keys.signing.sign(message)

    def verify(self, key: bytes, message: bytes, signature: bytes) -> bool:
        _check_context(message)
        if len(key) != KEY_SIZE or len(signature) != SIGNATURE_SIZE:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return not _weak(key)


@lru_cache(maxsize=4096)
def _weak(key: bytes) -> bool:
    """:func:`weak_identity`, remembered per key: a group's members check every message of the
    same few authors, and the check costs an X25519 exchange (about 40 µs) each time."""
    return weak_identity(key)


def _check_context(message: bytes) -> None:
    """A message without its context is a bug of ours, never something a peer sent."""
    if CONTEXT.match(message) is None:
        raise ValueError(f"a signed message starts with its context: {message[:32]!r}")
