"""What ``chinwag-cli export|import`` (and the desktop app's Export conversation…, through the
same file writer) refuse, and how they say it: never over chinwag's own files, never a
temporary file's name or an errno; an import needs the user to exist, checks group messages
against the group's stored log, and keeps another person's export's messages the right way
round. No client runs here: a user's folder is made as chinwag makes it (a real key, a real
SQLite history)."""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters import files
from chinwag.adapters.export import to_file
from chinwag.adapters.export.jsonl import message_fields
from chinwag.adapters.secure.keys import encode_keys
from chinwag.adapters.sqlite.conversations import SqliteConversationRepository
from chinwag.adapters.sqlite.database import Database
from chinwag.adapters.sqlite.export_rows import SqliteHistorySource
from chinwag.adapters.sqlite.groups import SqliteGroupRepository
from chinwag.adapters.sqlite.messages import SqliteMessageRepository
from chinwag.application.history_export import ExportedMessage, ExportScope
from chinwag.domain.conversation import Conversation
from chinwag.domain.group import Change
from chinwag.domain.message import GroupStamp, Message, MessageState
from chinwag.entrypoints import cli_export
from chinwag.entrypoints.cli_backup import USER_FILES
from tests.backup_support import tree
from tests.processes import user_folder
from tests.unit.test_history_import import KEYS, book_club, direct, posted

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def cli(command: str, *argv: str, stderr: io.StringIO | None = None) -> tuple[int, str]:
    err = io.StringIO() if stderr is None else stderr
    code = cli_export.main(command, list(argv), stderr=err)
    return code, err.getvalue()


def _one_line(err: str, command: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"chinwag-cli {command}: "), err
    assert "partial" not in err and "[Errno" not in err and ".tmp" not in err, err
    return err


def make_user(data: Path, user: str, *messages: Message, logs: Sequence[list[Change]] = ()) -> Path:
    """``user``'s folder with their key and a history holding ``messages`` and ``logs``."""
    folder = user_folder(data, user)
    folder.mkdir(parents=True)
    (folder / "identity.key").write_bytes(encode_keys(KEYS[user]))

    async def fill(db: Database) -> None:
        for log in logs:
            await SqliteGroupRepository(db).add_changes(log)
        conversations = {m.conversation_id: m for m in messages}
        await SqliteConversationRepository(db).save(
            [
                Conversation.of_group(m.group_id)
                if m.group_id is not None
                else Conversation.direct(m.sender, m.recipient or "")
                for m in conversations.values()
            ]
        )
        await SqliteMessageRepository(db).add(list(messages))

    with Database(folder / "history.sqlite3") as db:
        run(fill(db))
    return folder


def lines(path: Path, *messages: Message) -> Path:
    """``messages`` as a JSON-lines export at ``path``."""
    rows = []
    for m in messages:
        exported = ExportedMessage(
            id=str(m.id),
            conversation_id=str(m.conversation_id),
            sender=m.sender,
            recipient=m.recipient,
            peer=None if m.group_id else (m.recipient if m.sender == "alice" else m.sender),
            group_id=None if m.group_id is None else str(m.group_id),
            body=m.body,
            sent_at=m.sent_at,
            state=m.state,
            received_at=m.received_at,
            stamp_seq=m.stamp.seq if m.stamp else None,
            stamp_version=m.stamp.version if m.stamp else None,
            stamp_signature=m.stamp.signature if m.stamp else None,
        )
        rows.append(json.dumps(message_fields(exported)))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def stored(data: Path, user: str = "alice") -> dict[str, tuple[str, str]]:
    """``user``'s messages: id -> (sender, state)."""

    async def read() -> list[Message]:
        with Database(user_folder(data, user) / "history.sqlite3") as db:
            found = []
            for n in range(1, 100):
                message = await SqliteMessageRepository(db).get(UUID(int=n))
                if message is not None:
                    found.append(message)
            return found

    return {str(m.id.int): (m.sender, m.state.value) for m in run(read())}


# --- export: where it may write ---------------------------------------------------------------


