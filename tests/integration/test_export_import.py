"""``chinwag-cli export`` and ``import`` on a history written by the real SQLite repositories:
every format, the filters, an import into an empty history that reproduces it, an import
twice that adds nothing, an export beside a writing client, and bounded memory."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import sqlite3
import subprocess
import tracemalloc
from collections import deque
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.export.jsonl import JsonLinesWriter
from chinwag.adapters.sqlite.conversations import SqliteConversationRepository
from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.export_rows import SqliteHistorySource
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.application.history_export import ExportScope, export_history
from chinwag.application.ports import StateChange
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import GroupStamp, Message, MessageState
from chinwag.domain.transfer import FileOffer
from chinwag.entrypoints import cli_export
from tests import history_fill
from tests.history_fill import give_identity

T = TypeVar("T")

T0 = datetime(2024, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)
ALICE_BOB = Conversation.direct("alice", "bob")
ALICE_CAROL = Conversation.direct("alice", "carol")
GROUP = UUID("0190b5a4-7d1e-8c3f-9a2b-4c5d6e7f8091")
HOSTILE = "<script>alert(1)</script></div> & \"q\" 'q'\nשלום 👍🏽"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def history_path(data: Path, user: str = "alice") -> Path:
    return data / f"user-{user}" / "history.sqlite3"


def direct(
    n: int,
    conversation: Conversation = ALICE_BOB,
    outgoing: bool = True,
    body: str | None = None,
    **more: Any,
) -> Message:
    me, other = "alice", conversation.other_than("alice")
    return Message(
        id=UUID(int=n),
        conversation_id=conversation.id,
        sender=me if outgoing else other,
        recipient=other if outgoing else me,
        body=f"note {n}" if body is None else body,
        sent_at=T0 + timedelta(minutes=n),
        state=MessageState.PENDING if outgoing else MessageState.RECEIVED,
        received_at=None if outgoing else T0 + timedelta(minutes=n, seconds=1),
        **more,
    )


def posted(n: int, author: str = "alice") -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=GROUP,
        group_id=GROUP,
        stamp=GroupStamp(seq=n, version=1, signature=bytes([n]) * 64),
        sender=author,
        body=f"group note {n}",
        sent_at=T0 + timedelta(minutes=n),
        state=MessageState.PENDING if author == "alice" else MessageState.RECEIVED,
    )


OFFER = FileOffer(
    name="notes <1>.txt",
    size=3,
    sha256=bytes(32),
    piece_size=512 * 1024,
    root=bytes([1]) * 32,
    mime="text/plain",
)


async def _fill(db: Database) -> None:
    messages = SqliteMessageRepository(db)
    conversations = SqliteConversationRepository(db)
    await conversations.save([ALICE_BOB, ALICE_CAROL, Conversation.of_group(GROUP)])
    await messages.add([direct(1, body=HOSTILE), direct(2, outgoing=False)])
    await messages.add([direct(3, ALICE_CAROL), direct(4, ALICE_CAROL, outgoing=False)])
    await messages.add([posted(5)], {UUID(int=5): ["bob", "carol"]})
    await messages.add([posted(6, "bob"), direct(7, outgoing=False, file=OFFER, body="notes")])
    await messages.add([direct(8)])
    await messages.update_states(
        [
            StateChange(UUID(int=1), MessageState.DELIVERED),
            StateChange(UUID(int=3), MessageState.FAILED, "too_large"),
            StateChange(UUID(int=5), MessageState.DELIVERED, None, "bob"),
            StateChange(UUID(int=5), MessageState.QUEUED, "offline", "carol"),
            StateChange(UUID(int=8), MessageState.QUEUED, "offline"),
        ]
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder where alice has a history of direct, group and file messages."""
    folder = tmp_path / "data"
    give_identity(folder)
    with Database(history_path(folder)) as db:
        run(_fill(db))
    return folder


