"""A damaged or full disk: a clear message, the program goes on where it can, no data deleted."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from tests.processes import CliProcess, RegistryProcess, history

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def whole(path: Path) -> Path:
    """``path`` as one file: whatever a quit left in its WAL merged in, the WAL gone.

    chinwag's close is meant to leave no WAL, but its two connections close at the same time
    and now and then neither sees itself as the last, so neither checkpoints: the history then
    lives in ``-wal`` beside a one-page main file (nothing is lost; SQLite replays it). Damaging
    only that main file would damage nothing, so the test merges first."""
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"this is not a database, it is a shopping list\n" * 40),
        lambda path: path.write_bytes(path.read_bytes()[:700]),  # truncated
    ],
    ids=["garbage", "truncated"],
)
def test_a_damaged_history_is_refused_clearly_and_left_alone(
    tmp_path: Path,
    registry: RegistryProcess,
    clients: list[CliProcess],
    damage: Callable[[Path], object],
) -> None:
    alice = CliProcess("alice", registry.address, tmp_path)
    clients.append(alice)
    alice.wait_event("ready")
    assert alice.quit() == 0
    path = whole(history(tmp_path, "alice"))
    damage(path)
    before = path.read_bytes()
    again = CliProcess("alice", registry.address, tmp_path)
    clients.append(again)
    error = again.wait_event("error", code="storage")
    assert str(path) in error["message"]
    assert again.proc.wait(15) == 2
    assert path.read_bytes() == before


def test_a_full_disk_refuses_new_messages_but_keeps_serving_and_keeps_the_old_ones(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    bob = CliProcess("bob", registry.address, tmp_path / "b")
    clients.append(bob)
    bob.wait_event("ready")
    alice = CliProcess("alice", registry.address, tmp_path / "a")
    clients.append(alice)
    alice.wait_event("ready")
    alice.wait_online("bob")
    alice.send(cmd="send", to="bob", body="before the disk filled up")
    bob.wait_event("message", body="before the disk filled up")
    assert alice.quit() == 0
    folder = whole(history(tmp_path / "a", "alice")).parent
    full = max(f.stat().st_size for f in folder.iterdir())  # no file may grow any more

    alice = CliProcess("alice", registry.address, tmp_path / "a", max_file_size=full)
    clients.append(alice)
    alice.wait_event("ready")
    alice.wait_online("bob")
    for n in range(20):  # enough to need a new page of the file
        alice.send(cmd="send", to="bob", body=f"{n} " + "x" * 4000)
    error = alice.wait_event("error", code="storage", timeout=30)
    assert "full" in error["message"].lower() or "large" in error["message"].lower()
    alice.send(cmd="history", **{"with": "bob"}, limit=50)  # still serving
    bodies = [m["body"] for m in alice.wait_event("history")["messages"]]
    assert "before the disk filled up" in bodies
    assert alice.quit() == 0
    with closing(sqlite3.connect(history(tmp_path / "a", "alice"))) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = [row[0] for row in db.execute("SELECT body FROM messages")]
    assert "before the disk filled up" in stored