def test_an_export_is_never_written_over_or_among_chinwags_own_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    alice = make_user(data, "alice", direct(1, "alice", MessageState.DELIVERED))
    bob = make_user(data, "bob")
    (tmp_path / "link").symlink_to(alice)
    before = tree(tmp_path)
    for out, said in [
        (alice / "history.sqlite3", "one of chinwag's own files"),
        (alice / "identity.key", "one of chinwag's own files"),
        (alice / "history.sqlite3-wal", "one of chinwag's own files"),
        (alice / "notes.txt", "inside alice's folder"),
        (tmp_path / "link" / "history.sqlite3", "one of chinwag's own files"),
        (bob / "history.sqlite3", "one of chinwag's own files"),
        (bob / "alice.html", "inside a user's folder"),
    ]:
        code, err = cli("export", "--user", "alice", "--data-dir", str(data), str(out))
        assert code == 1, (out, err)
        _one_line(err, "export")
        assert said in err and str(out) in err and "nothing was written" in err, err
        assert tree(tmp_path) == before, out

    # The desktop app's Export conversation… writes through the same function: refused too.
    with (
        SqliteHistorySource(alice / "history.sqlite3", "alice") as source,
        pytest.raises(to_file.ExportError, match="one of chinwag's own files"),
    ):
        to_file.export_to_file(
            source,
            "alice",
            ExportScope(peer="bob"),
            alice / "history.sqlite3",
            folder=alice,
            files=USER_FILES,
        )
    opened = ("-shm", "-wal")  # what the reader's opening leaves: SQLite's side files, empty
    assert {k: v for k, v in tree(tmp_path).items() if not k.endswith(opened)} == before

    beside = data / "alice.jsonl"  # in the data folder, in no user's folder: fine
    assert cli("export", "--user", "alice", "--data-dir", str(data), str(beside))[0] == 0


def test_export_errors_name_the_file_asked_for_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    make_user(data, "alice", direct(1, "alice", MessageState.DELIVERED))
    base = ("--user", "alice", "--data-dir", str(data))
    missing = tmp_path / "nowhere" / "x.txt"
    code, err = cli("export", *base, str(missing))
    assert code == 1
    assert _one_line(err, "export") == (
        f"chinwag-cli export: cannot write {missing}: the folder {missing.parent} does not "
        "exist; nothing was written\n"
    )
    code, err = cli("export", *base, str(tmp_path))
    assert code == 1 and f"cannot write {tmp_path}: it is a folder" in _one_line(err, "export")

    read_only = tmp_path / "ro.html"

    def no_writes(path: Path, flags: int) -> int:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    with monkeypatch.context() as patch:
        patch.setattr(files, "open_private", no_writes)  # where written_whole makes it
        code, err = cli("export", *base, str(read_only))
    assert code == 1
    assert f"cannot write {read_only}: read-only file system" in _one_line(err, "export")

    full = tmp_path / "full.jsonl"

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", no_space)
        code, err = cli("export", *base, str(full))
    assert code == 1
    assert f"cannot write {full}: no space left on device" in _one_line(err, "export")
    assert not full.exists() and not list(tmp_path.glob(".*.tmp"))


# --- export: which group, and how it is said ---------------------------------------------------


