"""Files in the terminal client as two people use it: alice and bob each in ``chinwag-cli`` in
a real terminal (tmux, each on a private socket), keys sent in, the screens read back.

Alice offers a file with ``/send`` (a name with a space, in quotes, relative to the folder she
started in); bob reads the offer line and takes the file with ``/accept`` and the start of its
id; both are told it is done, and bob's copy is the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_terminal_tmux import Terminal, cli
from tests.processes import RegistryProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

NAME = "my notes.bin"
SIZE = 3_012_345
"""Several pieces (of 512 KiB), the last a short one; said as "3.0 MB"."""
OFFER = re.compile(
    r"\[\d\d:\d\d\] alice offers my notes\.bin \(3\.0 MB, application/octet-stream\)"
    r" — /accept ([0-9a-f]{8}) or /decline \1"
)
"""Bob's line about the offer; its group is the transfer's id as the lines show it."""


class Screen(Terminal):
    """A :class:`Terminal` whose rows are the lines as printed: a line wider than the
    terminal (one ending in a long path) is read back whole, not as the rows it wraps onto."""

    def _rows(self) -> list[str]:
        joined = self.tmux("capture-pane", "-p", "-J", "-t", self.target)
        return [row.rstrip() for row in joined.rstrip("\n").split("\n")]


@pytest.fixture
def screens(tmp_path: Path) -> Iterator[tuple[Screen, Screen]]:
    """Alice's terminal and bob's, each on a tmux server of its own."""
    alice, bob = Screen(tmp_path / "alice-tmux"), Screen(tmp_path / "bob-tmux")
    for screen in (alice, bob):
        screen.folder.mkdir()
    try:
        yield alice, bob
    finally:
        alice.kill()
        bob.kill()


def person(user: str, registry: RegistryProcess, tmp_path: Path, folder: Path) -> list[str]:
    """``chinwag-cli`` for ``user`` started in ``folder``, with a downloads folder of its own."""
    downloads = tmp_path / f"{user}-downloads"
    command = [*cli(user, registry, tmp_path / user), "--downloads", str(downloads)]
    return ["sh", "-c", 'cd "$0" && exec "$@"', str(folder), *command]


def test_a_file_sent_with_send_is_accepted_by_the_start_of_its_id(
    tmp_path: Path, registry: RegistryProcess, screens: tuple[Screen, Screen]
) -> None:
    alice, bob = screens
    files = tmp_path / "files"
    files.mkdir()
    content = os.urandom(SIZE)
    (files / NAME).write_bytes(content)

    bob.run(person("bob", registry, tmp_path, tmp_path))
    bob.wait_for_prompt("(no one)>")
    alice.run(person("alice", registry, tmp_path, files))
    alice.wait_for_text("* online: bob")
    alice.wait_for_prompt("(no one)>")

    alice.type(f'/send "{NAME}" bob')
    alice.keys("Enter")
    rows = bob.wait(lambda rows: any(OFFER.fullmatch(row) for row in rows), "the offer line")
    tid = next(m.group(1) for row in rows if (m := OFFER.fullmatch(row)))
    # The sender's line names the same transfer, and how to take the offer back.
    alice.wait_for_text(
        f"↑ offering {NAME} (3.0 MB, application/octet-stream) to bob — /cancel {tid}"
    )

    bob.type(f"/accept {tid[:4]}")  # the start of the id is enough when only one has it
    bob.keys("Enter")
    saved = tmp_path / "bob-downloads" / NAME
    bob.wait_for_text(f"↓ {NAME} from alice [{tid}]: accepted")
    rows = bob.wait_for_text(f"↓ {NAME} from alice [{tid}]: done, saved to {saved}", timeout=30)
    alice.wait_for_text(f"↑ {NAME} to bob [{tid}]: done", timeout=30)
    assert saved.read_bytes() == content
    assert sorted(p.name for p in saved.parent.iterdir()) == [NAME]  # no partial file left
    assert not any(row.startswith("!") for row in rows), rows  # no error on the way

    bob.type("/transfers")
    bob.keys("Enter")
    bob.wait_for_text(f"↓ {tid} {NAME} from alice: done, saved to {saved}")
    for screen in (alice, bob):
        screen.type("/quit")
        screen.keys("Enter")
        assert screen.exit_status() == 0
