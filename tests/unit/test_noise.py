"""Noise beyond the vectors: every way a peer can send something wrong must end in NoiseError."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from chinwag.adapters.secure import noise_cipher
from chinwag.adapters.secure.noise import (
    MAX_MESSAGE,
    MAX_NONCE,
    PROTOCOL_NAME,
    TAG_SIZE,
    CipherState,
    HandshakeState,
    NoiseError,
    generate_private_key,
    public_key,
)

# X25519 public keys in the small subgroup (and non-canonical encodings of them): a DH with any of
# them gives all zeros whatever our key, so a peer sending one would fix the shared secret.
LOW_ORDER = [
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]
PAYLOADS = (b"hello from the initiator", b"the responder", b"the end")


def _pair(
    *, prologue: bytes = b"", responder_prologue: bytes | None = None
) -> tuple[HandshakeState, HandshakeState]:
    initiator = HandshakeState(
        PROTOCOL_NAME, initiator=True, prologue=prologue, s=generate_private_key()
    )
    responder = HandshakeState(
        PROTOCOL_NAME,
        initiator=False,
        prologue=prologue if responder_prologue is None else responder_prologue,
        s=generate_private_key(),
    )
    return initiator, responder


def _flip(message: bytes, position: int) -> bytes:
    """``message`` with one bit flipped, a different bit for neighbouring positions."""
    changed = bytearray(message)
    changed[position] ^= 1 << (position % 8)
    return bytes(changed)


def _exchange(
    initiator: HandshakeState, responder: HandshakeState, tamper: tuple[int, int] | None = None
) -> tuple[CipherState, CipherState, CipherState, CipherState]:
    """Run XX (optionally flipping bit ``tamper = (message, position)``) and one record each way.

    Returns (initiator send, initiator receive, responder send, responder receive).
    """
    for index, payload in enumerate(PAYLOADS):
        writer, reader = (initiator, responder) if index % 2 == 0 else (responder, initiator)
        message = writer.write_message(payload)
        if tamper is not None and tamper[0] == index:
            message = _flip(message, tamper[1])
        received = reader.read_message(message)  # message 1's payload is not authenticated yet
        assert tamper is not None or received == payload
    initiator_send, initiator_receive = initiator.split()
    responder_receive, responder_send = responder.split()
    assert responder_receive.decrypt_with_ad(b"", initiator_send.encrypt_with_ad(b"", b"x")) == b"x"
    assert initiator_receive.decrypt_with_ad(b"", responder_send.encrypt_with_ad(b"", b"y")) == b"y"
    return initiator_send, initiator_receive, responder_send, responder_receive


def _session() -> tuple[CipherState, CipherState, CipherState, CipherState]:
    return _exchange(*_pair())


def test_xx_round_trip_with_random_keys() -> None:
    initiator_key, responder_key = generate_private_key(), generate_private_key()
    initiator = HandshakeState(PROTOCOL_NAME, initiator=True, prologue=b"p", s=initiator_key)
    responder = HandshakeState(PROTOCOL_NAME, initiator=False, prologue=b"p", s=responder_key)
    assert responder.read_message(initiator.write_message(b"1")) == b"1"
    assert initiator.remote_static is None and responder.remote_static is None
    assert initiator.read_message(responder.write_message(b"2")) == b"2"
    assert initiator.remote_static == public_key(responder_key)
    assert not initiator.complete
    assert responder.read_message(initiator.write_message(b"3")) == b"3"
    assert responder.remote_static == public_key(initiator_key)
    assert initiator.complete and responder.complete
    assert initiator.handshake_hash == responder.handshake_hash
    assert len(initiator.handshake_hash) == 32
    send, receive = initiator.split()
    peer_receive, peer_send = responder.split()
    for n in range(5):
        assert peer_receive.decrypt_with_ad(b"", send.encrypt_with_ad(b"", b"%d" % n)) == b"%d" % n
        assert receive.decrypt_with_ad(b"ad", peer_send.encrypt_with_ad(b"ad", b"r")) == b"r"
    assert send.nonce == 5 and peer_receive.nonce == 5


def test_handshakes_with_fresh_ephemerals_differ() -> None:
    first, second = _pair(), _pair()
    _exchange(*first)
    _exchange(*second)
    assert first[0].handshake_hash != second[0].handshake_hash


def _message_lengths() -> list[int]:
    initiator, responder = _pair()
    lengths = []
    for index, payload in enumerate(PAYLOADS):
        writer, reader = (initiator, responder) if index % 2 == 0 else (responder, initiator)
        message = writer.write_message(payload)
        lengths.append(len(message))
        reader.read_message(message)
    return lengths


@pytest.mark.parametrize("index", [0, 1, 2])
def test_a_flipped_bit_anywhere_in_a_handshake_message_fails(index: int) -> None:
    """Message 1 carries no tag, but the transcripts then differ and the next read fails."""
    for position in range(_message_lengths()[index]):
        with pytest.raises(NoiseError):
            _exchange(*_pair(), tamper=(index, position))


def test_a_flipped_bit_anywhere_in_a_transport_message_fails_and_keeps_the_nonce() -> None:
    send, _, _, receive = _session()
    record = send.encrypt_with_ad(b"", b"a transport message")
    for position in range(len(record)):
        with pytest.raises(NoiseError):
            receive.decrypt_with_ad(b"", _flip(record, position))
        assert receive.nonce == 1
    with pytest.raises(NoiseError):
        receive.decrypt_with_ad(b"other associated data", record)
    assert receive.decrypt_with_ad(b"", record) == b"a transport message"


def test_replayed_and_reordered_transport_messages_fail() -> None:
    send, _, _, receive = _session()
    first, second = send.encrypt_with_ad(b"", b"one"), send.encrypt_with_ad(b"", b"two")
    with pytest.raises(NoiseError):
        receive.decrypt_with_ad(b"", second)  # reordered: second before first
    assert receive.decrypt_with_ad(b"", first) == b"one"
    with pytest.raises(NoiseError):
        receive.decrypt_with_ad(b"", first)  # replayed
    assert receive.decrypt_with_ad(b"", second) == b"two"


def test_truncated_messages_fail() -> None:
    for length in (0, 10, 31):  # shorter than message 1's ephemeral key
        with pytest.raises(NoiseError):
            _pair()[1].read_message(bytes(length))
    for keep in (32, 40, 80, -1):  # message 2 cut inside e, inside s, inside the payload tag
        initiator, responder = _pair()
        responder.read_message(initiator.write_message(b""))
        with pytest.raises(NoiseError):
            initiator.read_message(responder.write_message(b"payload")[:keep])
    send, _, _, receive = _session()
    record = send.encrypt_with_ad(b"", b"payload")
    for cut in (record[:-1], record[: TAG_SIZE - 1], b""):
        with pytest.raises(NoiseError):
            receive.decrypt_with_ad(b"", cut)


@pytest.mark.parametrize("key", LOW_ORDER, ids=[k.hex()[:8] for k in LOW_ORDER])
def test_a_low_order_ephemeral_in_message_1_fails_on_read(key: bytes) -> None:
    _, responder = _pair()
    with pytest.raises(NoiseError):
        responder.read_message(key + b"payload")
    with pytest.raises(NoiseError):  # and the handshake stays failed
        responder.write_message(b"")


def test_a_low_order_static_key_known_beforehand_fails() -> None:
    initiator = HandshakeState(
        "Noise_IK_25519_ChaChaPoly_SHA256", initiator=True, s=generate_private_key(), rs=bytes(32)
    )
    with pytest.raises(NoiseError):
        initiator.write_message(b"")


def test_different_prologues_fail() -> None:
    with pytest.raises(NoiseError):
        _exchange(*_pair(prologue=b"chinwag/1", responder_prologue=b"chinwag/2"))


def test_out_of_turn_calls_fail() -> None:
    initiator, responder = _pair()
    with pytest.raises(NoiseError):
        initiator.read_message(b"x" * 64)
    with pytest.raises(NoiseError):
        responder.write_message(b"")
    with pytest.raises(NoiseError):
        initiator.split()
    message = initiator.write_message(b"")
    with pytest.raises(NoiseError):
        initiator.write_message(b"")  # twice in a row
    responder.read_message(message)
    initiator.read_message(responder.write_message(b""))
    responder.read_message(initiator.write_message(b""))
    for side in (initiator, responder):
        with pytest.raises(NoiseError):
            side.write_message(b"")  # complete: no more handshake messages
        with pytest.raises(NoiseError):
            side.read_message(b"x" * 64)
        side.split()
        with pytest.raises(NoiseError):
            side.split()  # twice would hand out the same keys with fresh nonces


def test_oversize_payloads_and_messages_are_refused_both_ways() -> None:
    initiator, responder = _pair()
    with pytest.raises(NoiseError):
        initiator.write_message(bytes(MAX_MESSAGE - 32 + 1))
    message = initiator.write_message(bytes(MAX_MESSAGE - 32))  # the refusal changed nothing
    assert len(message) == MAX_MESSAGE
    with pytest.raises(NoiseError):
        responder.read_message(message + b"\x00")
    responder = _pair()[1]
    responder.read_message(message)
    with pytest.raises(NoiseError):
        responder.write_message(bytes(MAX_MESSAGE - 96 + 1))  # e, encrypted s, payload tag
    assert len(responder.write_message(bytes(MAX_MESSAGE - 96))) == MAX_MESSAGE

    send, _, _, receive = _session()
    with pytest.raises(NoiseError):
        send.encrypt_with_ad(b"", bytes(MAX_MESSAGE - TAG_SIZE + 1))
    record = send.encrypt_with_ad(b"", bytes(MAX_MESSAGE - TAG_SIZE))
    assert len(record) == MAX_MESSAGE
    with pytest.raises(NoiseError):
        receive.decrypt_with_ad(b"", record + b"\x00")
    assert receive.decrypt_with_ad(b"", record) == bytes(MAX_MESSAGE - TAG_SIZE)


def test_the_last_nonce_is_reserved() -> None:
    send, _, _, receive = _session()
    send.set_nonce(MAX_NONCE - 1)
    receive.set_nonce(MAX_NONCE - 1)
    assert receive.decrypt_with_ad(b"", send.encrypt_with_ad(b"", b"last")) == b"last"
    assert send.nonce == MAX_NONCE
    with pytest.raises(NoiseError):
        send.encrypt_with_ad(b"", b"one too many")
    with pytest.raises(NoiseError):
        receive.decrypt_with_ad(b"", bytes(TAG_SIZE))


def test_rekey_needs_both_sides() -> None:
    send, _, _, receive = _session()
    before = send.encrypt_with_ad(b"", b"m")
    assert receive.decrypt_with_ad(b"", before) == b"m"
    send.rekey()
    receive.rekey()
    assert receive.decrypt_with_ad(b"", send.encrypt_with_ad(b"", b"after")) == b"after"
    send.rekey()
    with pytest.raises(NoiseError):
        receive.decrypt_with_ad(b"", send.encrypt_with_ad(b"", b"one-sided"))
    with pytest.raises(NoiseError):
        CipherState().rekey()


def test_a_cipher_without_a_key_passes_plaintext_through() -> None:
    cipher = CipherState("AESGCM")
    assert not cipher.has_key()
    assert cipher.encrypt_with_ad(b"ad", b"clear") == b"clear"
    assert cipher.decrypt_with_ad(b"ad", b"clear") == b"clear"


def test_the_aead_object_is_built_once_per_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building ChaCha20Poly1305 per record would cost as much as sealing it."""
    built: list[bytes] = []

    def counting(key: bytes) -> Any:
        built.append(key)
        return ChaCha20Poly1305(key)

    monkeypatch.setattr(noise_cipher, "ChaCha20Poly1305", counting)
    cipher, peer = CipherState(key=bytes(32)), CipherState(key=bytes(32))
    for _ in range(100):
        peer.decrypt_with_ad(b"", cipher.encrypt_with_ad(b"", b"record"))
    assert len(built) == 2


