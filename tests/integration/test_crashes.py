"""Processes killed with SIGKILL in the middle of a stream: nothing is lost, nothing doubled."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.processes import CliProcess, RegistryProcess, history, start
from tests.support import wait_until_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

COUNT = 2000


def stored_bodies(path: Path, sender: str) -> list[str]:
    """Bodies from ``sender`` in the order stored, after checking the file is sound."""
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute(
            "SELECT id, body FROM messages WHERE sender = ? ORDER BY seq", (sender,)
        ).fetchall()
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids)), "a message is stored twice"
    return [row[1] for row in rows]


def outbox(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        (waiting,) = db.execute(
            "SELECT count(*) FROM messages WHERE state IN ('pending', 'queued', 'sent')"
        ).fetchone()
    return int(waiting)


def body(n: int) -> str:
    return f"stream {n:04d}"


def stream_under_way(
    clients: list[CliProcess], registry: RegistryProcess, data: Path
) -> tuple[CliProcess, CliProcess]:
    """alice streaming COUNT messages to bob, a fifth of them arrived."""
    bob = start(clients, "bob", registry, data / "b")
    alice = start(clients, "alice", registry, data / "a")
    alice.wait_online("bob")
    for n in range(COUNT):
        alice.send(cmd="send", to="bob", body=body(n))
    wait_until_sync(lambda: bob.count("message") >= COUNT // 5, 60, "a fifth of the stream")
    return alice, bob


def test_the_receiver_killed_mid_stream_ends_up_with_every_message_once_in_order(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice, bob = stream_under_way(clients, registry, tmp_path)
    bob.kill()  # SIGKILL, mid-stream
    bob = start(clients, "bob", registry, tmp_path / "b")
    wait_until_sync(lambda: alice.count("status", state="delivered") >= COUNT, 120, "all acked")
    assert stored_bodies(history(tmp_path / "b", "bob"), "alice") == [body(n) for n in range(COUNT)]


def test_the_sender_killed_mid_stream_resumes_and_nothing_is_lost_or_doubled(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice, bob = stream_under_way(clients, registry, tmp_path)
    alice.kill()  # SIGKILL, mid-stream: what it committed is in its outbox
    committed = stored_bodies(history(tmp_path / "a", "alice"), "alice")
    assert committed == [body(n) for n in range(len(committed))]  # a prefix, in order
    alice = start(clients, "alice", registry, tmp_path / "a")
    wait_until_sync(
        lambda: bob.count("message") >= len(committed), 120, "every committed message at bob"
    )
    wait_until_sync(lambda: outbox(history(tmp_path / "a", "alice")) == 0, 60, "an empty outbox")
    assert stored_bodies(history(tmp_path / "b", "bob"), "alice") == committed
