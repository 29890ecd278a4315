"""Chat through the registry's relay, as users run it: real registry and ``chinwag-cli --json``
processes on loopback, clients started with ``--listen none`` (as a laptop behind a NAT)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_crashes import stored_bodies
from tests.processes import CliProcess, RegistryProcess, history, start
from tests.support import wait_until_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

NONE = ("--listen", "none")


def delivered(client: CliProcess, count: int, path: str, timeout: float = 30.0) -> None:
    client.wait_count(count, "status", state="delivered", timeout=timeout)
    paths = {e.get("path") for e in client.of("status", state="delivered")}
    assert paths == {path}, paths


def test_two_clients_accepting_no_connections_chat_both_ways_through_the_relay(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a", *NONE)
    bob = start(clients, "bob", registry, tmp_path / "b", *NONE)
    assert alice.wait_event("ready")["listen"] is None
    alice.wait_online("bob")
    alice.send(cmd="send", to="bob", body="hello through the relay")
    bob.wait_event("message", body="hello through the relay")
    bob.send(cmd="send", to="alice", body="and back")
    alice.wait_event("message", body="and back")
    delivered(alice, 1, "relayed")
    delivered(bob, 1, "relayed")

    me = alice.ask("doctor", {"cmd": "doctor"})
    assert (me["registry"], me["listen"], me["reachable"]) == ("connected", None, False)
    peer = alice.ask("doctor", {"cmd": "doctor", "with": "bob"})
    assert peer["path"] == "relayed" and isinstance(peer["rtt_ms"], int | float), peer


def test_the_offline_queue_drains_through_the_relay(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a", *NONE)
    bob = start(clients, "bob", registry, tmp_path / "b", *NONE)
    alice.wait_online("bob")
    assert bob.quit() == 0
    for n in range(3):
        alice.send(cmd="send", to="bob", body=f"while away {n}")
    alice.wait_count(3, "status", state="queued")
    bob = start(clients, "bob", registry, tmp_path / "b", *NONE)
    for n in range(3):
        bob.wait_event("message", body=f"while away {n}")
    delivered(alice, 3, "relayed")
    assert stored_bodies(history(tmp_path / "b", "bob"), "alice") == [
        f"while away {n}" for n in range(3)
    ]


def test_a_reachable_peer_is_reached_directly_and_reaches_back_through_the_relay(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a", *NONE)
    bob = start(clients, "bob", registry, tmp_path / "b")
    alice.wait_online("bob")
    alice.send(cmd="send", to="bob", body="to a port that answers")
    bob.wait_event("message", body="to a port that answers")
    delivered(alice, 1, "direct")
    bob.send(cmd="send", to="alice", body="to one behind a NAT")
    alice.wait_event("message", body="to one behind a NAT")
    delivered(bob, 1, "relayed")

    wait_until_sync(
        lambda: bob.ask("doctor", {"cmd": "doctor"})["reachable"] is True, 10, "bob reachable"
    )
    assert alice.ask("doctor", {"cmd": "doctor"})["reachable"] is False
    assert alice.ask("doctor", {"cmd": "doctor", "with": "bob"})["path"] == "direct"
    assert bob.ask("doctor", {"cmd": "doctor", "with": "alice"})["path"] == "relayed"


def test_with_relaying_off_messages_wait_saying_why(
    tmp_path: Path, clients: list[CliProcess]
) -> None:
    registry = RegistryProcess(extra=("--no-relay",))
    try:
        alice = start(clients, "alice", registry, tmp_path / "a", *NONE)
        start(clients, "bob", registry, tmp_path / "b", *NONE)
        alice.wait_online("bob")
        alice.send(cmd="send", to="bob", body="nobody can carry this")
        queued = alice.wait_event("status", state="queued")
        assert queued["reason"] == "unreachable", queued
        peer = alice.ask("doctor", {"cmd": "doctor", "with": "bob"})
        assert peer["path"] == "none" and peer["rtt_ms"] is None, peer
    finally:
        registry.kill()


STREAM_RATE = "96K"
"""The relay rate of the killed registry: slow enough that a stream of 2,000 messages lasts
seconds, so the kill lands mid-stream for certain (not by the luck of a fast machine)."""


def test_registry_killed_mid_relayed_stream_everything_arrives_once_in_order(
    tmp_path: Path, clients: list[CliProcess]
) -> None:
    count = 2000
    data = tmp_path / "registry"
    registry = RegistryProcess(data_dir=data, extra=("--relay-rate", STREAM_RATE))
    try:
        alice = start(clients, "alice", registry, tmp_path / "a", *NONE)
        bob = start(clients, "bob", registry, tmp_path / "b", *NONE)
        alice.wait_online("bob")
        alice.send_all(
            {"cmd": "send", "to": "bob", "body": f"relayed {n:04d}"} for n in range(count)
        )
        wait_until_sync(lambda: bob.count("message") >= count // 10, 60, "a tenth of the stream")
        registry.kill()  # SIGKILL
        # Mid-stream for certain: bob had some, not all, and alice had acks still to come
        # (none can come while the registry is down: they travel the relay too).
        received, acked = bob.count("message"), alice.count("status", state="delivered")
        assert count // 10 <= received < count, received
        assert acked < count, acked
        registry = RegistryProcess(port=registry.port, data_dir=data)
        wait_until_sync(
            lambda: alice.count("status", state="delivered") >= count, 120, "every message acked"
        )
        assert stored_bodies(history(tmp_path / "b", "bob"), "alice") == [
            f"relayed {n:04d}" for n in range(count)
        ]
    finally:
        registry.kill()


def test_chinwag_listen_none_in_the_environment_accepts_nothing_and_chats_by_relay(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    """``CHINWAG_LISTEN=none`` does what ``--listen none`` does: no address, nothing
    accepted, reachable only through the relay."""
    env = {"CHINWAG_LISTEN": "none"}
    alice = start(clients, "alice", registry, tmp_path / "a", env=env)
    bob = start(clients, "bob", registry, tmp_path / "b")  # listens: reached directly
    assert alice.wait_event("ready")["listen"] is None
    assert bob.wait_event("ready")["listen"] is not None
    me = alice.ask("doctor", {"cmd": "doctor"})
    assert (me["registry"], me["listen"], me["reachable"]) == ("connected", None, False), me
    alice.wait_online("bob")
    bob.wait_online("alice")
    bob.send(cmd="send", to="alice", body="to one who accepts nothing")
    alice.wait_event("message", body="to one who accepts nothing")
    delivered(bob, 1, "relayed")  # bob could not connect: alice has no address to try
    alice.send(cmd="send", to="bob", body="and back")
    bob.wait_event("message", body="and back")
    delivered(alice, 1, "direct")
    assert bob.ask("doctor", {"cmd": "doctor", "with": "alice"})["path"] == "relayed"
