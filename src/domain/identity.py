"""Identity keys as people see them: fingerprints and safety numbers. Pure functions, no I/O.

An identity key is the raw 32 bytes of an Ed25519 public key. Names are bound to it, contacts
are pinned to it, and both numbers below are made of it (never of the Noise key it signs).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

from chinwag.domain.errors import DomainError

KEY_SIZE: Final = 32
"""Bytes in an identity key (an Ed25519 public key)."""

FINGERPRINT_CHARS: Final = 52
"""Base32 characters in a fingerprint: SHA-256 is 32 bytes, 52 characters without padding."""

SAFETY_NUMBER_VERSION: Final = 0
SAFETY_NUMBER_ITERATIONS: Final = 5200
"""As Signal's numeric fingerprints (libsignal ``NumericFingerprintGenerator``): slow enough that
finding a second key with the same 30 digits costs an attacker 5,200 hashes per try."""


class InvalidFingerprint(DomainError):
    code = "invalid_fingerprint"


def check_key(key: bytes) -> bytes:
    """``key`` if it has the size of an identity key, else :class:`DomainError`."""
    if len(key) != KEY_SIZE:
        raise DomainError(f"an identity key is {KEY_SIZE} bytes, not {len(key)}")
    return key


def _grouped(text: str, size: int) -> str:
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def fingerprint(key: bytes) -> str:
    """How ``key`` is shown everywhere: lowercase base32 of its SHA-256, in groups of four."""
    digest = hashlib.sha256(check_key(key)).digest()
    return _grouped(base64.b32encode(digest).decode("ascii").rstrip("=").lower(), 4)


def normalize_fingerprint(text: str) -> str:
    """A fingerprint as typed (any case, any spacing) in its one canonical form; or raise
    :class:`InvalidFingerprint`."""
    compact = "".join(text.split()).lower()
    if len(compact) != FINGERPRINT_CHARS or not set(compact) <= set(
        "abcdefghijklmnopqrstuvwxyz234567"
    ):
        raise InvalidFingerprint(
            f"a fingerprint is {FINGERPRINT_CHARS} letters and digits 2-7 (spaces do not count)"
        )
    return _grouped(compact, 4)


def same_fingerprint(a: str, b: str) -> bool:
    """Whether two fingerprints are the same, ignoring spaces and case."""
    return "".join(a.split()).lower() == "".join(b.split()).lower()


def matches(key: bytes, typed: str) -> bool:
    """Whether ``typed`` is the fingerprint of ``key``."""
    return same_fingerprint(fingerprint(key), typed)


def _half(name: str, key: bytes) -> str:
    """One side's 30 digits (libsignal's ``getDisplayStringFor``)."""
    digest = SAFETY_NUMBER_VERSION.to_bytes(2, "big") + check_key(key) + name.encode("utf-8")
    for _ in range(SAFETY_NUMBER_ITERATIONS):
        digest = hashlib.sha512(digest + key).digest()
    return "".join(
        f"{int.from_bytes(digest[i : i + 5], 'big') % 100_000:05d}" for i in range(0, 30, 5)
    )


def safety_number(name_a: str, key_a: bytes, name_b: str, key_b: bytes) -> str:
    """The 60-digit number both people see for their conversation, in groups of five.

    Made of both names and both identity keys, in an order that does not depend on who asks, so
    it reads the same on both ends; it differs as soon as either key differs.
    """
    halves = sorted((_half(name_a, key_a), _half(name_b, key_b)))
    return _grouped("".join(halves), 5)


def same_safety_number(a: str, b: str) -> bool:
    """Whether a number typed by the user is ``b`` (spaces ignored)."""
    return "".join(a.split()) == "".join(b.split())
