"""What ``chinwag-cli backup|restore`` (and the desktop app, through the same service) refuse,
and how they say it: never over chinwag's own files, never a damaged key, never a temporary
file's name or a traceback; relative paths work. No client runs here: a user's folder is made
as chinwag makes it (a real key, a real SQLite history)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from chinwag.adapters.backup.archive import ArchiveWriter, BackupError
from chinwag.adapters.backup.bundle import write_entries
from chinwag.adapters.backup.service import back_up_user
from chinwag.adapters.gui.presenter_data import reason
from chinwag.adapters.secure.keys import LocalKeys, encode_keys
from chinwag.entrypoints import cli_backup
from tests.backup_support import CHEAP, PASS, backup, restore, tree
from tests.processes import user_folder

pytestmark = pytest.mark.timeout(60)


def _make_user(data: Path, user: str) -> Path:
    """``user``'s folder with a usable key, a history with one row, and the lock."""
    folder = user_folder(data, user)
    folder.mkdir(parents=True)
    (folder / "identity.key").write_bytes(encode_keys(LocalKeys.generate()))
    with sqlite3.connect(folder / "history.sqlite3") as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('kept')")
    db.close()
    (folder / "lock").write_bytes(b"")
    return folder


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_backup_is_never_written_over_or_among_chinwags_own_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    alice = _make_user(data, "alice")
    bob = _make_user(data, "bob")
    other = _make_user(tmp_path / "elsewhere", "carol")  # another data folder
    (tmp_path / "link").symlink_to(alice)
    before = tree(tmp_path)
    for out, said in [
        (alice / "identity.key", "one of chinwag's own files"),
        (alice / "history.sqlite3", "one of chinwag's own files"),
        (alice / "history.sqlite3-wal", "one of chinwag's own files"),
        (alice / "lock", "one of chinwag's own files"),
        (alice / "alice.chinwag-backup", "inside alice's folder"),
        (tmp_path / "link" / "identity.key", "one of chinwag's own files"),
        (bob / "identity.key", "one of chinwag's own files"),
        (bob / "new.chinwag-backup", "inside a user's folder"),
        (other / "history.sqlite3", "one of chinwag's own files"),
    ]:
        assert backup("--user", "alice", "--data-dir", str(data), str(out)) == 2, out
        err = _one_line(capsys)
        assert said in err and str(out) in err and "nothing was written" in err, err
        assert tree(tmp_path) == before, out  # nothing replaced, nothing left beside

    # The desktop app's Back up… calls the same service: refused there too.
    with pytest.raises(BackupError, match="own files"):
        back_up_user(alice, "alice", alice / "identity.key", "pass", cli_backup.USER_FILES)
    assert tree(tmp_path) == before

    # ... and says why as the command does, naming the file asked for.
    missing = tmp_path / "nowhere" / "x.chinwag-backup"
    with pytest.raises(BackupError) as caught:
        back_up_user(alice, "alice", missing, "pass", cli_backup.USER_FILES, scrypt=CHEAP)
    assert reason(caught.value) == (
        f"cannot write {missing}: the folder {missing.parent} does not exist"
    )

    beside = data / "alice.chinwag-backup"  # in the data folder, in no user's folder: fine
    assert backup("--user", "alice", "--data-dir", str(data), str(beside)) == 0
    assert beside.is_file()


def test_a_damaged_identity_key_is_never_packed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    folder = _make_user(data, "alice")
    for damage in [b"", b"not a key", b'{"version": 1}\n', b"\x00" * 40]:
        (folder / "identity.key").write_bytes(damage)
        out = tmp_path / "alice.chinwag-backup"
        assert backup("--user", "alice", "--data-dir", str(data), str(out)) == 2
        err = _one_line(capsys)
        assert "identity key" in err and "damaged" in err and "nothing was written" in err, err
        assert "restore it from a backup" not in err
        assert not out.exists()
        assert sorted(p.name for p in data.iterdir()) == [folder.name]  # no work folder left


def test_relative_data_folders_and_files_back_up_and_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_user(tmp_path / "data", "alice")
    monkeypatch.chdir(tmp_path)
    assert backup("--user", "alice", "--data-dir", "data", "alice.cwb") == 0
    assert (tmp_path / "alice.cwb").is_file()
    assert restore("alice.cwb", "--data-dir", "back") == 0, capsys.readouterr().err
    assert restore("alice.cwb", environ={**PASS, "CHINWAG_DATA_DIR": "rel"}) == 0
    out = capsys.readouterr().out
    assert f"into {user_folder(tmp_path / 'back', 'alice')}" in out  # said as an absolute path
    for restored in (tmp_path / "back", tmp_path / "rel"):
        with sqlite3.connect(user_folder(restored, "alice") / "history.sqlite3") as db:
            assert db.execute("SELECT body FROM notes").fetchall() == [("kept",)]
        db.close()
    monkeypatch.chdir(tmp_path / "data")
    assert backup("--user", "alice", "--data-dir", ".", "../again.cwb") == 0
    assert (tmp_path / "again.cwb").is_file()


def test_write_errors_name_the_file_asked_for_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _make_user(data, "alice")
    (tmp_path / "a-file").write_text("x")
    for out, said in [
        (tmp_path / "missing" / "x.cwb", f"the folder {tmp_path / 'missing'} does not exist"),
        (tmp_path, "it is a folder"),
        (tmp_path / "a-file" / "x.cwb", f"{tmp_path / 'a-file'} is not a folder"),
    ]:
        before = tree(tmp_path)
        assert backup("--user", "alice", "--data-dir", str(data), str(out)) == 2
        err = _one_line(capsys)
        assert f"cannot write {out}: {said}" in err, err
        assert ".tmp" not in err and "Errno" not in err
        assert tree(tmp_path) == before


def _sealed(path: Path, key: bytes, passphrase: str = "a long backup passphrase") -> None:
    """A backup of alice whose key file holds ``key`` (as a backup made before backup checked
    the key could)."""
    source = path.with_name("identity.key")
    source.write_bytes(key)
    with path.open("wb") as out:
        writer = ArchiveWriter(out, passphrase, scrypt=CHEAP)
        write_entries(writer, "alice", [("identity.key", source)])
        writer.close()
    source.unlink()


def test_restore_refusals_name_the_backup_and_make_sense_while_restoring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = tmp_path / "fresh"
    assert restore(str(tmp_path), "--data-dir", str(fresh)) == 2
    assert f"{tmp_path} is a folder, not a backup file" in _one_line(capsys)

    damaged = tmp_path / "damaged.chinwag-backup"
    _sealed(damaged, b'{"version": 1, "identity": "AAAA"}\n')
    assert restore(str(damaged), "--data-dir", str(fresh)) == 2
    err = _one_line(capsys)
    assert f"the identity key in the backup {damaged} is damaged" in err, err
    assert ".restore-" not in err and "restore it from a backup" not in err
    assert not fresh.exists()


def test_an_empty_passphrase_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _make_user(data, "alice")
    asked: list[str] = []

    def empty(prompt: str) -> str:
        asked.append(prompt)
        return ""

    out = tmp_path / "x.cwb"
    argv = ["--user", "alice", "--data-dir", str(data), str(out)]
    assert cli_backup.main("backup", argv, environ={}, ask=empty, scrypt=CHEAP) == 2
    assert len(asked) == 1  # not asked to type nothing again
    err = _one_line(capsys)
    assert "the passphrase is empty; nothing was written" in err
    assert not out.exists()
    assert os.listdir(tmp_path) == ["data"]
