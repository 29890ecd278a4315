"""The terminal client as a person uses it: ``chinwag-cli`` in a real terminal (tmux, on a
private socket), keys sent in, the screen read back; bob is a ``chinwag-cli --json`` peer.

And the same client from a pipe and on a dumb terminal, where it must not send escape codes.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chinwag.adapters.console import INPUT_HISTORY_FILE
from tests.processes import ENV, CliProcess, RegistryProcess, start, user_folder

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

PROMPT_NOBODY = "(no one)> "
ENDED = "[the program ended with status "


class Terminal:
    """A tmux server of our own (``-L``, no config) holding one 120x40 terminal."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed: scripts/test.sh installs it (apt-get install tmux)")
        self.socket = f"chinwag-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder = folder
        self.runs = 0

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        assert done.returncode == 0, f"tmux {args[0]}: {done.stderr}"
        return done.stdout

    def run(
        self, command: list[str], term: str = "xterm-256color", logs_here: bool = False
    ) -> None:
        """Start ``command`` in a new 120x40 window (its stderr to a file, unless ``logs_here``);
        the window stays when it ends, so its last screen and exit status can be read."""
        self.runs += 1
        self.stderr = self.folder / f"stderr-{self.runs}.txt"
        # Exactly the tests' environment (tmux would add its own, and set TERM). The shell says
        # how the program ended, then stays, so the screen is kept as it was (a dead pane
        # scrolls it by a line) until the server is killed.
        environment = [f"{k}={v}" for k, v in {**ENV, "TERM": term}.items()]
        program = shlex.join(["env", "-i", *environment, *command])
        logs = "" if logs_here else f" 2>{self.stderr}"
        shell = f'{program}{logs}; echo "{ENDED}$?]"; exec sleep 600'
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", f"run{self.runs}", shell)
        self.target = f"run{self.runs}"

    def keys(self, *keys: str) -> None:
        """tmux key names: ``Enter``, ``Left``, ``C-c``, ``M-Enter``, ``Tab``..."""
        self.tmux("send-keys", "-t", self.target, *keys)

    def type(self, text: str) -> None:
        """``text`` as typed, character by character."""
        self.tmux("send-keys", "-t", self.target, "-l", text)

    def paste(self, text: str) -> None:
        """``text`` pasted, as a terminal pastes (bracketed, when the program asks for it)."""
        buffer = self.folder / "paste.txt"
        buffer.write_text(text, encoding="utf-8")
        self.tmux("load-buffer", "-b", "paste", str(buffer))
        self.tmux("paste-buffer", "-p", "-d", "-b", "paste", "-t", self.target)

    def _rows(self) -> list[str]:
        return self.tmux("capture-pane", "-p", "-t", self.target).rstrip("\n").split("\n")

    def screen(self) -> list[str]:
        """The visible rows, without the empty ones at the bottom (nor, once the program has
        ended, the lines that say so)."""
        rows = self._rows()
        while rows and (not rows[-1].strip() or rows[-1].startswith(ENDED)):
            rows.pop()
        return rows

    def wait(self, check: Callable[[list[str]], bool], what: str, timeout: float = 15) -> list[str]:
        """The screen, once ``check`` holds for it."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.screen()
            if check(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the screen never showed {what} in {timeout}s:\n"
                    + "\n".join(rows)
                    + f"\nstderr: {self.stderr.read_text()[-2000:] if self.stderr.exists() else ''}"
                )
            time.sleep(0.05)

    def wait_for_text(self, text: str, timeout: float = 15) -> list[str]:
        return self.wait(lambda rows: any(text in row for row in rows), repr(text), timeout)

    def wait_for_prompt(self, line: str, timeout: float = 15) -> list[str]:
        """Until the last row (where the cursor is) reads ``line``."""
        return self.wait(lambda rows: bool(rows) and rows[-1] == line, f"prompt {line!r}", timeout)

    def exit_status(self, timeout: float = 20) -> int:
        """Once the program has ended, its exit status."""
        deadline = time.monotonic() + timeout
        while not (ended := [row for row in self._rows() if row.startswith(ENDED)]):
            assert time.monotonic() < deadline, "it did not end:\n" + "\n".join(self.screen())
            time.sleep(0.05)
        return int(ended[0][len(ENDED) :].rstrip("]"))

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10, check=False
        )


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    screen = Terminal(tmp_path)
    yield screen
    screen.kill()


def cli(user: str, registry: RegistryProcess, data: Path) -> list[str]:
    """``chinwag-cli`` for people (no ``--json``)."""
    return [
        *(sys.executable, "-m", "chinwag.entrypoints.cli"),
        *("--user", user, "--registry", registry.address, "--data-dir", str(data)),
    ]


def alice_with_bob(
    terminal: Terminal,
    registry: RegistryProcess,
    clients: list[CliProcess],
    tmp_path: Path,
    *flags: str,
    logs_here: bool = False,
) -> CliProcess:
    """Bob (JSON) online, then alice in the terminal at her prompt, seeing bob online."""
    bob = start(clients, "bob", registry, tmp_path / "b")
    terminal.run([*cli("alice", registry, tmp_path / "a"), *flags], logs_here=logs_here)
    terminal.wait_for_text("* online: bob")
    terminal.wait_for_prompt(PROMPT_NOBODY.rstrip())
    return bob


def test_line_editing_completion_and_history_that_outlives_the_session(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess], terminal: Terminal
) -> None:
    bob = alice_with_bob(terminal, registry, clients, tmp_path)
    terminal.type("/m")
    terminal.keys("Tab")
    terminal.wait_for_prompt(PROMPT_NOBODY + "/msg")
    terminal.type("b")
    terminal.keys("Tab")
    terminal.wait_for_prompt(PROMPT_NOBODY + "/msg bob")
    terminal.type("hello")
    terminal.keys("Left", "Left")
    terminal.type("XY")
    terminal.keys("Enter")
    assert bob.wait_event("message", body="helXYlo")["from"] == "alice"
    rows = terminal.wait_for_text("✓ delivered to bob: 'helXYlo'")
    assert PROMPT_NOBODY + "/msg bob helXYlo" in rows  # what was typed stays on screen
    terminal.wait_for_prompt("bob>")  # the prompt names the conversation

    terminal.keys("Up")  # the line before
    terminal.wait_for_prompt("bob> /msg bob helXYlo")
    terminal.keys("C-u")
    terminal.type("plain line")
    terminal.keys("Enter")
    bob.wait_event("message", body="plain line")
    # Bob has it once he committed it; alice says so when his receipt is back. Quitting before
    # that would print the receipt's line after "signing out…".
    terminal.wait_for_text("✓ delivered to bob: 'plain line'")
    terminal.wait_for_prompt("bob>")
    terminal.keys("C-d")
    assert terminal.exit_status() == 0
    last = terminal.screen()
    assert last[-1] == "* signing out…"
    assert not any("went offline" in row for row in last)  # bob is still online
    history = user_folder(tmp_path / "a", "alice") / INPUT_HISTORY_FILE
    assert stat.S_IMODE(history.stat().st_mode) == 0o600

    terminal.run(cli("alice", registry, tmp_path / "a"))  # a new session: the history is kept
    terminal.wait_for_prompt(PROMPT_NOBODY.rstrip())
    terminal.keys("Up")
    terminal.wait_for_prompt(PROMPT_NOBODY + "plain line")
    terminal.keys("Up")
    terminal.wait_for_prompt(PROMPT_NOBODY + "/msg bob helXYlo")


def test_a_message_arriving_while_typing_shows_above_the_line_being_typed(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess], terminal: Terminal
) -> None:
    # Logs go to this terminal too (stderr), and also above the line.
    bob = alice_with_bob(
        terminal, registry, clients, tmp_path, "--log-level", "INFO", logs_here=True
    )
    terminal.type("/msg bob half typ")
    terminal.wait_for_prompt(PROMPT_NOBODY + "/msg bob half typ")
    bob.send(cmd="send", to="alice", body="ping \x1b[2J from bob")
    rows = terminal.wait_for_text("bob: ping \\x1b[2J from bob")  # escaped, never obeyed
    # The line is intact, below; with no conversation yet, bob's message made bob it.
    assert rows[-1] == "bob> /msg bob half typ"
    assert any("INFO" in row and "pinned bob" in row for row in rows[:-1])
    terminal.type("ed")
    terminal.keys("Enter")
    bob.wait_event("message", body="half typed")
    rows = terminal.wait_for_text("✓ delivered to bob: 'half typed'")
    message_row = next(i for i, row in enumerate(rows) if "ping" in row)
    assert rows.index("bob> /msg bob half typed") > message_row


def test_pastes_are_taken_whole_and_a_message_over_the_limit_stays_in_the_editor(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess], terminal: Terminal
) -> None:
    bob = alice_with_bob(terminal, registry, clients, tmp_path)
    terminal.type("/msg bob ")
    long_line = "".join(f"{n:<9} " for n in range(1000)) + "end"  # 10,003 characters
    assert len(long_line) == 10_003
    terminal.paste(long_line)
    terminal.keys("Enter")
    assert len(bob.wait_event("message", timeout=30, body=long_line)["body"]) == 10_003

    terminal.type("one")
    terminal.keys("M-Enter")  # Alt+Enter: a new line in the message
    terminal.type("two")
    terminal.keys("Enter")
    bob.wait_event("message", body="one\ntwo")

    terminal.paste("x" * 70_000)
    terminal.keys("Enter")
    terminal.wait_for_text(
        "not sent: a message is at most 65536 bytes of UTF-8 and this one has 70000"
    )
    terminal.type("z")  # still there, and still editable: one more byte, one more in the count
    terminal.keys("Enter")
    terminal.wait_for_text("this one has 70001")
    terminal.keys("C-c")  # clears the line
    terminal.wait_for_prompt("bob>")
    terminal.keys("C-l")  # clears the screen, and is no message
    terminal.wait(lambda rows: rows == ["bob>"], "a clear screen")
    terminal.type("/quit")
    terminal.keys("Enter")
    assert terminal.exit_status() == 0
    assert bob.count("message") == 2


def test_on_a_dumb_terminal_keys_read_as_text_are_refused_and_no_escapes_are_written(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess], terminal: Terminal
) -> None:
    bob = start(clients, "bob", registry, tmp_path / "b")
    terminal.run(cli("alice", registry, tmp_path / "a"), term="dumb")
    terminal.wait_for_text("* online: bob")
    terminal.keys("C-l")
    terminal.type("/msg bob hi")
    terminal.keys("Enter")
    terminal.wait_for_text("! not sent: the line holds Ctrl-L (\\x0c) at the start")
    terminal.type("/msg bob hello")
    terminal.keys("Left", "Enter")
    terminal.wait_for_text("Esc (\\x1b: an arrow or function key?) at column 15")
    terminal.type("/msg bob fine")
    terminal.keys("Enter")
    bob.wait_event("message", body="fine")
    terminal.wait_for_text("✓ delivered to bob: 'fine'")
    assert bob.count("message") == 1
    terminal.keys("C-d")
    assert terminal.exit_status() == 0


def test_from_a_pipe_the_client_writes_plain_lines_only(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    bob = start(clients, "bob", registry, tmp_path / "b")
    typed = "\x0c/help\n/msg bob hi there\n/clear\n"
    alice = subprocess.Popen(
        cli("alice", registry, tmp_path / "a"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**ENV, "TERM": "xterm-256color"},
    )
    try:
        assert alice.stdin is not None
        alice.stdin.write(typed.encode())
        alice.stdin.flush()
        bob.wait_event("message", body="hi there")
        out, _ = alice.communicate(b"", timeout=30)  # end of input: quit
    finally:
        if alice.poll() is None:
            alice.kill()
            alice.wait(10)
    assert alice.returncode == 0
    text = out.decode()
    assert "\x1b" not in text
    assert "! not sent: the line holds Ctrl-L (\\x0c) at the start" in text
    assert "* /clear works in a full terminal, not in a pipe or TERM=dumb" in text
    assert "✓ delivered to bob: 'hi there'" in text  # sign-out waits for it, and says it
    assert bob.count("message") == 1
