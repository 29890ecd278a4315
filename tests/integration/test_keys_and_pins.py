"""The identity key file and the registry pins on a real disk."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chinwag.adapters.files import UnsafePath, create_private
from chinwag.adapters.registry.pins import PinsError, RegistryPins, registry_address
from chinwag.adapters.secure.keys import (
    STATIC_KEY_CONTEXT,
    KeyFileError,
    LocalKeys,
    encode_keys,
    load_or_create_keys,
    verify_static_key,
)
from tests.support import mode, permissive_umask  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("permissive_umask")]

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and links")


# --- keys and signatures -------------------------------------------------------------------


def test_keys_have_the_sizes_noise_and_fingerprints_expect() -> None:
    keys = LocalKeys.generate()
    assert len(keys.identity_key) == 32
    assert len(keys.noise_private) == 32
    assert len(keys.noise_public) == 32
    assert keys.identity_key != keys.noise_public
    assert LocalKeys.generate().identity_key != keys.identity_key
    assert keys.identity_key.hex() in repr(keys)
    assert keys.noise_private.hex() not in repr(keys)


def test_the_identity_vouches_for_its_noise_key() -> None:
    keys = LocalKeys.generate()
    signature = keys.static_key_signature()
    assert verify_static_key(keys.identity_key, keys.noise_public, signature)
    assert verify_static_key(
        bytearray(keys.identity_key), memoryview(keys.noise_public), bytes(signature)
    )


def test_a_signature_proves_nothing_for_another_key_or_identity() -> None:
    keys, other = LocalKeys.generate(), LocalKeys.generate()
    signature = keys.static_key_signature()
    assert not verify_static_key(keys.identity_key, other.noise_public, signature)
    assert not verify_static_key(other.identity_key, keys.noise_public, signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify_static_key(keys.identity_key, keys.noise_public, flipped)
    # Signed without the context, the same bytes are not a vouch for a Noise key.
    bare = keys.signing.sign(keys.noise_public)
    assert not verify_static_key(keys.identity_key, keys.noise_public, bare)
    keys.signing.public_key().verify(signature, STATIC_KEY_CONTEXT + keys.noise_public)
    assert signature != bare


@pytest.mark.parametrize(
    "arguments",
    [
        (b"", b"", b""),
        (b"\x00" * 32, b"\x00" * 32, b"\x00" * 64),
        (b"\xff" * 32, b"\x01" * 32, b"\x02" * 64),
        (b"x" * 31, b"y" * 32, b"z" * 64),
        (b"x" * 32, b"y" * 33, b"z" * 64),
        (b"x" * 32, b"y" * 32, b"z" * 63),
        ("text", b"y" * 32, b"z" * 64),
        (None, None, None),
        (32, 32, 64),
    ],
)
def test_verifying_malformed_input_says_no_and_never_raises(arguments: tuple[Any, ...]) -> None:
    assert verify_static_key(*arguments) is False


NEUTRAL = b"\x01" + bytes(31)
"""The neutral Edwards point (y = 1): [0]B = R + [k]A holds for R = A = it and s = 0."""
ORDER_FOUR = bytes(32)
"""y = 0: a point A of order 4; with R = A and s = 0, [0]B = (k + 1)A holds when k = 3 mod 4."""


@pytest.mark.parametrize(
    ("identity_key", "signature"),
    [(ORDER_FOUR, ORDER_FOUR + bytes(32)), (NEUTRAL, NEUTRAL + bytes(32))],
    ids=["order-4", "neutral"],
)
def test_an_identity_nobody_owns_proves_nothing_though_openssl_accepts_it(
    identity_key: bytes, signature: bytes
) -> None:
    public = Ed25519PublicKey.from_public_bytes(identity_key)

    def fools_openssl(noise_public: bytes) -> bool:
        try:
            public.verify(signature, STATIC_KEY_CONTEXT + noise_public)
        except InvalidSignature:
            return False
        return True

    # For the order-4 key it holds for one message in four (the hash must be 3 modulo 4).
    candidates = (LocalKeys.generate().noise_public for _ in range(200))
    noise_public = next(key for key in candidates if fools_openssl(key))
    # The library alone is fooled: this "signature" was made without any private key.
    assert not verify_static_key(identity_key, noise_public, signature)


@pytest.mark.parametrize(
    "noise_public", [bytes(32), b"\x01" + bytes(31), b"\xec" + b"\xff" * 30 + b"\x7f"]
)
def test_a_signed_noise_key_of_small_order_proves_nothing(noise_public: bytes) -> None:
    """Diffie-Hellman with it gives zeros: a session key anyone could compute."""
    keys = LocalKeys.generate()
    signature = keys.signing.sign(STATIC_KEY_CONTEXT + noise_public)
    assert not verify_static_key(keys.identity_key, noise_public, signature)


def test_a_non_canonical_identity_encoding_is_refused() -> None:
    y_at_p = (2**255 - 19).to_bytes(32, "little")  # the order-4 point y = 0, spelt as y = p
    assert not verify_static_key(y_at_p, LocalKeys.generate().noise_public, bytes(64))


# --- the key file ------------------------------------------------------------------------------


@posix_only
def test_keys_are_made_once_kept_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    made = load_or_create_keys(path)
    assert mode(path) == 0o600
    again = load_or_create_keys(path)
    assert again.identity_key == made.identity_key
    assert again.noise_private == made.noise_private
    assert again.noise_public == made.noise_public
    assert verify_static_key(again.identity_key, again.noise_public, made.static_key_signature())
    assert [p.name for p in tmp_path.iterdir()] == ["identity.key"]  # no temporary file left


def test_the_key_file_is_small_versioned_json(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    keys = load_or_create_keys(path)
    document = json.loads(path.read_text("ascii"))
    assert document["version"] == 1
    assert base64.b64decode(document["noise"]) == keys.noise_private
    assert len(base64.b64decode(document["identity"])) == 32
    assert set(document) == {"version", "identity", "noise"}


def valid_file() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(encode_keys(LocalKeys.generate()))
    return document


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe garbage",
        b"[1, 2]",
        b"{" * 100_000,
        b"[" * 20_000,
        json.dumps({**valid_file(), "version": 2}).encode(),
        json.dumps({**valid_file(), "version": True}).encode(),
        json.dumps({**valid_file(), "identity": "not base64!"}).encode(),
        json.dumps({**valid_file(), "noise": base64.b64encode(b"short").decode()}).encode(),
        json.dumps({k: v for k, v in valid_file().items() if k != "identity"}).encode(),
        encode_keys(LocalKeys.generate())[:40],  # cut short
    ],
    ids=[
        "empty",
        "binary",
        "array",
        "huge",
        "deep",
        "version-2",
        "version-true",
        "not-base64",
        "short-key",
        "no-identity",
        "truncated",
    ],
)
def test_a_damaged_key_file_is_an_error_naming_it_and_is_left_alone(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "identity.key"
    path.write_bytes(content)
    with pytest.raises(KeyFileError) as caught:
        load_or_create_keys(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, OSError)
    assert path.read_bytes() == content  # never replaced by new keys: that would be a new you


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_an_unreadable_key_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    load_or_create_keys(path)
    os.chmod(path, 0)
    with pytest.raises(KeyFileError, match=str(path)):
        load_or_create_keys(path)


def test_a_key_file_that_cannot_be_read_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the test above, for root too (who reads anything): whatever the reason for it."""
    path = tmp_path / "identity.key"
    load_or_create_keys(path)
    before = path.read_bytes()

    def denied(target: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr("chinwag.adapters.secure.keys.read_private", denied)
    with pytest.raises(KeyFileError, match="Permission denied") as caught:
        load_or_create_keys(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == before


def test_a_missing_folder_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "identity.key"
    with pytest.raises(KeyFileError, match=str(path)):
        load_or_create_keys(path)


@posix_only
@pytest.mark.parametrize("target_exists", [False, True], ids=["dangling", "to-a-file"])
def test_a_link_for_the_key_file_is_refused_and_nothing_is_written_through_it(
    tmp_path: Path, target_exists: bool
) -> None:
    target = tmp_path / "elsewhere" / "stolen.key"
    target.parent.mkdir()
    if target_exists:
        target.write_bytes(encode_keys(LocalKeys.generate()))
    before = target.read_bytes() if target_exists else None
    folder = tmp_path / "user-alice"
    folder.mkdir()
    (folder / "identity.key").symlink_to(target)
    with pytest.raises(UnsafePath, match="symbolic link"):
        load_or_create_keys(folder / "identity.key")
    assert (target.read_bytes() if target.exists() else None) == before
    assert os.listdir(folder) == ["identity.key"]


def test_losing_the_race_to_create_uses_the_winners_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process creates the file between our "not found" and our creation."""
    path = tmp_path / "identity.key"
    winner = LocalKeys.generate()

    def other_process_first(target: Path, data: bytes) -> bool:
        assert create_private(target, encode_keys(winner))
        return create_private(target, data)

    monkeypatch.setattr("chinwag.adapters.secure.keys.create_private", other_process_first)
    assert load_or_create_keys(path).identity_key == winner.identity_key


def _create_and_report(path: str, barrier: Any, results: Any) -> None:
    barrier.wait(timeout=30)
    results.put(load_or_create_keys(Path(path)).identity_key.hex())


def test_processes_creating_at_once_end_with_one_identity(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    count = 4
    barrier = context.Barrier(count)
    results = context.Queue()
    path = tmp_path / "identity.key"
    processes = [
        context.Process(target=_create_and_report, args=(str(path), barrier, results))
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    try:
        identities = {results.get(timeout=45) for _ in processes}
    finally:
        for process in processes:
            process.join(timeout=10)
    assert all(process.exitcode == 0 for process in processes)
    assert identities == {load_or_create_keys(path).identity_key.hex()}
    assert [p.name for p in tmp_path.iterdir()] == ["identity.key"]


# --- registry pins -----------------------------------------------------------------------------


def test_no_file_means_no_pins_and_nothing_is_written_by_asking(tmp_path: Path) -> None:
    pins = RegistryPins(tmp_path / "registries.json")
    assert pins.get("127.0.0.1:7420") is None
    assert not (tmp_path / "registries.json").exists()


@posix_only
def test_pins_are_kept_per_address_privately(tmp_path: Path) -> None:
    path = tmp_path / "registries.json"
    one, two = LocalKeys.generate().identity_key, LocalKeys.generate().identity_key
    pins = RegistryPins(path)
    pins.pin("127.0.0.1:7420", one)
    pins.pin("Example.ORG:7420", two)
    assert mode(path) == 0o600
    reopened = RegistryPins(path)
    assert reopened.get("127.0.0.1:7420") == one
    assert reopened.get("example.org:7420") == two
    assert reopened.get("127.0.0.1:7421") is None
    pins.pin("127.0.0.1:7420", two)  # the caller decided the new key may replace the old
    assert reopened.get("127.0.0.1:7420") == two
    assert [p.name for p in tmp_path.iterdir()] == ["registries.json"]


def test_registry_addresses_are_written_one_way() -> None:
    assert registry_address("Example.org", 7420) == "example.org:7420"
    assert registry_address("::1", 7420) == "[::1]:7420"
    assert registry_address("127.0.0.1", 9) == "127.0.0.1:9"


@pytest.mark.parametrize("key", [b"", b"x" * 31, b"x" * 33])
def test_only_identity_keys_are_pinned(tmp_path: Path, key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        RegistryPins(tmp_path / "registries.json").pin("a:1", key)
    assert not (tmp_path / "registries.json").exists()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"version": 2, "registries": {}}',
        b'{"version": 1}',
        b'{"version": 1, "registries": []}',
        b'{"version": 1, "registries": {"a:1": 5}}',
        b'{"version": 1, "registries": {"a:1": "!!"}}',
        b'{"version": 1, "registries": {"a:1": "AAAA"}}',
    ],
)
def test_a_damaged_pins_file_is_an_error_never_taken_as_no_pins(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "registries.json"
    path.write_bytes(content)
    pins = RegistryPins(path)
    with pytest.raises(PinsError) as caught:
        pins.get("a:1")
    assert str(path) in str(caught.value)
    with pytest.raises(PinsError):
        pins.pin("a:1", b"k" * 32)
    assert path.read_bytes() == content


@posix_only
def test_a_link_for_the_pins_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registries.json"
    path.symlink_to(tmp_path / "elsewhere.json")
    pins = RegistryPins(path)
    with pytest.raises(UnsafePath):
        pins.get("a:1")
    with pytest.raises(UnsafePath):
        pins.pin("a:1", b"k" * 32)
    assert not (tmp_path / "elsewhere.json").exists()
