"""The ``Signatures`` port with Ed25519 identity keys (pyca/cryptography).

The same key signs this installation's Noise key (:mod:`chinwag.adapters.secure.keys`); every
use has its own context, so a signature for one use never passes for another.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chinwag.adapters.secure.keys import KEY_SIZE, LocalKeys, weak_identity

SIGNATURE_SIZE = 64


class IdentitySignatures:
    """Signs with ``keys``' identity key; checks anyone's."""

    def __init__(self, keys: LocalKeys) -> None:
        self._keys = keys

    def sign(self, context: bytes, data: bytes) -> bytes:
        _check_context(context)
        return self._keys.signing.sign(context + data)

    def verify(self, key: bytes, context: bytes, data: bytes, signature: bytes) -> bool:
        _check_context(context)
        if len(key) != KEY_SIZE or len(signature) != SIGNATURE_SIZE:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(signature, context + data)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return not weak_identity(key)


CONTEXT_PREFIX = b"chinwag "
"""Every context starts so, and ends its line: never a prefix of another context, nor of what
the Noise key's signature covers (``chinwag-noise-static-key:`` + the key)."""


def _check_context(context: bytes) -> None:
    if (
        not context.startswith(CONTEXT_PREFIX)
        or not context.endswith(b"\n")
        or b"\n" in context[:-1]
    ):
        raise ValueError(f"not a signature context: {context!r}")
