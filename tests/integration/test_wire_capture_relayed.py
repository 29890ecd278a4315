"""Relayed chat on the wire: with both clients accepting no connections, every byte between
them crosses the registry, and a capture of every registry connection (control and relay legs)
finds nothing readable but the registry's greeting: no body, no name, no key, not even the
peers' clear ``hello`` (it travels inside the registry's session)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from chinwag.adapters.transport import protocol as peer_protocol
from chinwag.adapters.wire.codec import encode
from tests.integration.test_wire_capture import (
    LoopbackCapture,
    capture,  # noqa: F401  (the fixture)
    connections,
    first_frame,
    forms,
    leaks,
)
from tests.processes import CliProcess, RegistryProcess, start

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_relayed_chat_shows_nothing_readable_to_the_wire_or_the_path_to_the_registry(
    tmp_path: Path,
    capture: LoopbackCapture,  # noqa: F811
    registry: RegistryProcess,
    clients: list[CliProcess],
) -> None:
    alice_name, bob_name = f"al{secrets.token_hex(5)}", f"bo{secrets.token_hex(5)}"
    alice = start(clients, alice_name, registry, tmp_path / "a", "--listen", "none")
    bob = start(clients, bob_name, registry, tmp_path / "b", "--listen", "none")
    alice.wait_online(bob_name)
    bodies = [f"relayed secret {secrets.token_hex(16)}", f"秘密 {secrets.token_hex(8)}" * 50]
    for body in bodies:
        alice.send(cmd="send", to=bob_name, body=body)
        bob.wait_event("message", body=body)
    bob.send(cmd="send", to=alice_name, body=bodies[0] + " back")
    alice.wait_event("message", body=bodies[0] + " back")
    assert {e.get("path") for e in alice.of("status", state="delivered")} == {"relayed"}
    capture.sync()

    to_registry = connections(capture, registry.port)
    # Two control connections and at least two legs (one relay session each way, or one).
    assert len(to_registry) >= 4, len(to_registry)
    for sent, answered in to_registry:
        assert sent and answered
        assert first_frame(answered)["type"] == "welcome"
    relayed_bytes = sum(len(sent) for sent, _ in to_registry)
    assert relayed_bytes > len(bodies[1].encode())  # the long body did cross, sealed

    needles = [form for text in (alice_name, bob_name, *bodies) for form in forms(text)]
    needles += [encode(peer_protocol.hello()), b'"hello"', b'"messages"', b'"body"']
    needles += [b'"relay"', b'"relay_join"', b'"relay_joined"', b'"relay_incoming"']
    wire = [data for pair in to_registry for data in pair]
    assert leaks(wire, needles) == []
