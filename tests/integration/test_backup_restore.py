"""Backup of a running client's real folder, and restore of it elsewhere: same key, same
history; refusals leave everything as it was."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from chinwag.entrypoints import cli_backup
from tests.backup_support import CHEAP, PASS, backup, restore, tree
from tests.processes import CliProcess, RegistryProcess, history, start, user_folder

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def test_a_running_clients_backup_restores_elsewhere_with_its_key_and_history(
    tmp_path: Path,
    registry: RegistryProcess,
    clients: list[CliProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    bob = start(clients, "bob", registry, tmp_path / "b")
    key = alice.wait_event("ready")["fingerprint"]
    alice.wait_online("bob")
    for n in range(20):
        alice.send(cmd="send", to="bob", body=f"message {n} ☕")
    bob.wait_event("message", body="message 19 ☕")
    bob.send(cmd="send", to="alice", body="got them all")
    alice.wait_event("message", body="got them all")
    alice.wait_count(20, "status", state="delivered")
    before = alice.history("bob")
    assert len(before) == 21

    file = tmp_path / "out" / "alice.chinwag-backup"
    file.parent.mkdir()
    assert backup("--user", "Alice", "--data-dir", str(tmp_path / "a"), str(file)) == 0  # running
    assert "backed up alice" in capsys.readouterr().out
    assert alice.proc.poll() is None  # the client was neither refused nor disturbed
    assert [p.name for p in file.parent.iterdir()] == [file.name]  # no temporary file left
    assert [p.name for p in (tmp_path / "a").iterdir()] == [user_folder(tmp_path, "alice").name]
    assert b"message 1" not in file.read_bytes() and b"identity" not in file.read_bytes()
    assert os.stat(file).st_mode & 0o077 == 0

    fresh = tmp_path / "fresh"
    assert restore(str(file), "--data-dir", str(fresh)) == 0
    assert key in capsys.readouterr().out
    restored = user_folder(fresh, "alice")
    names = ["history.sqlite3", "identity.key", "registries.json"]  # not the lock, nor -wal
    assert sorted(p.name for p in restored.iterdir()) == names
    for name in ("identity.key", "registries.json"):
        assert (restored / name).read_bytes() == (
            user_folder(tmp_path / "a", "alice") / name
        ).read_bytes()
    assert os.stat(restored).st_mode & 0o777 == 0o700
    assert all(os.stat(p).st_mode & 0o777 == 0o600 for p in restored.iterdir())
    with sqlite3.connect(history(fresh, "alice")) as db:  # the whole history, as a real file
        assert db.execute("SELECT count(*) FROM messages").fetchone() == (21,)

    assert alice.quit() == 0
    again = start(clients, "alice", registry, fresh)  # signs in: same key, no name_taken
    assert again.wait_event("ready")["fingerprint"] == key
    assert again.history("bob") == before
    bob.send(cmd="send", to="alice", body="welcome back")  # bob's pin still fits
    again.wait_event("message", body="welcome back")

    # An identity is there now: not replaced unasked, nor while its client runs.
    kept = tree(fresh)
    assert restore(str(file), "--data-dir", str(fresh)) == 2
    assert "--force" in capsys.readouterr().err
    assert restore(str(file), "--data-dir", str(fresh), "--force") == 2
    assert "already running" in capsys.readouterr().err
    assert tree(fresh) == kept
    assert again.quit() == 0
    assert restore(str(file), "--data-dir", str(fresh), "--force") == 0
    assert sorted(p.name for p in fresh.iterdir()) == [restored.name]  # nothing left aside


def _user_with_history(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> Path:
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice.ask("history", {"cmd": "history", "with": "alice"})
    file = tmp_path / "alice.backup"
    assert backup("--user", "alice", "--data-dir", str(tmp_path / "a"), str(file)) == 0
    alice.quit()
    return file


def test_wrong_passphrase_cut_or_altered_files_restore_nothing(
    tmp_path: Path,
    registry: RegistryProcess,
    clients: list[CliProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    file = _user_with_history(tmp_path, registry, clients)
    data = file.read_bytes()
    fresh = tmp_path / "fresh"
    wrong = {"CHINWAG_BACKUP_PASSPHRASE": "not it"}
    assert restore(str(file), "--data-dir", str(fresh), environ=wrong) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("wrong passphrase (or the file's header was altered)")
    )
    for name, damaged in {
        "cut": data[: len(data) // 2],
        "cut at the end": data[:-1],
        "altered": data[:100] + bytes([data[100] ^ 1]) + data[101:],
        "altered late": data[:-5] + bytes([data[-5] ^ 0x80]) + data[-4:],
    }.items():
        file.write_bytes(damaged)
        assert restore(str(file), "--data-dir", str(fresh)) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "damaged" in err, (name, err)
    assert not fresh.exists()  # not even the data folder was made

    fresh.mkdir()
    file.write_bytes(data[:-1])
    assert restore(str(file), "--data-dir", str(fresh)) == 2
    assert list(fresh.iterdir()) == []  # no temporary folder left behind


def test_passphrase_from_a_file_and_refusals_of_the_backup_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert backup("--user", "nobody", "--data-dir", str(data), str(tmp_path / "x")) == 2
    assert "no identity for nobody" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    folder = user_folder(data, "carol")
    folder.mkdir(parents=True)
    from chinwag.adapters.secure.keys import LocalKeys, encode_keys

    (folder / "identity.key").write_bytes(encode_keys(LocalKeys.generate()))
    phrase = tmp_path / "phrase"
    phrase.write_text("from a file\n")
    out = tmp_path / "carol.backup"
    assert (
        backup(
            "--user",
            "carol",
            "--data-dir",
            str(data),
            "--passphrase-file",
            str(phrase),
            str(out),
            environ={},
        )
        == 0
    )
    assert restore(str(out), "--data-dir", str(tmp_path / "wrong"), environ=PASS) == 2  # env ≠ file
    assert (
        restore(
            str(out),
            "--data-dir",
            str(tmp_path / "r"),
            "--passphrase-file",
            str(phrase),
            environ={},
        )
        == 0
    )
    assert (user_folder(tmp_path / "r", "carol") / "identity.key").read_bytes() == (
        folder / "identity.key"
    ).read_bytes()

    answers = iter(["one", "two"])
    code = cli_backup.main(
        "backup", ["--user", "carol", "--data-dir", str(data), str(tmp_path / "y")],
        environ={}, ask=lambda prompt: next(answers), scrypt=CHEAP,
    )  # fmt: skip
    assert code == 2 and "differ" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
