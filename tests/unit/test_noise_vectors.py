"""The published cacophony test vectors, byte for byte (provenance: tests/data/noise/README.md).

A Noise implementation that round-trips with itself can still be wrong in a way only another
implementation notices (a swapped DH, a nonce in the wrong byte order, a missing MixHash); these
vectors are that other implementation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chinwag.adapters.secure.noise import PROTOCOL_NAME, HandshakeState

VECTOR_FILE = Path(__file__).resolve().parents[1] / "data" / "noise" / "cacophony.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTOR_FILE.read_text(encoding="utf-8"))["vectors"]
PATTERNS = ["N", "K", "X", "NN", "NK", "NX", "XN", "XK", "XX", "KN", "KK", "KX", "IN", "IK", "IX"]


def _key(vector: dict[str, Any], field: str) -> bytes | None:
    value = vector.get(field)
    return None if value is None else bytes.fromhex(value)


def _sides(vector: dict[str, Any]) -> tuple[HandshakeState, HandshakeState]:
    name = vector["protocol_name"]
    initiator = HandshakeState(
        name,
        initiator=True,
        prologue=bytes.fromhex(vector["init_prologue"]),
        s=_key(vector, "init_static"),
        e=_key(vector, "init_ephemeral"),
        rs=_key(vector, "init_remote_static"),
    )
    responder = HandshakeState(
        name,
        initiator=False,
        prologue=bytes.fromhex(vector["resp_prologue"]),
        s=_key(vector, "resp_static"),
        e=_key(vector, "resp_ephemeral"),
        rs=_key(vector, "resp_remote_static"),
    )
    return initiator, responder


@pytest.mark.parametrize("vector", VECTORS, ids=[v["protocol_name"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    initiator, responder = _sides(vector)
    messages = [
        (bytes.fromhex(m["payload"]), bytes.fromhex(m["ciphertext"])) for m in vector["messages"]
    ]
    index = 0
    while not initiator.complete:  # handshake: initiator, responder, initiator, ...
        writer, reader = (initiator, responder) if index % 2 == 0 else (responder, initiator)
        payload, ciphertext = messages[index]
        assert writer.write_message(payload).hex() == ciphertext.hex(), f"message {index}"
        assert reader.read_message(ciphertext) == payload
        index += 1
    assert responder.complete
    assert initiator.handshake_hash == responder.handshake_hash
    if "handshake_hash" in vector:
        assert initiator.handshake_hash.hex() == vector["handshake_hash"]

    initiator_send, initiator_receive = initiator.split()
    responder_receive, responder_send = responder.split()
    one_way = len(vector["protocol_name"].split("_")[1]) == 1
    handshake_length = index
    for index in range(handshake_length, len(messages)):  # transport: the alternation goes on
        if one_way or index % 2 == 0:
            sender, receiver = initiator_send, responder_receive
        else:
            sender, receiver = responder_send, initiator_receive
        payload, ciphertext = messages[index]
        assert sender.encrypt_with_ad(b"", payload).hex() == ciphertext.hex(), f"message {index}"
        assert receiver.decrypt_with_ad(b"", ciphertext) == payload


def test_the_suite_chinwag_speaks_is_among_the_vectors() -> None:
    """Guards against a vector file that lost the one suite that matters, passing vacuously."""
    assert sum(v["protocol_name"] == PROTOCOL_NAME for v in VECTORS) > 0


def test_every_pattern_is_covered_for_every_25519_suite() -> None:
    names = {v["protocol_name"] for v in VECTORS}
    for pattern in PATTERNS:
        for cipher in ("ChaChaPoly", "AESGCM"):
            for hash_name in ("SHA256", "SHA512", "BLAKE2s", "BLAKE2b"):
                assert f"Noise_{pattern}_25519_{cipher}_{hash_name}" in names
    assert any("_448_" in name for name in names)
