"""Several ``chinwag-registry --redis`` processes on one real ``redis-server``: one network. Real
``chinwag-cli --json`` clients signed in on different registries see each other online, look
each other up and chat, directly and through the relay (the session on the asker's registry,
the other client told to join it there: ``via``); a registry SIGKILLed takes its clients'
presence with it within its idle timeout, for the clients of the others."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import ENV, CliProcess, RegistryProcess, start
from tests.registry_network import IDLE_TIMEOUT, Network

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

NONE = ("--listen", "none")


def delivered(client: CliProcess, count: int, path: str, timeout: float = 30.0) -> None:
    client.wait_count(count, "status", state="delivered", timeout=timeout)
    paths = {e.get("path") for e in client.of("status", state="delivered")}
    assert paths == {path}, paths


def test_clients_of_two_registries_see_each_other_and_chat_directly(
    tmp_path: Path, network: Network, clients: list[CliProcess]
) -> None:
    one, two = network.registry(), network.registry()
    assert one.fingerprint == two.fingerprint
    alice = start(clients, "alice", one, tmp_path / "a")
    bob = start(clients, "bob", two, tmp_path / "b")
    alice.wait_online("bob")
    bob.wait_online("alice")

    alice.send(cmd="send", to="bob", body="hello from registry one")
    bob.wait_event("message", body="hello from registry one")
    bob.send(cmd="send", to="alice", body="and back from two")
    alice.wait_event("message", body="and back from two")
    delivered(alice, 1, "direct")
    delivered(bob, 1, "direct")


def test_clients_behind_nats_on_two_registries_chat_through_a_relay_on_one_of_them(
    tmp_path: Path, network: Network, clients: list[CliProcess]
) -> None:
    one, two = network.registry(), network.registry()
    alice = start(clients, "alice", one, tmp_path / "a", *NONE)
    bob = start(clients, "bob", two, tmp_path / "b", *NONE)
    alice.wait_online("bob")
    bob.wait_online("alice")

    # Alice's session is on one; bob is told about it through the network, with one's URL.
    alice.send(cmd="send", to="bob", body="relayed across registries")
    bob.wait_event("message", body="relayed across registries", timeout=30)
    bob.send(cmd="send", to="alice", body="relayed back")
    alice.wait_event("message", body="relayed back", timeout=30)
    delivered(alice, 1, "relayed")
    delivered(bob, 1, "relayed")


def test_three_registries_then_one_killed_its_clients_leave_for_the_others_in_time(
    tmp_path: Path, network: Network, clients: list[CliProcess]
) -> None:
    one, two, three = network.registry(), network.registry(), network.registry()
    alice = start(clients, "alice", one, tmp_path / "a")
    bob = start(clients, "bob", two, tmp_path / "b")
    carol = start(clients, "carol", three, tmp_path / "c")
    for client in (alice, bob, carol):
        client.wait_online("alice", "bob", "carol")
    carol.send(cmd="send", to="alice", body="from the third registry")
    alice.wait_event("message", body="from the third registry")

    marks = {client.user: client.mark() for client in (alice, bob)}
    killed = time.monotonic()
    three.kill()
    for client in (alice, bob):
        client.wait_for(
            lambda e: e.get("event") == "presence" and "carol" not in e["online"],
            timeout=IDLE_TIMEOUT + 8,
            what="carol gone",
            since=marks[client.user],
        )
    took = time.monotonic() - killed
    # Its key expires within the idle timeout; a sweep runs every second; a push follows.
    assert took <= IDLE_TIMEOUT + 3, took
    assert {"alice", "bob"} <= set(alice.wait_online("alice", "bob")["online"])

    alice.send(cmd="send", to="bob", body="the two left still chat")
    bob.wait_event("message", body="the two left still chat")


def test_a_name_bound_on_one_registry_is_taken_on_every_other(
    tmp_path: Path, network: Network, clients: list[CliProcess]
) -> None:
    one, two = network.registry(), network.registry()
    alice = start(clients, "alice", one, tmp_path / "a")
    assert alice.quit() == 0
    impostor = CliProcess("alice", two.address, tmp_path / "impostor")
    clients.append(impostor)
    error = impostor.wait_event("error", code="name_taken")
    assert impostor.exit_code() == 2, error


def test_a_registry_with_another_key_refuses_to_join_the_network(
    tmp_path: Path, network: Network
) -> None:
    network.registry()
    stranger = subprocess.run(
        [
            *(sys.executable, "-m", "chinwag.entrypoints.registry", "--port", "0"),
            *("--data-dir", str(tmp_path / "stranger"), "--redis", network.redis.url),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=ENV,
    )
    assert stranger.returncode == 2
    assert stranger.stdout == ""
    assert "another key" in stranger.stderr and "registry.key" in stranger.stderr


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (("--redis", "http://127.0.0.1:6379"), "is not a Redis URL"),
        (("--redis", "redis://127.0.0.1:6379/zero"), "is not a Redis URL"),
        (("--presence-all-below", "0"), "is not between 1 and"),
        (("--metrics", "9464"), "is not HOST:PORT"),
        (("--advertise", "tcp://a.example:7420"), "give --redis too"),
        (("--redis", "redis://127.0.0.1:6379/0", "--host", "0.0.0.0"), "give --advertise"),
        (("--redis", "redis://127.0.0.1:6379/0", "--advertise", "ftp://x"), "--advertise"),
    ],
)
def test_wrong_network_flags_are_one_clear_error_and_exit_2(
    flags: tuple[str, ...], says: str, tmp_path: Path
) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "chinwag.entrypoints.registry", "--data-dir", str(tmp_path), *flags],
        capture_output=True,
        text=True,
        timeout=30,
        env=ENV,
    )
    assert ran.returncode == 2
    assert ran.stdout == ""
    assert says in ran.stderr and "Traceback" not in ran.stderr, ran.stderr


def test_metrics_are_served_where_asked_and_the_start_up_says_where(
    network: Network, clients: list[CliProcess], tmp_path: Path
) -> None:
    one = network.registry("--metrics", "127.0.0.1:0")
    line = _readline(one)
    assert line.startswith("chinwag-registry metrics on 127.0.0.1:"), line
    port = int(line.rsplit(":", 1)[1])
    start(clients, "alice", one, tmp_path / "a")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    assert 'chinwag_registry_registrations_total{result="ok"} 1.0' in text
    assert "chinwag_registry_redis_up 1.0" in text


def _readline(registry: RegistryProcess) -> str:
    assert registry.proc.stdout is not None
    return registry.proc.stdout.readline().strip()


def test_release_in_redis_frees_the_name_for_another_key(
    tmp_path: Path, network: Network, clients: list[CliProcess]
) -> None:
    one = network.registry()
    alice = start(clients, "alice", one, tmp_path / "a")
    assert alice.quit() == 0
    release = [sys.executable, "-m", "chinwag.entrypoints.registry", "release"]
    freed = subprocess.run(
        [*release, "Alice", "--redis", network.redis.url],
        capture_output=True,
        text=True,
        timeout=30,
        env=ENV,
    )
    assert freed.returncode == 0, freed.stderr
    assert freed.stdout.startswith("chinwag-registry: released alice in redis://")
    start(clients, "alice", one, tmp_path / "new-alice")  # another key owns it now
    again = subprocess.run(
        [*release, "nobody", "--redis", network.redis.url],
        capture_output=True,
        text=True,
        timeout=30,
        env=ENV,
    )
    assert again.returncode == 2 and "nobody called nobody" in again.stderr


def test_a_client_given_two_registries_moves_to_the_other_when_its_own_is_killed(
    tmp_path: Path, network: Network, clients: list[CliProcess]
) -> None:
    one, two = network.registry(), network.registry()
    alice = CliProcess("alice", f"{one.address},{two.address}", tmp_path / "a")
    clients.append(alice)
    alice.wait_event("ready", user="alice")
    bob = start(clients, "bob", two, tmp_path / "b")
    bob.wait_online("alice")
    alice.send(cmd="send", to="bob", body="before the kill")
    bob.wait_event("message", body="before the kill")

    mark = alice.mark()
    one.kill()
    # Alice's client notices the loss, signs in at two, and is online for bob again.
    alice.wait_for(
        lambda e: e.get("event") == "registry" and e.get("status") == "connected",
        timeout=IDLE_TIMEOUT + 15,
        what="alice reconnected",
        since=mark,
    )
    bob.wait_online("alice")
    alice.send(cmd="send", to="bob", body="after the kill, through the other registry")
    bob.wait_event("message", body="after the kill, through the other registry", timeout=30)
    bob.send(cmd="send", to="alice", body="still here")
    alice.wait_event("message", body="still here", timeout=30)
