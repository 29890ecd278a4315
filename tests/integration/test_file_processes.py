"""Files between real ``chinwag-cli --json`` processes, through the JSON contract (issue 11).

Every size arrives with its SHA-256; a transfer survives SIGKILL of either side and resumes
where it was; a full disk pauses it and it goes on once there is room; a client that accepts no
connections gets its files through the relay.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.processes import CliProcess, RegistryProcess, start
from tests.support import wait_until_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PIECE = 512 * 1024
Event = dict[str, Any]


def make_file(path: Path, size: int, *, sparse: bool = False) -> str:
    """A file of ``size`` bytes (random, or mostly a hole with random bytes at both ends and in
    the middle when ``sparse``); its SHA-256 in hex."""
    with path.open("wb") as out:
        if sparse:
            out.truncate(size)
            for offset in (0, size // 2, max(0, size - 4096)):
                out.seek(offset)
                out.write(os.urandom(min(4096, size - offset)))
        else:
            left = size
            while left:
                chunk = os.urandom(min(left, 1 << 20))
                out.write(chunk)
                left -= len(chunk)
    return sha256_of(path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def pair(
    clients: list[CliProcess], registry: RegistryProcess, data: Path, *extra: str
) -> tuple[CliProcess, CliProcess]:
    bob = start(clients, "bob", registry, data / "b", *extra)
    alice = start(clients, "alice", registry, data / "a", *extra)
    alice.wait_online("bob")
    bob.wait_online("alice")
    return alice, bob


def offer(alice: CliProcess, path: Path, to: str = "bob") -> Event:
    """``alice`` offers ``path`` to ``to``: the contract's answer."""
    answer = alice.ask("transfer", {"cmd": "send_file", "to": to, "path": str(path)}, 60)
    assert answer["event"] == "transfer", answer
    assert answer["direction"] == "out" and answer["state"] == "offered", answer
    assert answer["name"] == path.name and answer["size"] == path.stat().st_size, answer
    return answer


def accept(bob: CliProcess, tid: str, folder: Path) -> Event:
    """``bob`` sees the offer of ``tid`` and accepts it into ``folder``."""
    incoming = bob.wait_event("transfer", id=tid, direction="in", state="offered", timeout=30)
    assert incoming["from"] == "alice", incoming
    bob.send(cmd="accept_file", id=tid, dir=str(folder))
    return incoming