def cli(command: str, *argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = cli_export.main(command, list(argv), stderr=err)
    return code, err.getvalue()


def export(data: Path, out: Path, *flags: str) -> list[dict[str, Any]]:
    code, err = cli("export", "--user", "alice", "--data-dir", str(data), *flags, str(out))
    assert code == 0, err
    if out.suffix == ".jsonl":
        return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return []


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """What a history holds, but for local numbering and bookkeeping times."""
    with sqlite3.connect(path) as connection:
        return {
            "messages": connection.execute(
                "SELECT id, conversation_id, sender, recipient, body, sent_at, state, reason,"
                " received_at, group_id, stamp_seq, stamp_version, stamp_signature, file"
                " FROM messages ORDER BY seq"
            ).fetchall(),
            "deliveries": connection.execute(
                "SELECT m.id, d.recipient, d.state, d.reason FROM deliveries AS d"
                " JOIN messages AS m ON m.seq = d.message_seq ORDER BY m.seq, d.recipient"
            ).fetchall(),
            "conversations": connection.execute(
                "SELECT id, kind, participants FROM conversations ORDER BY id"
            ).fetchall(),
            "transfers": connection.execute(
                "SELECT id, peer, direction, state FROM transfers ORDER BY id"
            ).fetchall(),
        }


def test_jsonl_holds_every_message_in_storage_order(data: Path, tmp_path: Path) -> None:
    lines = export(data, tmp_path / "all.jsonl")
    assert [UUID(line["id"]).int for line in lines] == [1, 2, 3, 4, 5, 6, 7, 8]
    first = lines[0]
    assert first["body"] == HOSTILE and first["peer"] == "bob" and first["state"] == "delivered"
    group = lines[4]
    assert group["group"] == str(GROUP) and group["state"] == "queued"
    assert group["deliveries"] == [
        {"recipient": "bob", "state": "delivered"},
        {"recipient": "carol", "state": "queued", "reason": "offline"},
    ]
    assert lines[6]["file"]["name"] == "notes <1>.txt"
    assert (tmp_path / "all.jsonl").stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*.tmp"))


def test_import_into_an_empty_history_reproduces_it(data: Path, tmp_path: Path) -> None:
    export(data, tmp_path / "all.jsonl")
    fresh = tmp_path / "fresh"
    give_identity(fresh)
    code, err = cli(
        "import", "--user", "alice", "--data-dir", str(fresh), str(tmp_path / "all.jsonl")
    )
    assert code == 0, err
    assert "imported 8 new messages of 8" in err
    assert dump(history_path(fresh)) == dump(history_path(data))

    async def unread() -> dict[UUID, Any]:
        with Database(history_path(fresh)) as db:
            return await SqliteConversationRepository(db).unread()

    assert run(unread()) == {}  # an archive does not come back unread


def test_importing_twice_adds_nothing_and_leaves_messages_as_they_are(
    data: Path, tmp_path: Path
) -> None:
    export(data, tmp_path / "all.jsonl")
    before = dump(history_path(data))
    for _ in range(2):
        code, err = cli(
            "import", "--user", "alice", "--data-dir", str(data), str(tmp_path / "all.jsonl")
        )
        assert code == 0, err
        assert "imported 0 new messages of 8" in err
    assert dump(history_path(data)) == before


def test_import_merges_new_messages_into_a_history(data: Path, tmp_path: Path) -> None:
    export(data, tmp_path / "carol.jsonl", "--with", "carol")
    other = tmp_path / "other"
    give_identity(other)
    with Database(history_path(other)) as db:
        run(SqliteMessageRepository(db).add([direct(3, ALICE_CAROL, body="kept as it was")]))
    code, err = cli(
        "import", "--user", "alice", "--data-dir", str(other), str(tmp_path / "carol.jsonl")
    )
    assert code == 0, err
    bodies = [row[4] for row in dump(history_path(other))["messages"]]
    assert bodies == ["kept as it was", "note 4"]


def test_with_group_and_since_filter(data: Path, tmp_path: Path) -> None:
    carol = export(data, tmp_path / "carol.jsonl", "--with", "carol")
    assert [UUID(line["id"]).int for line in carol] == [3, 4]
    group = export(data, tmp_path / "group.jsonl", "--group", str(GROUP))
    assert [UUID(line["id"]).int for line in group] == [5, 6]
    since = (T0 + timedelta(minutes=6)).isoformat()
    recent = export(data, tmp_path / "recent.jsonl", "--since", since)
    assert [UUID(line["id"]).int for line in recent] == [6, 7, 8]
    day = export(data, tmp_path / "day.jsonl", "--since", "2024-05-18")
    assert day == []


def test_export_of_an_unknown_peer_says_so(data: Path, tmp_path: Path) -> None:
    code, err = cli(
        "export", "--user", "alice", "--data-dir", str(data), "--with", "zed", str(tmp_path / "x")
    )
    assert code == 1 and "no messages in a conversation with zed" in err
    assert not (tmp_path / "x").exists()


def test_bad_flags_exit_2(data: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "x")
    base = ("--user", "alice", "--data-dir", str(data))
    assert cli("export", *base, "--since", "yesterday", out)[0] == 2
    assert cli("export", *base, "--group", "nope", out)[0] == 2
    assert cli("export", *base, "--with", "bob", "--group", str(GROUP), out)[0] == 2
    assert cli("export", "--data-dir", str(data), out)[0] == 2
    code, err = cli("export", "--user", "nobody", "--data-dir", str(data), out)
    assert code == 1 and "no chat history" in err


class _Bodies(HTMLParser):
    """The elements of a page, and each message's body: the text of its ``div`` itself (its
    meta line is the ``time`` inside it)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.bodies: list[str] = []
        self._depth = 0  # elements open inside a message, its div included

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if self._depth:
            self._depth += 1
        elif (dict(attrs).get("class") or "").startswith("msg "):
            self._depth = 1
            self.bodies.append("")

    def handle_endtag(self, tag: str) -> None:
        self._depth = max(0, self._depth - 1)

    def handle_data(self, text: str) -> None:
        if self._depth == 1:
            self.bodies[-1] += text


def test_html_and_text_exports(data: Path, tmp_path: Path) -> None:
    export(data, tmp_path / "all.html")
    page = (tmp_path / "all.html").read_text(encoding="utf-8")
    parsed = _Bodies()
    parsed.feed(page)
    assert "script" not in parsed.tags
    assert parsed.bodies[0] == HOSTILE
    # By conversation (in the order of their first message), each in the order stored.
    assert parsed.bodies == [
        HOSTILE,
        "note 2",
        "[file] notes",
        "note 8",
        "note 3",
        "note 4",
        "group note 5",
        "group note 6",
    ]
    export(data, tmp_path / "bob.txt", "--with", "bob")
    text = (tmp_path / "bob.txt").read_text(encoding="utf-8")
    assert text.startswith("== Conversation with bob (4 messages) ==\n")
    assert "⟳ waiting (offline)" in text and "carol" not in text
    export(data, tmp_path / "forced.out", "--format", "html")
    assert (tmp_path / "forced.out").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_export_beside_a_writing_client(data: Path, tmp_path: Path) -> None:
    """A running client keeps its history open and writes: the export reads a snapshot."""

    async def scenario() -> list[dict[str, Any]]:
        with Database(history_path(data)) as db:
            repo = SqliteMessageRepository(db)
            await repo.add([direct(9)])
            lines = await asyncio.to_thread(export, data, tmp_path / "live.jsonl")
            await repo.add([direct(10)])  # the writer is not blocked by the reader
            return lines

    lines = run(scenario())
    assert [UUID(line["id"]).int for line in lines][-1] == 9


def test_export_of_200000_messages_runs_in_bounded_memory(tmp_path: Path) -> None:
    path = history_path(tmp_path)
    history_fill.bulk_fill(path, 200_000)
    sink = tmp_path / "all.jsonl"
    with SqliteHistorySource(path, "alice") as source, open(sink, "w", encoding="utf-8") as out:
        tracemalloc.start()
        try:
            written = export_history(source, JsonLinesWriter(out), ExportScope())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert written == 200_000
    assert peak < 2 * 1024 * 1024, f"peak {peak:,} bytes"
    assert sink.stat().st_size > 200_000 * 100
    with sink.open(encoding="utf-8") as lines:
        last = json.loads(deque(lines, maxlen=1)[0])
    assert last["id"] == str(UUID(int=200_000)) and last["body"] == history_fill.body(200_000)


def test_a_bad_or_foreign_line_stops_the_import_saying_where(data: Path, tmp_path: Path) -> None:
    export(data, tmp_path / "all.jsonl")
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join([*lines[:2], "", "{oops", *lines[2:]]) + "\n", encoding="utf-8")
    fresh = tmp_path / "fresh"
    give_identity(fresh)
    give_identity(fresh, "carol")
    code, err = cli("import", "--user", "alice", "--data-dir", str(fresh), str(damaged))
    assert code == 1 and "damaged.jsonl, line 4: not JSON" in err
    assert "2 new messages were imported" in err
    assert len(dump(history_path(fresh))["messages"]) == 2
    # alice's conversations are none of carol's: nothing of them enters carol's history.
    code, err = cli(
        "import", "--user", "carol", "--data-dir", str(fresh), str(tmp_path / "all.jsonl")
    )
    assert code == 1 and "line 1: the message" in err and "not a conversation of carol" in err
    assert not dump(history_path(fresh, "carol"))["messages"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(data: Path, tmp_path: Path) -> None:
    argv = ["--user", "alice", "--data-dir", str(data), str(tmp_path / "a.jsonl")]
    terminal = _Terminal()
    assert cli_export.main("export", argv, stderr=terminal) == 0
    assert "\r[###---------------------]  12% exported 1 of 8 messages" in terminal.getvalue()
    assert terminal.getvalue().endswith("exported 8 messages to " + argv[-1] + " (jsonl)\n")
    assert "\r" not in cli("export", *argv)[1]


_BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_BROWSER is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_a_real_browser_renders_the_page_as_text(data: Path, tmp_path: Path) -> None:
    """The DOM chromium builds holds every body as text, in order, and no element from one."""
    assert _BROWSER is not None
    export(data, tmp_path / "all.html")
    dom = subprocess.run(
        [
            _BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            (tmp_path / "all.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    parsed = _Bodies()
    parsed.feed(dom)
    assert "script" not in parsed.tags
    assert parsed.bodies[:2] == [HOSTILE, "note 2"]
    assert parsed.bodies[-2:] == ["group note 5", "group note 6"]
