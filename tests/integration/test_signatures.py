"""Signatures with identity keys (the real Ed25519 adapter): what verifies and what never does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chinwag.adapters.secure.keys import STATIC_KEY_CONTEXT, LocalKeys
from chinwag.adapters.secure.signatures import IdentitySignatures
from chinwag.application.ports.signatures import Signatures
from chinwag.domain.group import CHANGE_CONTEXT, Change, ChangeKind
from chinwag.domain.group_log import canonical

ADD = CHANGE_CONTEXT + b'{"kind":"add"}'


def test_a_signature_verifies_for_its_key_and_message_only() -> None:
    alice, bob = LocalKeys.generate(), LocalKeys.generate()
    signatures: Signatures = IdentitySignatures(alice)
    signed = signatures.sign(ADD)
    check = IdentitySignatures(bob)  # anyone can check
    assert check.verify(alice.identity_key, ADD, signed)
    assert not check.verify(bob.identity_key, ADD, signed)  # another key
    assert not check.verify(alice.identity_key, ADD + b" ", signed)  # altered
    forged = bytes([signed[0] ^ 1]) + signed[1:]
    assert not check.verify(alice.identity_key, ADD, forged)


def test_the_noise_keys_signature_is_of_the_same_form() -> None:
    keys = LocalKeys.generate()
    signed = STATIC_KEY_CONTEXT + keys.noise_public
    assert IdentitySignatures(keys).verify(keys.identity_key, signed, keys.static_key_signature())


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
    assert not IdentitySignatures(LocalKeys.generate()).verify(key, ADD, signature)


@pytest.mark.parametrize(
    "message", [b"", b"no context", b"chinwag-:x", b"chinwag-Group:x", b"chinwag group:x"]
)
def test_a_message_must_start_with_its_context(message: bytes) -> None:
    with pytest.raises(ValueError, match="starts with its context"):
        IdentitySignatures(LocalKeys.generate()).sign(message)


def test_a_group_log_signed_with_real_keys_is_checked_with_them() -> None:
    alice, bob, mallory = LocalKeys.generate(), LocalKeys.generate(), LocalKeys.generate()
    at = datetime(2026, 11, 30, tzinfo=UTC)
    unsigned = Change.create(
        author="alice",
        key=alice.identity_key,
        name="Trip",
        members={"bob": bob.identity_key},
        at=at,
    )
    create = unsigned.signed(IdentitySignatures(alice).sign(unsigned.signed_bytes()))
    rename = Change(
        group=create.group,
        kind=ChangeKind.RENAME,
        version=1,
        prev=create.hash(),
        author="alice",
        at=at,
        name="Trip 2027",
    )
    forged = rename.model_copy(update={"name": "Mallory's"})
    changes = [
        create,
        rename.signed(IdentitySignatures(alice).sign(rename.signed_bytes())),
        forged.signed(IdentitySignatures(mallory).sign(forged.signed_bytes())),
    ]
    state, chain = canonical(changes, IdentitySignatures(bob).verify, group=create.group)
    assert state.name == "Trip 2027" and len(chain) == 2
    assert state.key_of("bob") == bob.identity_key
