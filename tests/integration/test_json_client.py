"""``chinwag-cli --json`` as scripts use it: real processes, commands piped faster than they run."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.processes import ENV, CliProcess, RegistryProcess, launch, refused, start
from tests.support import wait_until_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_ten_thousand_piped_sends_arrive_once_in_order_with_one_status_per_state(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    count = 10_000
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    alice.wait_online("alice", "bob")
    alice.send_all(
        {"cmd": "send", "to": "bob", "body": f"message {n}", "ref": n} for n in range(count)
    )
    alice.wait_count(count, "status", timeout=60, state="delivered")
    bob.wait_count(count, "message")

    received = [e["body"] for e in bob.of("message")]
    assert received == [f"message {n}" for n in range(count)]  # in order, each once
    statuses = alice.of("status")
    per_state = Counter(e["state"] for e in statuses)
    assert per_state == {"pending": count, "sent": count, "delivered": count}
    assert len({(e["id"], e["state"]) for e in statuses}) == len(statuses)
    pending = [e for e in statuses if e["state"] == "pending"]
    assert [e["ref"] for e in pending] == list(range(count))  # committed in command order
    ids = {e["ref"]: e["id"] for e in pending}
    assert all(ids[e["ref"]] == e["id"] for e in statuses)  # every status carries its ref
    assert {e["id"] for e in bob.of("message")} == set(ids.values())
    assert alice.count("error") == 0


def test_sends_to_somebody_offline_are_queued_once_with_the_reason_then_delivered(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    count = 300
    alice = start(clients, "alice", registry, tmp_path / "a")
    carol = start(clients, "carol", registry, tmp_path / "c")
    alice.wait_online("alice", "carol")
    mark = alice.mark()
    assert carol.quit() == 0  # known to the registry, offline now
    alice.wait_for(
        lambda e: e.get("event") == "presence" and "carol" not in e["online"], since=mark
    )
    alice.send_all(
        {"cmd": "send", "to": "carol", "body": f"later {n}", "ref": n} for n in range(count)
    )
    alice.wait_count(count, "status", state="queued")
    carol = start(clients, "carol", registry, tmp_path / "c")  # the courier tried meanwhile
    alice.wait_count(count, "status", timeout=60, state="delivered")
    carol.wait_count(count, "message")

    statuses = alice.of("status")
    assert Counter(e["state"] for e in statuses) == {
        "queued": count,  # exactly one per message: stored with its reason, not told again
        "sent": count,
        "delivered": count,
    }
    assert len({(e["id"], e["state"]) for e in statuses}) == len(statuses)
    queued = [e for e in statuses if e["state"] == "queued"]
    assert [e["ref"] for e in queued] == list(range(count))
    assert {e["reason"] for e in queued} == {"carol is offline"}
    assert [e["body"] for e in carol.of("message")] == [f"later {n}" for n in range(count)]


def test_answers_interleaved_with_piped_sends_all_arrive_in_order_with_their_refs(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    alice.wait_online("alice", "bob")
    commands: list[dict[str, object]] = []
    asked: list[tuple[str, object]] = []
    for n in range(1_000):
        commands.append({"cmd": "send", "to": "bob", "body": f"lorem {n}", "ref": f"s{n}"})
        if n % 100 == 99:
            ask: list[tuple[dict[str, object], str]] = [
                ({"cmd": "history", "with": "bob", "limit": 500}, "history"),
                ({"cmd": "who"}, "presence"),
                ({"cmd": "search", "text": f"{n}", "limit": 5}, "search"),
            ]
            command, reply = ask[(n // 100) % 3]
            ref = {"ask": n}
            commands.append({**command, "ref": ref})
            asked.append((reply, ref))
    commands.append({"cmd": "fly", "ref": "bad"})
    asked.append(("error", "bad"))
    alice.send_all(commands)

    alice.wait_for(lambda e: e.get("ref") == "bad", timeout=30)
    answers = [e for e in alice.events if "ref" in e and e["event"] != "status"]
    assert [(e["event"], e.get("ref")) for e in answers] == asked
    for answer in answers:
        asked_at = answer["ref"]["ask"] if isinstance(answer["ref"], dict) else None
        if answer["event"] == "history":  # every send before it is committed
            assert answer["messages"][-1]["body"] == f"lorem {asked_at}"
        elif answer["event"] == "search":
            assert [m["body"] for m in answer["messages"]] == [f"lorem {asked_at}"]
        elif answer["event"] == "presence":
            assert {"alice", "bob"} <= set(answer["online"])
    alice.wait_count(1_000, "status", state="delivered")
    assert [e["body"] for e in bob.of("message")] == [f"lorem {n}" for n in range(1_000)]


def test_a_client_whose_output_nobody_reads_keeps_acknowledging_and_stays_signed_in(
    tmp_path: Path, clients: list[CliProcess]
) -> None:
    registry = RegistryProcess(extra=("--idle-timeout", "1"))  # heartbeats every 1/3 s
    try:
        bob = start(clients, "bob", registry, tmp_path / "b")
        carol = subprocess.Popen(  # stdout is a pipe nobody ever reads
            [
                *(sys.executable, "-m", "chinwag.entrypoints.cli", "--json", "--user", "carol"),
                *("--registry", registry.address, "--data-dir", str(tmp_path / "c")),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=ENV,
        )
        try:
            bob.wait_online("bob", "carol", timeout=20)
            count = 3_000  # some 900 KB of events for carol: far more than a pipe holds
            bob.send_all({"cmd": "send", "to": "carol", "body": "z" * 100} for _ in range(count))
            bob.wait_count(count, "status", timeout=60, state="delivered")

            # Three idle timeouts later carol is still online (her heartbeats went on)...
            mark = bob.mark()
            watched_until = time.monotonic() + 3.0
            while time.monotonic() < watched_until:
                bob.ask("presence", {"cmd": "who"})
                assert all("carol" in e["online"] for e in bob.of("presence", since=mark))
            # ...and still takes messages.
            bob.send(cmd="send", to="carol", body="still there?")
            bob.wait_count(count + 1, "status", state="delivered")
            assert carol.poll() is None
        finally:
            carol.kill()
            carol.wait(10)
            for stream in (carol.stdin, carol.stdout):
                if stream is not None:
                    stream.close()
    finally:
        registry.kill()


@pytest.mark.parametrize(
    ("flags", "code", "says"),
    [
        (("--port", "abc"), "bad_flag", "--port"),
        (("--registry",), "bad_flag", "--registry"),
        (("--listen", "a b"), "bad_flag", "--listen"),
        (("--listen", "abc"), "address_unavailable", "no host 'abc'"),
        (("--listen", "192.0.2.1:5"), "address_unavailable", "not an address of this machine"),
        (("--registry", "127.0.0.1:1"), "registry_unavailable", "cannot reach the registry"),
    ],
)
def test_every_start_up_refusal_is_one_json_error_with_our_words(
    tmp_path: Path,
    registry: RegistryProcess,
    clients: list[CliProcess],
    flags: tuple[str, ...],
    code: str,
    says: str,
) -> None:
    client = launch(clients, "alice", registry, tmp_path / "a", *flags)
    error = refused(client, code)
    assert says in error["message"]
    # ... and one line on stderr, as in text mode.
    said = f"chinwag-cli: {error['message']}"
    wait_until_sync(
        lambda: any(said in line for line in client.stderr_lines),
        what=f"{said!r} on stderr, not only {client.stderr_lines}",
    )


def test_a_port_in_use_is_still_address_in_use(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    port = alice.wait_event("ready")["listen"].rsplit(":", 1)[1]
    bob = launch(clients, "bob", registry, tmp_path / "b", "--listen", f"127.0.0.1:{port}")
    assert "already in use" in refused(bob, "address_in_use")["message"]


def test_our_own_sign_out_is_not_news_about_who_is_online(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    """On ``quit``, signing out empties the online list: ``{"event":"presence","online":[]}``
    would read as "everyone went offline", so it is not emitted (nor the registry's goodbye)."""
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice.wait_event("presence")
    alice.send(cmd="quit")
    events = alice.all_events(30)
    assert alice.exit_code(30) == 0
    assert all(e["online"] for e in events if e["event"] == "presence"), events
    assert [e["status"] for e in events if e["event"] == "registry"] == ["connected"], events


def test_quit_after_piped_commands_waits_for_their_output(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice.send_all([*({"cmd": "whoami", "ref": n} for n in range(2_000)), {"cmd": "quit"}])
    assert alice.exit_code(30) == 0
    assert [e["ref"] for e in alice.of("whoami")] == list(range(2_000))
