"""Fingerprints and safety numbers: their shapes, their rules, and fixed known answers.

The known answers are computed here, by hand, with hashlib from the published descriptions
(SHA-256 and RFC 4648 base32 for fingerprints; Signal's numeric fingerprint for safety numbers),
so a refactor of ``chinwag.domain.identity`` cannot change a number people compare without a
test saying so.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chinwag.domain.errors import DomainError
from chinwag.domain.identity import (
    FINGERPRINT_CHARS,
    KEY_SIZE,
    SAFETY_NUMBER_ITERATIONS,
    SAFETY_NUMBER_VERSION,
    InvalidFingerprint,
    check_key,
    fingerprint,
    matches,
    normalize_fingerprint,
    safety_number,
    same_fingerprint,
    same_safety_number,
)

keys = st.binary(min_size=KEY_SIZE, max_size=KEY_SIZE)
FINGERPRINT_SHAPE = re.compile(r"[a-z2-7]{4}( [a-z2-7]{4}){12}")
SAFETY_NUMBER_SHAPE = re.compile(r"[0-9]{5}( [0-9]{5}){11}")

ALICE_KEY = bytes(range(32))
BOB_KEY = bytes(range(32, 64))

# Safety numbers cost 2 x 5,200 SHA-512 each (on purpose): keep the property tests small.
few = settings(max_examples=25, deadline=None)


# -- fingerprints ------------------------------------------------------------------------------


@given(keys)
def test_a_fingerprint_is_13_groups_of_4_lowercase_base32_characters(key: bytes) -> None:
    shown = fingerprint(key)
    assert FINGERPRINT_SHAPE.fullmatch(shown)
    assert len(shown.replace(" ", "")) == FINGERPRINT_CHARS == 52


@given(keys)
def test_a_fingerprint_is_the_base32_of_the_keys_sha256(key: bytes) -> None:
    by_hand = base64.b32encode(hashlib.sha256(key).digest()).decode("ascii").rstrip("=").lower()
    assert fingerprint(key).replace(" ", "") == by_hand


def test_a_fingerprint_known_answer() -> None:
    # SHA-256 of the 32 bytes 00 01 .. 1f is 630dcd29...; its base32, lowercased, in fours.
    assert hashlib.sha256(ALICE_KEY).hexdigest().startswith("630dcd2966c4336691125448bbb25b4f")
    assert fingerprint(ALICE_KEY) == (
        "mmg4 2klg yqzw neis krel xms3 j72b fje4 omw3 fsfl yg4f qg6x cdoq"
    )


@given(keys, keys)
def test_different_keys_have_different_fingerprints(a: bytes, b: bytes) -> None:
    assume(a != b)
    assert fingerprint(a) != fingerprint(b)
    assert not matches(a, fingerprint(b))


@given(keys, st.data())
def test_a_fingerprint_as_typed_is_normalized_whatever_its_spacing_and_case(
    key: bytes, data: st.DataObject
) -> None:
    compact = fingerprint(key).replace(" ", "")
    typed = ""
    for char in compact:
        typed += data.draw(st.sampled_from(["", " ", "  ", "\t"])) + data.draw(
            st.sampled_from([char, char.upper()])
        )
    assert normalize_fingerprint(typed) == fingerprint(key)
    assert matches(key, typed)
    assert same_fingerprint(typed, fingerprint(key))


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "abcd",
        "a" * 51,
        "a" * 53,
        "a" * 51 + "1",  # base32 has no 0, 1, 8 or 9
        "a" * 51 + "8",
        "a" * 51 + "=",
        "a" * 51 + "é",
        "a" * 51 + "-",
        "a" * 51 + "\u0430",  # Cyrillic а
    ],
)
def test_what_is_not_a_fingerprint_is_refused(typed: str) -> None:
    with pytest.raises(InvalidFingerprint):
        normalize_fingerprint(typed)
    assert InvalidFingerprint.code == "invalid_fingerprint"


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_a_key_of_the_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(DomainError):
        check_key(b"\x01" * size)
    with pytest.raises(DomainError):
        fingerprint(b"\x01" * size)
    with pytest.raises(DomainError):
        safety_number("alice", b"\x01" * size, "bob", BOB_KEY)


# -- safety numbers ----------------------------------------------------------------------------


@few
@given(keys, keys)
def test_a_safety_number_is_12_groups_of_5_digits_the_same_from_both_sides(
    a: bytes, b: bytes
) -> None:
    seen_by_alice = safety_number("alice", a, "bob", b)
    seen_by_bob = safety_number("bob", b, "alice", a)
    assert SAFETY_NUMBER_SHAPE.fullmatch(seen_by_alice)
    assert seen_by_alice == seen_by_bob


@few
@given(keys, keys, keys)
def test_a_safety_number_changes_with_either_key(a: bytes, b: bytes, other: bytes) -> None:
    assume(other not in (a, b))
    number = safety_number("alice", a, "bob", b)
    assert safety_number("alice", other, "bob", b) != number
    assert safety_number("alice", a, "bob", other) != number


@few
@given(keys, keys)
def test_a_safety_number_changes_with_either_name(a: bytes, b: bytes) -> None:
    number = safety_number("alice", a, "bob", b)
    assert safety_number("alicia", a, "bob", b) != number
    assert safety_number("alice", a, "bobby", b) != number


def test_typed_safety_numbers_ignore_spaces_only() -> None:
    number = safety_number("alice", ALICE_KEY, "bob", BOB_KEY)
    assert same_safety_number(number.replace(" ", ""), number)
    assert same_safety_number(" " + number.replace(" ", "   ") + "\n", number)
    assert not same_safety_number(number[:-1] + str((int(number[-1]) + 1) % 10), number)
    assert not same_safety_number(number[:-1], number)


# Signal's numeric fingerprint, by hand from its published description (libsignal
# ``NumericFingerprintGenerator``; Signal's "Safety number updates", 2016): per side,
#   hash = version (2 bytes, big-endian) || identity key || stable identifier (the name)
#   5,200 times: hash = SHA-512(hash || identity key)
# then 30 digits from the first 30 bytes of the hash: each 5-byte chunk, big-endian, mod 100,000,
# as 5 digits. Both sides' 30 digits, the smaller first, make the 60-digit number.


def signal_digits(name: bytes, key: bytes, iterations: int = 5200) -> str:
    digest = (0).to_bytes(2, "big") + key + name
    for _ in range(iterations):
        digest = hashlib.sha512(digest + key).digest()
    return "".join(
        f"{int.from_bytes(digest[i : i + 5], 'big') % 100_000:05d}" for i in range(0, 30, 5)
    )


def signal_number(name_a: bytes, key_a: bytes, name_b: bytes, key_b: bytes) -> str:
    return "".join(sorted((signal_digits(name_a, key_a), signal_digits(name_b, key_b))))


def test_the_hand_made_reference_matches_libsignals_published_vector() -> None:
    """libsignal's own test vector (``NumericFingerprintGeneratorTest``, version 0 displayable
    fingerprint): proves the reference below reads Signal's description right. Its keys are
    33 bytes (Curve25519 with a type byte), so only the reference, not chinwag, can take them."""
    alice = bytes.fromhex("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868")
    bob = bytes.fromhex("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b")
    assert signal_number(b"+14152222222", alice, b"+14153333333", bob) == (
        "300354477692869396892869876765458257569162576843440918079131"
    )


KNOWN_SAFETY_NUMBER = "30995 66850 10881 98914 36086 86589 42897 09292 78922 06503 11987 06478"
"""Alice (keys 00..1f) and bob (keys 20..3f): ``signal_number`` once, written down."""


def test_the_known_answer_is_signals_number_for_these_keys() -> None:
    by_hand = signal_number(b"alice", ALICE_KEY, b"bob", BOB_KEY)
    assert " ".join(by_hand[i : i + 5] for i in range(0, 60, 5)) == KNOWN_SAFETY_NUMBER


def test_the_parameters_are_signals() -> None:
    assert (SAFETY_NUMBER_VERSION, SAFETY_NUMBER_ITERATIONS) == (0, 5200)


def test_chinwags_safety_number_is_the_known_answer() -> None:
    assert safety_number("alice", ALICE_KEY, "bob", BOB_KEY) == KNOWN_SAFETY_NUMBER
    assert safety_number("bob", BOB_KEY, "alice", ALICE_KEY) == KNOWN_SAFETY_NUMBER