def test_export_group_takes_an_id_a_name_or_the_start_of_an_id(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = book_club()
    group = log[0].group
    make_user(data, "alice", posted(group, "bob", 1), logs=[log])
    base = ("--user", "alice", "--data-dir", str(data))
    for named in (str(group), "Book club", "  book   CLUB ", str(group)[:6]):
        out = tmp_path / "g.jsonl"
        code, err = cli("export", *base, "--group", named, str(out))
        assert code == 0, err
        assert err == f"exported 1 message to {out} (jsonl)\n"  # one: singular
        assert json.loads(out.read_text())["group"] == str(group)
    code, err = cli("export", *base, "--group", "Chess club", str(tmp_path / "x"))
    assert code == 2
    assert _one_line(err, "export") == (
        "chinwag-cli export: --group: you are in no group called Chess club (your groups: "
        f"Book club ({str(group)[:8]}))\n"
    )


def test_export_group_refuses_a_name_two_groups_have_listing_their_ids(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first, second = book_club(), book_club(("bob", "carol"))  # both "Book club"
    make_user(
        data,
        "alice",
        posted(first[0].group, "bob", 1),
        posted(second[0].group, "bob", 1, n=2),
        logs=[first, second],
    )
    code, err = cli(
        "export", "--user", "alice", "--data-dir", str(data), "--group", "book club", "-"
    )
    assert code == 2
    said = _one_line(err, "export")
    assert "several of your groups match book club" in said
    assert str(first[0].group) in said and str(second[0].group) in said


# --- import -------------------------------------------------------------------------------------


def test_import_needs_the_user_to_exist_and_leaves_nothing_behind(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_user(data, "alice")
    export = lines(tmp_path / "bob.jsonl", direct(1, "bob", MessageState.DELIVERED))
    before = tree(tmp_path)
    for where in (data, tmp_path / "no-such-folder"):
        code, err = cli("import", "--user", "nobody", "--data-dir", str(where), str(export))
        assert code == 1
        assert _one_line(err, "import") == (
            f"chinwag-cli import: no user nobody in {where}: sign in once, or restore a backup, "
            "before importing\n"
        )
    assert tree(tmp_path) == before
    assert not (tmp_path / "no-such-folder").exists()
    assert sorted(p.name for p in data.iterdir()) == [user_folder(data, "alice").name]


def test_import_stops_at_a_group_message_its_author_did_not_sign(tmp_path: Path) -> None:
    """The trial's forged line: "bob's" number 7 in Book club, signature made up."""
    data = tmp_path / "data"
    log = book_club()
    group = log[0].group
    make_user(data, "alice", logs=[log])
    forged = posted(group, "bob", 7, body="a forged body").model_copy(
        update={"stamp": GroupStamp(seq=7, version=0, signature=b"\x00" * 64)}
    )
    export = lines(
        tmp_path / "forged.jsonl", posted(group, "bob", 1), forged, posted(group, "bob", 2)
    )
    code, err = cli("import", "--user", "alice", "--data-dir", str(data), str(export))
    assert code == 1
    first, second = err.splitlines()
    assert first.startswith("chinwag-cli import: ")
    assert "forged.jsonl, line 2: the group message" in first and "not signed by bob" in first
    assert second == (
        "chinwag-cli import: 1 new message was imported before it; importing again after "
        "fixing it adds only the rest"
    )
    assert stored(data) == {"1": ("bob", "received")}  # what came before stays


def test_import_never_gives_a_number_stored_under_another_id(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = book_club()
    group = log[0].group
    make_user(data, "alice", posted(group, "bob", 3, n=3), logs=[log])
    other = posted(group, "bob", 3, n=30, body="another message under bob's number 3")
    code, err = cli(
        "import", "--user", "alice", "--data-dir", str(data), str(lines(tmp_path / "o", other))
    )
    assert code == 0 and "imported 0 new messages of 1 read" in err, err
    assert stored(data) == {"3": ("bob", "received")}


def test_the_other_persons_export_comes_in_the_right_way_round(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_user(data, "alice")
    log = book_club()
    bobs = lines(
        tmp_path / "bob-all.jsonl",
        direct(1, "alice", MessageState.RECEIVED),  # alice's, as bob's history keeps it
        direct(2, "bob", MessageState.DELIVERED),
        posted(log[0].group, "alice", 1, n=3),
    )
    code, err = cli("import", "--user", "alice", "--data-dir", str(data), str(bobs))
    assert code == 0, err
    assert stored(data) == {
        "1": ("alice", "delivered"),
        "2": ("bob", "received"),
        "3": ("alice", "delivered"),
    }


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_import_progress_says_what_it_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_user(data, "alice")
    many = [direct(n, "bob", MessageState.DELIVERED) for n in range(1, cli_export.BATCH + 2)]
    export = lines(tmp_path / "many.jsonl", *many)
    terminal = _Terminal()
    code, err = cli(
        "import", "--user", "alice", "--data-dir", str(data), str(export), stderr=terminal
    )
    assert code == 0, err
    assert f"\rread {cli_export.BATCH:,} messages\x1b[K" in err, repr(err)
    assert err.endswith(
        f"imported {len(many):,} new messages of {len(many):,} read from {export}\n"
    )
    code, err = cli("import", "--user", "alice", "--data-dir", str(data), str(lines(
        tmp_path / "one.jsonl", direct(600, "alice", MessageState.DELIVERED))))  # fmt: skip
    assert err == f"imported 1 new message of 1 read from {tmp_path / 'one.jsonl'}\n"
    code, err = cli("import", "--user", "alice", "--data-dir", str(data), str(tmp_path / "none"))
    assert code == 1
    assert _one_line(err, "import").startswith(f"chinwag-cli import: cannot read {tmp_path}")