@pytest.mark.parametrize(
    "name",
    [
        "Noise_XXpsk3_25519_ChaChaPoly_SHA256",
        "Noise_XXfallback_25519_ChaChaPoly_SHA256",
        "Noise_XX_P256_ChaChaPoly_SHA256",
        "Noise_XX_25519_AESGCMSIV_SHA256",
        "Noise_XX_25519_ChaChaPoly_SHA3",
        "Noise_ZZ_25519_ChaChaPoly_SHA256",
        "NoisePSK_XX_25519_ChaChaPoly_SHA256",
        "XX",
        "",
    ],
)
def test_unsupported_protocol_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unsupported Noise protocol"):
        HandshakeState(name, initiator=True, s=generate_private_key())


def test_missing_keys_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="static key s"):
        HandshakeState(PROTOCOL_NAME, initiator=True)
    with pytest.raises(ValueError, match="rs"):
        HandshakeState("Noise_IK_25519_ChaChaPoly_SHA256", initiator=True, s=bytes(32))
    with pytest.raises(ValueError, match="public key"):
        HandshakeState("Noise_NK_25519_ChaChaPoly_SHA256", initiator=True, rs=bytes(31))


def test_448_keys_work_too() -> None:
    name = "Noise_XX_448_ChaChaPoly_BLAKE2b"
    initiator_key, responder_key = generate_private_key("448"), generate_private_key("448")
    initiator = HandshakeState(name, initiator=True, s=initiator_key)
    responder = HandshakeState(name, initiator=False, s=responder_key)
    responder.read_message(initiator.write_message(b""))
    initiator.read_message(responder.write_message(b""))
    responder.read_message(initiator.write_message(b""))
    assert responder.remote_static == public_key(initiator_key, "448")
    assert len(public_key(initiator_key, "448")) == 56
    with pytest.raises(ValueError, match="DH"):
        public_key(initiator_key, "25518")


@settings(max_examples=50)
@given(
    st.tuples(st.binary(max_size=300), st.binary(max_size=300), st.binary(max_size=300)),
    st.lists(st.tuples(st.booleans(), st.binary(max_size=2000)), max_size=8),
)
def test_any_payloads_round_trip(
    handshake: tuple[bytes, bytes, bytes], records: list[tuple[bool, bytes]]
) -> None:
    initiator, responder = _pair(prologue=b"chinwag")
    for index, payload in enumerate(handshake):
        writer, reader = (initiator, responder) if index % 2 == 0 else (responder, initiator)
        assert reader.read_message(writer.write_message(payload)) == payload
    initiator_send, initiator_receive = initiator.split()
    responder_receive, responder_send = responder.split()
    for from_initiator, payload in records:
        sender, receiver = (
            (initiator_send, responder_receive)
            if from_initiator
            else (responder_send, initiator_receive)
        )
        assert receiver.decrypt_with_ad(b"", sender.encrypt_with_ad(b"", payload)) == payload
