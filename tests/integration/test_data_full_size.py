"""Issue 13's acceptance at full size.

- A running ``chinwag-cli --json`` client whose history holds 100,000 messages and a real file
  transfer is backed up; the backup restores into a fresh data folder, where the same user signs
  in to the same registry with the same key (bob, who had pinned it, sees no change) and sees
  the same history and transfer; a cut, altered or wrongly unlocked copy restores nothing.
- ``chinwag-cli export`` of 1,000,000 messages in each format, in a process of its own whose
  peak RSS is read (``wait4``) beside the same export of 10,000 messages: the difference must
  stay under :data:`MEMORY_GROWTH` (20 MiB, about 20 bytes a message: anything kept per
  message would show).
- The HTML page opened by the real headless chromium (``--dump-dom``): see
  :func:`test_chromium_renders_the_exported_page_in_order_and_runs_nothing`.

Histories are written by :mod:`tests.history_fill`; the million-message one once per module.
The whole file takes about 85 s on 2 cores: 9 s for the million-message history, 30 s for
its three exports, 33 s for chromium, 8 s for the backup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import pytest

from chinwag.entrypoints import cli_backup
from tests import history_fill
from tests.backup_support import CHEAP, PASS, no_terminal, restore
from tests.history_fill import body, hostile, measure
from tests.processes import ENV, CliProcess, RegistryProcess, history, start

pytestmark = [pytest.mark.slow]

MIB: Final = 1 << 20
MEMORY_GROWTH: Final = 20 * MIB
"""How much more an export of 1,000,000 messages may take at its peak than one of 10,000."""
MILLION: Final = 1_000_000
SMALL: Final = 10_000
BACKED_UP: Final = 100_000
SENT: Final = 100_000
"""Bytes of the file alice sends bob."""
Event = dict[str, Any]


def whole_history(client: CliProcess, peer: str) -> list[tuple[str, str]]:
    """Every message of the chat with ``peer`` the client shows, oldest first, as (id, body):
    paged back 500 at a time, as a reader scrolling up would."""
    pages: list[list[Event]] = []
    command: Event = {"cmd": "history", "with": peer, "limit": 500}
    while True:
        answer = client.ask("history", command, timeout=30)
        assert answer["event"] == "history", answer
        page: list[Event] = answer["messages"]
        if not page:
            break
        pages.append(page)
        command = {**command, "before": page[0]["id"]}
    return [(m["id"], m["body"]) for page in reversed(pages) for m in page]


def _kept(transfers: list[Event]) -> list[Event]:
    """Transfer records without their momentary rate."""
    return [{k: v for k, v in t.items() if k != "rate"} for t in transfers]


def _sign_in_and_exchange(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> tuple[CliProcess, CliProcess]:
    """bob and alice (her history filled already) online; a message each way, so that bob has
    pinned alice's key; a file from alice that bob saves."""
    bob = start(clients, "bob", registry, tmp_path / "b")
    alice = start(clients, "alice", registry, tmp_path / "a")
    alice.wait_online("bob", timeout=30)
    bob.wait_online("alice", timeout=30)
    bob.send(cmd="send", to="alice", body="hello alice")
    alice.wait_event("message", body="hello alice", timeout=30)
    alice.send(cmd="send", to="bob", body="a file is coming")
    bob.wait_event("message", body="a file is coming", timeout=30)

    source = tmp_path / "notes <1>.txt"
    source.write_bytes(os.urandom(SENT))
    sent = alice.ask("transfer", {"cmd": "send_file", "to": "bob", "path": str(source)}, 60)
    assert sent["event"] == "transfer" and sent["state"] == "offered", sent
    bob.wait_event("transfer", id=sent["id"], direction="in", state="offered", timeout=30)
    bob.send(cmd="accept_file", id=sent["id"], dir=str(tmp_path / "downloads"))
    bob.wait_event("transfer", id=sent["id"], state="done", timeout=60)
    alice.wait_event("transfer", id=sent["id"], direction="out", state="done", timeout=30)
    return alice, bob


