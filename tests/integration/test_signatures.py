"""Signatures with identity keys (the real Ed25519 adapter): what verifies and what never does."""

from __future__ import annotations

import pytest

from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.secure.signatures import IdentitySignatures
from chinwag.application.ports.signatures import Signatures

CHANGE = b"chinwag group change 1\n"
POST = b"chinwag group message 1\n"


def test_a_signature_verifies_for_its_key_context_and_data_only() -> None:
    alice, bob = LocalKeys.generate(), LocalKeys.generate()
    signatures: Signatures = IdentitySignatures(alice)
    signed = signatures.sign(CHANGE, b"add carol")
    check = IdentitySignatures(bob)  # anyone can check
    assert check.verify(alice.identity_key, CHANGE, b"add carol", signed)
    assert not check.verify(bob.identity_key, CHANGE, b"add carol", signed)  # another key
    assert not check.verify(alice.identity_key, POST, b"add carol", signed)  # another use
    assert not check.verify(alice.identity_key, CHANGE, b"add carl", signed)  # altered
    forged = bytes([signed[0] ^ 1]) + signed[1:]
    assert not check.verify(alice.identity_key, CHANGE, b"add carol", forged)


@pytest.mark.parametrize(
    ("key", "signature"),
    [
        (b"", b"\x00" * 64),
        (b"\x00" * 31, b"\x00" * 64),
        (b"\x00" * 32, b"\x00" * 64),  # a key nobody holds "signs" anything with zeros
        (bytes([1]) + b"\x00" * 31, b"\x00" * 64),  # the neutral point
        (LocalKeys.generate().identity_key, b"\x00" * 63),
    ],
)
def test_malformed_or_weak_keys_and_signatures_never_verify(key: bytes, signature: bytes) -> None:
    assert not IdentitySignatures(LocalKeys.generate()).verify(key, CHANGE, b"x", signature)


@pytest.mark.parametrize(
    "context", [b"", b"chinwag group\n\n", b"no prefix\n", b"chinwag-noise-static-key:\n", b"x"]
)
def test_a_context_must_be_one_chinwag_line(context: bytes) -> None:
    with pytest.raises(ValueError, match="not a signature context"):
        IdentitySignatures(LocalKeys.generate()).sign(context, b"data")