def test_files_of_every_small_size_arrive_whole(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice, bob = pair(clients, registry, tmp_path)
    downloads = tmp_path / "downloads"
    for size in (0, 1, PIECE, 3 * PIECE + 7):
        source = tmp_path / f"file-{size}.bin"
        sha = make_file(source, size)
        sent = offer(alice, source)
        assert sent["sha256"] == sha
        incoming = accept(bob, sent["id"], downloads)
        assert incoming["name"] == source.name and incoming["size"] == size
        done = bob.wait_event("transfer", id=sent["id"], state="done", timeout=60)
        saved = Path(done["path"])
        assert saved.parent == downloads and saved.name == source.name
        assert sha256_of(saved) == sha and done["bytes"] == size
        alice.wait_event("transfer", id=sent["id"], direction="out", state="done", timeout=30)
    listed = alice.ask("transfers", {"cmd": "transfers"})
    assert {t["state"] for t in listed["transfers"]} == {"done"}
    assert len(listed["transfers"]) == 4
    assert not [p for p in downloads.iterdir() if p.name.startswith(".")], "a partial file left"


def test_a_gibibyte_arrives_whole_while_chat_keeps_flowing(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice, bob = pair(clients, registry, tmp_path)
    source = tmp_path / "big.img"
    sha = make_file(source, 1 << 30, sparse=True)
    sent = offer(alice, source)
    accept(bob, sent["id"], tmp_path / "downloads")
    bob.wait_event("transfer", id=sent["id"], state="active", timeout=30)
    said = 0

    def both_ways(n: int) -> bool:
        return any(e.get("body") == f"while it moves {n}" for e in bob.of("message")) and any(
            e.get("body") == f"and back {n}" for e in alice.of("message")
        )

    while not bob.of("transfer", id=sent["id"], state="done") and said < 200:
        alice.send(cmd="send", to="bob", body=f"while it moves {said}")
        bob.send(cmd="send", to="alice", body=f"and back {said}")
        wait_until_sync(functools.partial(both_ways, said), 30, f"chat message {said} both ways")
        said += 1
    # Chat went on while the file moved: messages arrived before it was done.
    assert said >= 3, "the transfer ended before chat could be measured"
    done = bob.wait_event("transfer", id=sent["id"], state="done", timeout=240)
    assert sha256_of(Path(done["path"])) == sha


def pieces_logged(client_logs: list[str], what: str) -> list[int]:
    """Piece numbers in ``what`` lines (``served piece N``/``stored piece N``) of the logs."""
    pattern = re.compile(rf"{what} piece (\d+) ")
    return [int(m.group(1)) for line in client_logs for m in [pattern.search(line)] if m]


def test_a_transfer_survives_either_side_killed_and_resumes_where_it_was(
    tmp_path: Path, clients: list[CliProcess]
) -> None:
    # Slowed by the relay (both sides accept no connections) so it can be killed mid-way.
    relay = RegistryProcess(extra=("--relay-rate", str(3 * 1024 * 1024)))
    try:
        debug = ("--listen", "none", "--log-level", "DEBUG")
        alice, bob = pair(clients, relay, tmp_path, *debug)
        source = tmp_path / "photos.tar"
        sha = make_file(source, 48 * PIECE)
        sent = offer(alice, source)
        tid = sent["id"]
        accept(bob, tid, tmp_path / "downloads")
        logs: list[str] = []

        def past(client: CliProcess, share: float) -> None:
            wait_until_sync(
                lambda: any(
                    e.get("bytes", 0) >= share * source.stat().st_size
                    for e in client.of("transfer", id=tid)
                ),
                60,
                f"{share:.0%} of the file",
            )

        past(bob, 0.2)
        alice.kill()  # the sender, mid-transfer
        logs += alice.stderr_lines
        killed = time.monotonic()
        paused = bob.wait_event("transfer", id=tid, state="paused", timeout=10)
        assert paused["reason"], paused
        assert time.monotonic() - killed <= 10
        mark = bob.mark()
        alice = start(clients, "alice", relay, tmp_path / "a", *debug)
        back = time.monotonic()
        bob.wait_event("transfer", id=tid, state="active", since=mark, timeout=5)
        assert time.monotonic() - back <= 5.5

        past(bob, 0.6)
        logs_bob = list(bob.stderr_lines)
        bob.kill()  # now the recipient
        bob = start(clients, "bob", relay, tmp_path / "b", *debug)
        done = bob.wait_event("transfer", id=tid, state="done", timeout=120)
        assert sha256_of(Path(done["path"])) == sha
        alice.wait_event("transfer", id=tid, state="done", timeout=30)
        logs += alice.stderr_lines
        logs_bob += bob.stderr_lines

        stored = pieces_logged(logs_bob, "stored")
        assert sorted(set(stored)) == list(range(48)), "a piece never stored"
        assert len(stored) - len(set(stored)) <= 1, "more than one piece received twice"
        served = pieces_logged(logs, "served")
        assert set(served) == set(range(48))
        assert len(served) - 48 <= 2 * 8, "more re-sent than the pieces in flight"
    finally:
        relay.kill()


def test_a_full_disk_pauses_the_transfer_until_there_is_room(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    bob = CliProcess(
        "bob",
        registry.address,
        tmp_path / "b",
        max_file_size=3 * 1024 * 1024,
        raisable=True,
    )
    clients.append(bob)
    bob.wait_event("ready", user="bob")
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice.wait_online("bob")
    source = tmp_path / "video.mp4"
    sha = make_file(source, 8 * 1024 * 1024)
    sent = offer(alice, source)
    accept(bob, sent["id"], tmp_path / "downloads")
    paused = bob.wait_event("transfer", id=sent["id"], state="paused", timeout=30)
    assert "room" in paused["reason"] or "full" in paused["reason"], paused
    bob.free_disk()
    done = bob.wait_event("transfer", id=sent["id"], state="done", timeout=60)
    assert sha256_of(Path(done["path"])) == sha


def test_files_reach_a_client_that_accepts_no_connections_through_the_relay(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    bob = start(clients, "bob", registry, tmp_path / "b", "--listen", "none")
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice.wait_online("bob")
    for sender, recipient, name in ((alice, bob, "to-bob.bin"), (bob, alice, "to-alice.bin")):
        source = tmp_path / name
        sha = make_file(source, 2 * PIECE + 1)
        sent = offer(sender, source, to=recipient.user)
        incoming = recipient.wait_event("transfer", id=sent["id"], state="offered", timeout=30)
        assert incoming["from"] == sender.user
        recipient.send(cmd="accept_file", id=sent["id"], dir=str(tmp_path / f"in-{name}"))
        done = recipient.wait_event("transfer", id=sent["id"], state="done", timeout=60)
        assert sha256_of(Path(done["path"])) == sha
    doctor = alice.ask("doctor", {"cmd": "doctor", "with": "bob"})
    assert doctor["path"] == "relayed", doctor