@pytest.mark.timeout(240)
def test_a_running_client_with_100000_messages_and_a_transfer_restores_whole(
    tmp_path: Path,
    registry: RegistryProcess,
    clients: list[CliProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    history_fill.fill_through_repository(history(tmp_path / "a", "alice"), BACKED_UP)
    alice, bob = _sign_in_and_exchange(tmp_path, registry, clients)
    key = alice.wait_event("ready")["fingerprint"]
    pinned = bob.ask("safety_number", {"cmd": "verify", "with": "alice"})
    assert pinned["fingerprint"] == key, pinned
    before = whole_history(alice, "bob")
    assert len(before) == BACKED_UP + 3  # + hello, a file is coming, the file's offer
    assert before[0] == (str(UUID(int=1)), body(1))
    assert before[BACKED_UP - 1] == (str(UUID(int=BACKED_UP)), body(BACKED_UP))
    assert before[6] == (str(UUID(int=7)), hostile(7))
    assert [b for _, b in before[-3:-1]] == ["hello alice", "a file is coming"]
    transfers = alice.ask("transfers", {"cmd": "transfers"})["transfers"]
    assert [(t["direction"], t["state"], t["size"]) for t in transfers] == [("out", "done", SENT)]

    file = tmp_path / "out" / "alice.chinwag-backup"
    file.parent.mkdir()
    made = cli_backup.main(
        "backup", ["--user", "alice", "--data-dir", str(tmp_path / "a"), str(file)],
        environ=PASS, ask=no_terminal, scrypt=CHEAP,
    )  # fmt: skip
    assert made == 0, capsys.readouterr().err
    assert alice.proc.poll() is None  # taken while it runs, without stopping it
    assert file.stat().st_size > BACKED_UP * 50  # the messages are in it (encrypted)

    _refusals_write_nothing(file, tmp_path / "refused", capsys)

    fresh = tmp_path / "fresh"
    assert restore(str(file), "--data-dir", str(fresh)) == 0
    assert key in capsys.readouterr().out
    assert alice.quit() == 0
    mark = bob.mark()
    again = start(clients, "alice", registry, fresh)  # no name_taken: it would never be ready
    assert again.wait_event("ready")["fingerprint"] == key
    assert whole_history(again, "bob") == before
    assert _kept(again.ask("transfers", {"cmd": "transfers"})["transfers"]) == _kept(transfers)

    # bob, who pinned alice's key, takes the restored alice for the same one.
    bob.wait_online("alice", since=mark, timeout=30)
    bob.send(cmd="send", to="alice", body="welcome back")
    again.wait_event("message", body="welcome back", timeout=30)
    again.send(cmd="send", to="bob", body="thanks")
    bob.wait_event("message", body="thanks", since=mark, timeout=30)
    assert bob.count("identity") == 0  # no key change, nothing to trust
    assert bob.ask("safety_number", {"cmd": "verify", "with": "alice"}) == pinned


def _refusals_write_nothing(file: Path, fresh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong passphrase, a cut copy and an altered one of the big backup: refused, and
    nothing written (not even the data folder, nor a temporary folder in an existing one)."""
    data = file.read_bytes()
    damaged = file.with_name("damaged")
    wrong = {"CHINWAG_BACKUP_PASSPHRASE": "not it"}
    assert restore(str(file), "--data-dir", str(fresh), environ=wrong) == 2
    assert "wrong passphrase" in capsys.readouterr().err
    middle = len(data) // 2
    for name, copy in {
        "cut at the end": data[:-1],
        "cut in half": data[:middle],
        "altered in the middle": data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :],
    }.items():
        damaged.write_bytes(copy)
        assert restore(str(damaged), "--data-dir", str(fresh)) == 2, name
        assert "damaged" in capsys.readouterr().err, name
    assert not fresh.exists()
    fresh.mkdir()
    damaged.write_bytes(data[:-1])
    assert restore(str(damaged), "--data-dir", str(fresh)) == 2
    assert list(fresh.iterdir()) == []
    damaged.unlink()


def _data(folder: Path, count: int) -> Path:
    history_fill.bulk_fill(folder / "user-alice" / "history.sqlite3", count)
    return folder


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder where alice's history holds 1,000,000 messages (about 360 MB)."""
    folder = tmp_path_factory.mktemp("million")
    yield _data(folder, MILLION)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _data(tmp_path_factory.mktemp("small"), SMALL)


def export(data: Path, out: Path, *flags: str) -> int:
    """``chinwag-cli export`` of alice's history to ``out``: its peak RSS in bytes."""
    argv = ("export", "--user", "alice", "--data-dir", str(data), *flags, str(out))
    done = measure([sys.executable, "-m", "chinwag.entrypoints.cli", *argv], ENV)
    assert done.stderr.startswith("exported "), done.stderr
    return done.peak_bytes


def _ends(path: Path, size: int = 64 * 1024) -> tuple[str, str]:
    """The first and last ``size`` bytes of a big file, as text."""
    with path.open("rb") as source:
        head = source.read(size)
        source.seek(max(0, path.stat().st_size - size))
        tail = source.read()
    return head.decode("utf-8", "replace"), tail.decode("utf-8", "replace")


def _jsonl_in_order(path: Path, count: int) -> None:
    """One line per message, ids 1 to ``count`` in storage order (the id is the second field)."""
    prefix = '{"v": 1, "id": "'
    n = 0
    with path.open(encoding="utf-8") as lines:
        for n, line in enumerate(lines, start=1):
            assert line.startswith(prefix), line
            assert line[len(prefix) : len(prefix) + 36] == str(UUID(int=n)), (n, line)
    assert n == count


def _lacks(path: Path, needle: bytes) -> bool:
    """``needle`` is nowhere in the file (read in pieces, overlapping by its length)."""
    keep = b""
    with path.open("rb") as source:
        while piece := source.read(8 * MIB):
            if needle in keep + piece:
                return False
            keep = piece[-len(needle) :]
    return True


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["jsonl", "txt", "html"])
def test_an_export_of_a_million_messages_runs_in_bounded_memory(
    kind: str, million: Path, small: Path, tmp_path: Path
) -> None:
    """The same export of 10,000 and of 1,000,000 messages: the peak RSS of the second may
    exceed the first's by less than :data:`MEMORY_GROWTH` (20 MiB)."""
    out = tmp_path / f"all.{kind}"
    base = export(small, tmp_path / f"small.{kind}")
    peak = export(million, out)
    assert peak - base < MEMORY_GROWTH, f"{kind}: {base / MIB:.1f} MiB -> {peak / MIB:.1f} MiB"
    head, tail = _ends(out)
    last = body(MILLION)
    if kind == "jsonl":
        _jsonl_in_order(out, MILLION)
        assert tail.endswith(f'"body": "{last}"}}\n')
    elif kind == "txt":
        assert head.startswith("== Conversation with bob (1,000,000 messages) ==\n")
        assert f"alice: {body(1)}  ✓✓ delivered\n" in head
        assert tail.endswith(f"bob: {last}\n")
    else:
        assert f'<div class="msg out" id="m-{UUID(int=1)}" dir="auto">' in head
        assert f"</time>{body(1)}</div>\n" in head  # the body: the message's own text
        assert f"</time>{last}</div>\n" in tail
        assert "&lt;script&gt;document.title=&#x27;ran 7&#x27;" in head
        assert _lacks(out, b"<script") and _lacks(out, b"<img")
    out.unlink()


def test_the_bulk_filler_writes_what_the_repository_stores(tmp_path: Path) -> None:
    """The million-message history is written without the repository (2.5 times faster):
    the same messages stored both ways export alike, byte for byte."""
    through = tmp_path / "repository"
    history_fill.fill_through_repository(through / "user-alice" / "history.sqlite3", 2000)
    bulk = _data(tmp_path / "bulk", 2000)
    export(through, tmp_path / "repository.jsonl")
    export(bulk, tmp_path / "bulk.jsonl")
    written = (tmp_path / "bulk.jsonl").read_bytes()
    assert written.count(b"\n") == 2000
    assert (tmp_path / "repository.jsonl").read_bytes() == written


CHROMIUM: Final = shutil.which("chromium") or shutil.which("chromium-browser")
RENDERED: Final = 200_000
"""Messages of the page chromium opens (the last of the million: see the test)."""


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
@pytest.mark.timeout(240)
def test_chromium_renders_the_exported_page_in_order_and_runs_nothing(
    million: Path, tmp_path: Path
) -> None:
    """The DOM chromium builds from the page holds every body as text, in order, and no
    element nor script from one (the page's title is still its own: no body's script ran).

    Not the whole million here: chromium builds and lays out the whole page in one renderer,
    and the 1,000,000-message page (255 MB) takes it about 10 minutes and 12.5 GB on this
    machine (``python benchmarks/bench_data.py --browser`` does it and checks the DOM the same
    way: all 1,000,000 in order, nothing run; 592 s measured once), more than a test may cost.
    Measured here (2 cores, two elements a message): 10,000 messages
    in 1.8 s, 100,000 in 11 s (530 MB), 200,000 in 28 s (560 to 840 MB), 300,000 in 54 s
    (795 MB); with six elements a message it took 15 s, 41 s and 83 s. The page opened is the
    export of the last :data:`RENDERED` (200,000) messages of the million (``--since``), which
    renders in under half a minute.
    """
    assert CHROMIUM is not None
    first = MILLION - RENDERED + 1
    page = tmp_path / "tail.html"
    export(million, page, "--since", history_fill.sent_at(first).isoformat())
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=200,
        check=True,
    ).stdout
    assert "<title>chinwag history of alice</title>" in dom
    assert dom.count('<div class="msg ') == RENDERED
    for element in ("<script", "<img", "<b>bold"):
        assert element not in dom, element
    hostile_ones = [n for n in range(first, MILLION + 1) if n % history_fill.HOSTILE_EVERY == 7]
    assert dom.count("&lt;script&gt;document.title=") == len(hostile_ones)
    at = 0
    for n in sorted({*range(first, MILLION, 997), *hostile_ones[::10], MILLION}):
        shown = body(n).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        found = dom.find(f">{shown}</div>", at)
        assert found > at, f"message {n} is missing or out of order"
        at = found
