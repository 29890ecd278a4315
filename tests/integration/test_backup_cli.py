"""``chinwag-cli backup`` and ``chinwag-cli restore`` as users type them: the chat client's own
command line hands them to the backup commands before its chat flags are read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ENV, CliProcess, RegistryProcess, start

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def cli(*argv: str, passphrase: str = "correct horse") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chinwag.entrypoints.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**ENV, "CHINWAG_BACKUP_PASSPHRASE": passphrase},
        check=False,
    )


def test_backup_and_restore_through_chinwag_cli(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice.send(cmd="whoami")
    fingerprint = alice.wait_event("whoami")["fingerprint"]
    archive = tmp_path / "alice.chinwag-backup"
    made = cli("backup", "--user", "alice", "--data-dir", str(tmp_path / "a"), str(archive))
    assert made.returncode == 0, made.stderr
    assert archive.exists()

    wrong = cli("restore", str(archive), "--data-dir", str(tmp_path / "b"), passphrase="nope")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    assert not (tmp_path / "b").exists()

    back = cli("restore", str(archive), "--data-dir", str(tmp_path / "b"))
    assert back.returncode == 0, back.stderr
    assert alice.quit() == 0
    again = start(clients, "alice", registry, tmp_path / "b")
    again.send(cmd="whoami")
    assert again.wait_event("whoami")["fingerprint"] == fingerprint


def test_export_and_import_through_chinwag_cli(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a")
    start(clients, "bob", registry, tmp_path / "b")
    alice.wait_online("bob")
    for n in range(3):
        alice.send(cmd="send", to="bob", body=f"<b>note {n}</b>")
    alice.wait_count(3, "status", state="delivered", timeout=30)
    out = tmp_path / "alice.jsonl"
    exported = cli("export", "--user", "alice", "--data-dir", str(tmp_path / "a"), str(out))
    assert exported.returncode == 0, exported.stderr
    assert len(out.read_text().splitlines()) == 3
    page = tmp_path / "alice.html"
    html = cli("export", "--user", "alice", "--data-dir", str(tmp_path / "a"), str(page))
    assert html.returncode == 0, html.stderr
    assert "&lt;b&gt;note 2&lt;/b&gt;" in page.read_text()

    assert alice.quit() == 0  # import is refused while the user's client runs
    again = cli("import", "--user", "alice", "--data-dir", str(tmp_path / "a"), str(out))
    assert again.returncode == 0, again.stderr  # everything there already: nothing added
    after = cli("export", "--user", "alice", "--data-dir", str(tmp_path / "a"), "-")
    assert after.stdout.splitlines() == out.read_text().splitlines()


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_without_a_terminal_the_passphrase_is_not_read_echoed_but_asked_for_in_one_line(
    tmp_path: Path, command: str
) -> None:
    data = tmp_path / "data"
    folder = data / "user-alice"
    folder.mkdir(parents=True)
    from chinwag.adapters.secure.keys import LocalKeys, encode_keys

    (folder / "identity.key").write_bytes(encode_keys(LocalKeys.generate()))
    archive = tmp_path / "alice.chinwag-backup"
    archive.write_bytes(b"CHINWAGB")
    argv = (
        ["backup", "--user", "alice", "--data-dir", str(data), str(tmp_path / "new.cwb")]
        if command == "backup"
        else ["restore", str(archive), "--data-dir", str(tmp_path / "fresh")]
    )
    done = subprocess.run(
        [sys.executable, "-m", "chinwag.entrypoints.cli", *argv],
        capture_output=True,
        input="typed into a pipe\n",
        text=True,
        timeout=60,
        env=ENV,  # no CHINWAG_BACKUP_PASSPHRASE
        start_new_session=True,  # no controlling terminal: /dev/tty cannot be opened
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"chinwag-cli {command}: no terminal to ask the passphrase on: give --passphrase-file "
        "FILE or set CHINWAG_BACKUP_PASSPHRASE; nothing was written"
    ], done.stderr
    assert not (tmp_path / "new.cwb").exists() and not (tmp_path / "fresh").exists()
