"""Whole processes: a real registry and real ``chinwag-cli --json`` clients talking over TCP."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import pytest

from tests.processes import CliProcess, RegistryProcess, launch, refused, start
from tests.support import wait_until_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_two_clients_chat_both_ways_and_keep_history_across_restarts(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    alice.wait_online("alice", "bob")
    bob.wait_online("alice", "bob")

    alice.send(cmd="send", to="bob", body="hi bob")
    pending = alice.wait_event("status", state="pending")
    assert pending["to"] == "bob"
    got = bob.wait_event("message", body="hi bob")
    assert got["from"] == "alice" and got["to"] == "bob" and got["id"] == pending["id"]
    alice.wait_event("status", id=pending["id"], state="delivered")

    bob.send(cmd="send", to="alice", body="hello alice")
    reply = alice.wait_event("message", body="hello alice")
    bob.wait_event("status", id=reply["id"], state="delivered")

    assert alice.quit() == 0
    assert bob.quit() == 0
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    for client, peer in ((alice, "bob"), (bob, "alice")):
        client.send(cmd="history", **{"with": peer}, limit=10)
        history = client.wait_event("history")
        assert [m["body"] for m in history["messages"]] == ["hi bob", "hello alice"]
        assert [m["from"] for m in history["messages"]] == ["alice", "bob"]


def test_unicode_round_trips_exactly_between_processes(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    alice.wait_online("bob")
    bodies = ["emoji 😀🎉👩‍👩‍👧", "עברית ומילים", "first\nsecond\n", "λ" * 5_000 + "x" * 5_000]
    for body in bodies:
        alice.send(cmd="send", to="bob", body=body)
    bob.wait_for(lambda e: e.get("event") == "message" and e["body"] == bodies[-1])
    received = [e["body"] for e in bob.events if e.get("event") == "message"]
    assert received == bodies
    bob.send(cmd="search", text="עברית")
    found = bob.wait_event("search")
    assert [m["body"] for m in found["messages"]] == [bodies[1]]


def test_clear_errors_for_unknown_user_taken_name_and_bad_commands(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice.send(cmd="send", to="nobody", body="hello?")
    assert "nobody" in alice.wait_event("error", code="unknown_user")["message"]
    alice.send(cmd="fly")
    alice.wait_event("error", code="bad_command")
    assert alice.proc.stdin is not None
    alice.proc.stdin.write("this is not json\n")
    alice.proc.stdin.flush()
    assert alice.count("error", code="bad_command") >= 1
    alice.wait_for(lambda e: e.get("event") == "error" and "json" in e["message"].lower())

    # Another data folder holds another key, and the name is bound to alice's.
    impostor = launch(clients, "ALICE", registry, tmp_path / "elsewhere")
    assert "alice" in refused(impostor, "name_taken")["message"]

    twin = CliProcess("alice", registry.address, tmp_path / "a")
    clients.append(twin)
    assert "already running" in twin.wait_event("error", code="already_running")["message"]
    assert twin.proc.wait(15) == 2

    bad = CliProcess("b b", registry.address, tmp_path / "c")
    clients.append(bad)
    bad.wait_event("error", code="invalid_username")
    assert bad.proc.wait(15) == 2
    alice.send(cmd="who")
    alice.wait_online("alice")


def test_clients_recover_on_their_own_when_the_registry_restarts(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    carol = start(clients, "carol", registry, tmp_path / "c")  # known to the registry, then gone
    assert carol.quit() == 0
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    alice.wait_online("bob")
    mark = alice.mark()
    registry.kill()  # SIGKILL
    alice.wait_event("registry", status="reconnecting", since=mark)
    restarted = RegistryProcess(port=registry.port, data_dir=registry.data_dir)
    try:
        alice.wait_event("registry", status="connected", timeout=30, since=mark)
        alice.wait_online("alice", "bob", timeout=30, since=mark)
        alice.send(cmd="send", to="bob", body="still here?")
        bob.wait_event("message", body="still here?")
        alice.send(cmd="send", to="carol", body="see you later")  # remembered: offline
        alice.wait_event("status", to="carol", state="queued")
    finally:
        restarted.kill()


def test_the_registry_keeps_serving_while_a_third_connection_sends_garbage(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    with socket.create_connection((registry.host, registry.port), timeout=5) as vandal:
        vandal.sendall(b"\x00\x00\x00\x05hello" + b"\xff" * 64 + b"GET / HTTP/1.1\r\n\r\n")
        bob = start(clients, "bob", registry, tmp_path / "b")
        alice.wait_online("bob")
        alice.send(cmd="send", to="bob", body="through the noise")
        bob.wait_event("message", body="through the noise")
        with socket.create_connection((registry.host, registry.port), timeout=5) as huge:
            huge.sendall(b"\xff\xff\xff\xff")
            bob.send(cmd="send", to="alice", body="still fine")
            alice.wait_event("message", body="still fine")

    # The same at a client's own peer port, while the two keep chatting.
    host, port = bob.wait_event("ready")["listen"].rsplit(":", 1)
    rng = random.Random(11)
    vandals = []
    for n in range(30):
        vandal = socket.create_connection((host, int(port)), timeout=5)
        vandal.sendall([rng.randbytes(200), b"\x7f\xff\xff\xff", b"\x00\x00\x01\x00{"][n % 3])
        vandals.append(vandal)
    for n in range(50):
        alice.send(cmd="send", to="bob", body=f"chatting on {n}")
    bob.wait_event("message", body="chatting on 49")
    got = [e["body"] for e in bob.events if e.get("body", "").startswith("chatting on")]
    assert got == [f"chatting on {n}" for n in range(50)]
    for vandal in vandals:
        vandal.close()


def test_a_message_sent_just_before_quitting_is_delivered_and_recorded(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    bob = start(clients, "bob", registry, tmp_path / "b")
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice.wait_online("bob")
    alice.send(cmd="send", to="bob", body="bye!")
    alice.send(cmd="quit")
    assert alice.proc.wait(20) == 0
    bob.wait_event("message", body="bye!")
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice.send(cmd="history", **{"with": "bob"}, limit=5)
    [message] = alice.wait_event("history")["messages"]
    assert (message["body"], message["state"]) == ("bye!", "delivered")


def test_quitting_after_a_peer_connected_logs_no_error(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    # It once printed "ERROR asyncio: Exception in callback ... _serve ... CancelledError".
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    bob.wait_online("alice")
    bob.send(cmd="send", to="alice", body="hi alice")  # bob's session to alice stays open
    alice.wait_event("message", body="hi alice")
    alice.send(cmd="quit")
    log = alice.log_after_exit()
    assert alice.proc.returncode == 0
    assert "ERROR" not in log and "Traceback" not in log, log


def test_messages_to_an_offline_user_survive_a_restart_and_arrive_once_in_order(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    bob = start(clients, "bob", registry, tmp_path / "b")  # the registry now knows bob
    assert bob.quit() == 0
    alice = start(clients, "alice", registry, tmp_path / "a")
    for n in range(100):
        alice.send(cmd="send", to="bob", body=f"while you were away {n:03d}")
    alice.wait_for(
        lambda e: e.get("event") == "status" and e["state"] == "queued" and e["to"] == "bob"
    )
    wait_until_sync(lambda: alice.count("status", state="queued") >= 100, 30, "100 queued")
    queued = [e["id"] for e in alice.of("status", state="queued")]
    assert len(queued) == len(set(queued)) == 100  # told once each, with the reason at once
    ids = list(dict.fromkeys(e["id"] for e in alice.of("status")))
    assert len(ids) == 100
    assert alice.quit() == 0

    alice = start(clients, "alice", registry, tmp_path / "a")  # restarted: resumes its outbox
    bob = start(clients, "bob", registry, tmp_path / "b")
    wait_until_sync(lambda: alice.count("status", state="delivered") == 100, 60, "100 delivered")
    assert [e["id"] for e in alice.of("status", state="delivered")] == ids
    # Bob acknowledges after his commit but prints each message after that: his events may
    # still be on their way through his stdout when alice has counted the acknowledgements.
    wait_until_sync(lambda: bob.count("message") >= 100, 30, "bob printed 100 messages")
    got = bob.of("message")
    assert [e["body"] for e in got] == [f"while you were away {n:03d}" for n in range(100)]
    assert [e["id"] for e in got] == ids


def test_a_killed_client_leaves_presence_within_the_idle_timeout(
    tmp_path: Path, clients: list[CliProcess]
) -> None:
    registry = RegistryProcess(extra=("--idle-timeout", "1.5"))
    try:
        alice = start(clients, "alice", registry, tmp_path / "a")
        bob = start(clients, "bob", registry, tmp_path / "b")
        alice.wait_online("bob")
        mark = alice.mark()
        bob.kill()  # SIGKILL: no goodbye
        started = time.monotonic()
        alice.wait_for(
            lambda e: e.get("event") == "presence" and "bob" not in e["online"],
            timeout=10,
            since=mark,
        )
        # The documented bound is the idle timeout; allow for a loaded machine, not for a miss.
        assert time.monotonic() - started < 3 * 1.5
    finally:
        registry.kill()
