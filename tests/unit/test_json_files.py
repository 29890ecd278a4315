"""``chinwag-cli --json`` and files (issue 11's JSON contract): the commands as read, the
``transfer`` events field by field, the ``transfers`` list, answers and their refs, errors.

The file use cases are hand-written fakes (:class:`FakeFiles`) that keep transfers in a dict
and, like the real ones, may tell of their own change through ``transfer_changed``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import pytest

from chinwag.adapters.console.commands import CommandRunner
from chinwag.adapters.console.file_commands import (
    AcceptFileCommand,
    CancelFileCommand,
    DeclineFileCommand,
    FileUseCases,
    SendFileCommand,
    TransfersList,
)
from chinwag.adapters.console.json_commands import BadJsonCommand, make_ref, parse_json_line
from chinwag.adapters.console.json_output import JsonOutput
from chinwag.adapters.console.json_session import run_json_session
from chinwag.adapters.console.output import ConsoleOutput
from chinwag.application.errors import FileProblem, TransferNotFound
from chinwag.application.files.status import TransferStatus
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.transfer import (
    PIECE_SIZE,
    Direction,
    FileOffer,
    Transfer,
    TransferState,
)
from chinwag.domain.user import PeerAddress

TID = UUID("3f2a1b4c-0000-4000-8000-000000000001")
GID = UUID("9a9a9a9a-0000-4000-8000-000000000009")
CONTENT = b"%PDF-1.7 a report"
SHA = hashlib.sha256(CONTENT).hexdigest()
WHEN = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def offer(
    name: str = "report.pdf", size: int = 1_200_000, mime: str = "application/pdf"
) -> FileOffer:
    return FileOffer(
        name=name,
        size=size,
        sha256=bytes.fromhex(SHA),
        piece_size=PIECE_SIZE,
        root=bytes(32),
        mime=mime,
    )


def transfer(
    direction: Direction = Direction.IN,
    state: TransferState = TransferState.OFFERED,
    *,
    tid: UUID = TID,
    peer: str = "bob",
    group: UUID | None = None,
    file: FileOffer | None = None,
    **more: Any,
) -> Transfer:
    return Transfer(
        id=tid,
        direction=direction,
        peer=peer,
        conversation_id=group or direct_conversation_id("alice", peer or "bob"),
        group_id=group,
        offer=file or offer(),
        state=state,
        created_at=WHEN,
        updated_at=WHEN,
        **more,
    )


def output() -> tuple[io.StringIO, JsonOutput]:
    stream = io.StringIO()
    out = JsonOutput(stream)
    out.ready("alice", PeerAddress(host="127.0.0.1", port=1), "fp")
    stream.seek(0)
    stream.truncate()
    return stream, out


def events_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


COMMON = {"name": "report.pdf", "size": 1_200_000, "sha256": SHA, "type": "application/pdf"}


# -- commands ---------------------------------------------------------------------------------


def test_file_commands_are_read_as_the_contract_writes_them() -> None:
    assert parse_json_line(
        '{"cmd": "send_file", "to": "bob", "path": "/tmp/report.pdf", "ref": 7}'
    ).command == SendFileCommand(cmd="send_file", to="bob", path="/tmp/report.pdf")
    sent = parse_json_line(json.dumps({"cmd": "send_file", "group": str(GID), "path": "a b.txt"}))
    assert sent.command == SendFileCommand(cmd="send_file", group=GID, path="a b.txt")
    assert parse_json_line(
        json.dumps({"cmd": "accept_file", "id": str(TID), "dir": "/tmp/in"})
    ).command == AcceptFileCommand(cmd="accept_file", id=TID, dir="/tmp/in")
    assert parse_json_line(
        json.dumps({"cmd": "accept_file", "id": str(TID)})
    ).command == AcceptFileCommand(cmd="accept_file", id=TID)
    assert parse_json_line(
        json.dumps({"cmd": "decline_file", "id": str(TID)})
    ).command == DeclineFileCommand(cmd="decline_file", id=TID)
    assert parse_json_line(
        json.dumps({"cmd": "cancel_file", "id": TID.hex})  # any spelling of a UUID
    ).command == CancelFileCommand(cmd="cancel_file", id=TID)
    assert parse_json_line('{"cmd": "transfers"}').command == TransfersList(cmd="transfers")


@pytest.mark.parametrize(
    ("command", "said"),
    [
        ({"cmd": "send_file", "to": "bob"}, "send_file needs 'path'"),
        ({"cmd": "send_file", "path": "x"}, "send_file takes 'to'"),
        ({"cmd": "send_file", "to": "bob", "group": str(GID), "path": "x"}, "one of them"),
        ({"cmd": "send_file", "to": "bob", "path": ""}, "'path' must be a file's path"),
        ({"cmd": "send_file", "to": "bob", "path": "a\u0000b"}, "'path' must be"),
        ({"cmd": "send_file", "to": "bob", "path": 3}, "'path' must be"),
        ({"cmd": "send_file", "group": "friends", "path": "x"}, "'group' must be a group id"),
        ({"cmd": "send_file", "to": "bob", "path": "x", "body": "hi"}, 'does not take "body"'),
        ({"cmd": "accept_file"}, "accept_file needs 'id' (a transfer id"),
        ({"cmd": "accept_file", "id": "3f2a1b4c"}, "'id' must be a transfer id"),
        ({"cmd": "accept_file", "id": str(TID), "dir": ""}, "'dir' must be a folder's path"),
        ({"cmd": "decline_file", "id": 5}, "'id' must be a transfer id"),
        ({"cmd": "cancel_file"}, "cancel_file needs 'id'"),
        ({"cmd": "transfers", "all": True}, 'transfers does not take "all"'),
    ],
)
def test_a_bad_file_command_is_refused_in_our_words_with_its_ref(
    command: dict[str, Any], said: str
) -> None:
    with pytest.raises(BadJsonCommand, match=re.escape(said)) as refused:
        parse_json_line(json.dumps(command | {"ref": "r"}))
    assert refused.value.ref == make_ref("r")


def test_the_list_of_commands_names_the_file_commands() -> None:
    with pytest.raises(BadJsonCommand) as refused:
        parse_json_line('{"cmd": "dance"}')
    for name in ("send_file", "accept_file", "decline_file", "cancel_file", "transfers"):
        assert name in str(refused.value)


# -- events -----------------------------------------------------------------------------------


def test_an_incoming_offer_and_its_progress_are_transfer_events_with_every_field() -> None:
    stream, out = output()
    out.transfer_changed(transfer(), 0.0)
    out.transfer_changed(transfer(state=TransferState.ACTIVE, bytes=540_000), 12_345_678.91)
    out.transfer_changed(
        transfer(state=TransferState.PAUSED, bytes=600_000, reason="bob is offline"), 0.0
    )
    out.transfer_changed(
        transfer(state=TransferState.DONE, bytes=1_200_000, path="/home/alice/report.pdf"), 0.0
    )
    base = {"event": "transfer", "id": str(TID), "direction": "in", "from": "bob"} | COMMON
    assert events_of(stream) == [
        base | {"state": "offered", "bytes": 0, "rate": 0.0},
        base | {"state": "active", "bytes": 540_000, "rate": 12_345_678.9},
        base | {"state": "paused", "bytes": 600_000, "rate": 0.0, "reason": "bob is offline"},
        base | {"state": "done", "bytes": 1_200_000, "rate": 0.0, "path": "/home/alice/report.pdf"},
    ]


def test_an_incoming_name_is_the_safe_one_and_an_outgoing_one_as_offered() -> None:
    stream, out = output()
    hostile = offer(name="../../.bashrc\u202etxt.exe")
    out.transfer_changed(transfer(file=hostile), 0.0)
    out.transfer_changed(transfer(Direction.OUT, file=offer(name="my notes.txt")), 0.0)
    incoming, outgoing = events_of(stream)
    assert incoming["name"] == "bashrctxt.exe"
    assert outgoing["name"] == "my notes.txt"
    assert outgoing["to"] == "bob"
    assert "from" not in outgoing


def test_outgoing_and_group_transfers_say_to_whom() -> None:
    stream, out = output()
    out.transfer_changed(transfer(Direction.OUT), 0.0)
    out.transfer_changed(transfer(Direction.OUT, peer="", group=GID), 0.0)  # the group's own
    out.transfer_changed(
        transfer(Direction.OUT, TransferState.FAILED, peer="carol", group=GID, reason="changed"),
        0.0,
    )
    out.transfer_changed(transfer(Direction.IN, peer="dave", group=GID), 0.0)
    out.transfer_changed(
        transfer(Direction.OUT, TransferState.DONE, path="/home/alice/report.pdf"), 0.0
    )  # an outgoing file's path is the user's own: not said
    out.transfer_changed(transfer(Direction.OUT, TransferState.ACTIVE), float("nan"))
    head = {"event": "transfer", "id": str(TID)}
    tail = COMMON | {"bytes": 0, "rate": 0.0}
    assert events_of(stream) == [
        head | {"direction": "out", "to": "bob"} | tail | {"state": "offered"},
        head | {"direction": "out", "group": str(GID)} | tail | {"state": "offered"},
        head
        | {"direction": "out", "to": "carol", "group": str(GID)}
        | tail
        | {"state": "failed", "reason": "changed"},
        head | {"direction": "in", "from": "dave", "group": str(GID)} | tail | {"state": "offered"},
        head | {"direction": "out", "to": "bob"} | tail | {"state": "done"},
        head | {"direction": "out", "to": "bob"} | tail | {"state": "active"},
    ]


def test_transfer_events_wait_for_ready_like_every_event() -> None:
    stream = io.StringIO()
    out = JsonOutput(stream)
    out.transfer_changed(transfer(), 0.0)
    assert stream.getvalue() == ""
    out.ready("alice", None, "fp")
    assert [e["event"] for e in events_of(stream)] == ["ready", "transfer"]


def test_a_received_offer_message_says_its_file() -> None:
    from tests.unit.test_json_console import message

    stream, out = output()
    offered = message(1).model_copy(update={"file": offer(name="a/b\x1b.pdf"), "body": "b.pdf"})
    out.message_received(offered)
    [event] = events_of(stream)
    assert event["event"] == "message"
    assert event["file"] == {
        "name": "b.pdf",
        "size": 1_200_000,
        "sha256": SHA,
        "type": "application/pdf",
    }
    out.message_received(message(2))
    assert "file" not in events_of(stream)[1]


def test_the_list_of_transfers_has_the_fields_of_the_events() -> None:
    stream, out = output()
    out.transfers([])
    with out.answering(make_ref("t")):
        out.transfers(
            [
                TransferStatus(transfer(state=TransferState.ACTIVE, bytes=10), 2.5),
                TransferStatus(transfer(Direction.OUT, tid=UUID(int=5), peer="carol"), 0.0),
            ]
        )
    empty, listed = events_of(stream)
    assert empty == {"event": "transfers", "transfers": []}
    assert listed == {
        "event": "transfers",
        "transfers": [
            {"id": str(TID), "direction": "in", "from": "bob"}
            | COMMON
            | {"state": "active", "bytes": 10, "rate": 2.5},
            {"id": str(UUID(int=5)), "direction": "out", "to": "carol"}
            | COMMON
            | {"state": "offered", "bytes": 0, "rate": 0.0},
        ],
        "ref": "t",
    }


def test_a_commands_answer_is_printed_once_with_its_ref_whoever_tells_it_first() -> None:
    stream, out = output()
    with out.answering(make_ref("told")):  # the use case tells of its change, then returns
        out.transfer_changed(transfer(Direction.OUT), 0.0)
        out.transfer(transfer(Direction.OUT))
    with out.answering(make_ref("silent")):  # it does not: the answer is the returned one
        out.transfer(transfer(state=TransferState.DECLINED))
    out.transfer_changed(transfer(state=TransferState.DECLINED), 0.0)  # later news: no ref
    assert [(e["state"], e.get("ref", "-")) for e in events_of(stream)] == [
        ("offered", "told"),
        ("declined", "silent"),
        ("declined", "-"),
    ]


def test_a_task_started_by_a_command_does_not_answer_it_after_it_ended() -> None:
    async def scenario() -> None:
        stream, out = output()
        later: list[asyncio.Task[None]] = []

        async def engine() -> None:
            await asyncio.sleep(0)
            out.transfer_changed(transfer(state=TransferState.ACTIVE, bytes=5), 1.0)

        with out.answering(make_ref("accept")):
            later.append(asyncio.create_task(engine()))  # copies the context
            out.transfer(transfer(state=TransferState.ACTIVE))
        await later[0]
        assert [(e["bytes"], e.get("ref", "-")) for e in events_of(stream)] == [
            (0, "accept"),
            (5, "-"),
        ]

    asyncio.run(scenario())


# -- the session ------------------------------------------------------------------------------


class FakeFiles:
    """The file use cases over a dict. ``tell``: whether each tells of its own change."""

    def __init__(self, events: ConsoleOutput, tell: bool = True) -> None:
        self.events = events
        self.tell = tell
        self.records: dict[UUID, Transfer] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.next_id = 1

    def use_cases(self) -> FileUseCases:
        return FileUseCases(
            send=cast(Any, _Call(self._send)),
            accept=cast(Any, _Call(self._accept)),
            decline=cast(Any, _Call(self._decline)),
            cancel=cast(Any, _Call(self._cancel)),
            list=cast(Any, _Call(self._list)),
        )

    def _changed(self, record: Transfer) -> Transfer:
        self.records[record.id] = record
        if self.tell:
            self.events.transfer_changed(record, 0.0)
        return record

    def _send(self, path: str, *, to: str | None = None, group: UUID | None = None) -> Transfer:
        self.calls.append(("send", path, to, group))
        if not os.path.isfile(path):
            raise FileProblem(f"cannot read {path}: no such file")
        tid = UUID(int=self.next_id)
        self.next_id += 1
        name = os.path.basename(path)
        return self._changed(
            transfer(Direction.OUT, tid=tid, peer=to or "", group=group, file=offer(name=name))
        )

    def _found(self, tid: UUID) -> Transfer:
        if tid not in self.records:
            raise TransferNotFound(f"no transfer {tid}")
        return self.records[tid]

    def _accept(self, tid: UUID, directory: str | None = None) -> Transfer:
        self.calls.append(("accept", tid, directory))
        record = self._found(tid).model_copy(
            update={"state": TransferState.ACTIVE, "directory": directory}
        )
        return self._changed(record)

    def _decline(self, tid: UUID) -> Transfer:
        self.calls.append(("decline", tid))
        return self._changed(self._found(tid).model_copy(update={"state": TransferState.DECLINED}))

    def _cancel(self, tid: UUID) -> Transfer:
        self.calls.append(("cancel", tid))
        return self._changed(self._found(tid).model_copy(update={"state": TransferState.CANCELLED}))

    def _list(self) -> list[TransferStatus]:
        return [TransferStatus(record, 0.0) for record in self.records.values()]


class _Call:
    """An ``execute`` that runs a plain function (the fakes need no awaiting)."""

    def __init__(self, run: Any) -> None:
        self._run = run

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(*args, **kwargs)


def runner_for(out: ConsoleOutput, files: FakeFiles | None) -> CommandRunner:
    """A runner with only what file commands use (the chat use cases are never called)."""
    unused = cast(Any, None)
    return CommandRunner(
        out,
        unused,
        unused,
        unused,
        unused,
        unused,
        unused,
        unused,
        files=None if files is None else files.use_cases(),
    )


async def run_lines(out: JsonOutput, runner: CommandRunner, lines: Sequence[object]) -> None:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    read_end, write_end = os.pipe()

    def feed() -> None:
        with open(write_end, "wb") as pipe:
            pipe.write(text.encode())

    threading.Thread(target=feed, daemon=True).start()
    with os.fdopen(read_end, encoding="utf-8") as stdin:
        await run_json_session(stdin, out, runner, asyncio.Event())


@pytest.mark.parametrize("tell", [True, False])
def test_file_commands_in_a_session_answer_with_their_refs_and_errors(
    tell: bool, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.pdf").write_bytes(CONTENT)

    async def scenario() -> None:
        stream, out = output()
        files = FakeFiles(out, tell=tell)
        incoming = transfer(tid=TID)
        files.records[TID] = incoming
        unknown = str(UUID(int=99))
        await run_lines(
            out,
            runner_for(out, files),
            [
                {"cmd": "send_file", "to": "bob", "path": "report.pdf", "ref": "s"},
                {"cmd": "send_file", "to": "bob", "path": "missing.pdf", "ref": "m"},
                {"cmd": "accept_file", "id": str(TID), "dir": "in", "ref": "a"},
                {"cmd": "decline_file", "id": unknown, "ref": "d"},
                {"cmd": "cancel_file", "id": str(TID), "ref": "c"},
                {"cmd": "accept_file", "ref": "no id"},
                {"cmd": "transfers", "ref": "l"},
                {"cmd": "quit"},
            ],
        )
        printed = events_of(stream)
        assert [(e["event"], e.get("state", e.get("code")), e["ref"]) for e in printed] == [
            ("transfer", "offered", "s"),
            ("error", "file_problem", "m"),
            ("transfer", "active", "a"),
            ("error", "unknown_transfer", "d"),
            ("transfer", "cancelled", "c"),
            ("error", "bad_command", "no id"),
            ("transfers", None, "l"),
        ]
        sent = printed[0]
        assert sent == {
            "event": "transfer",
            "id": str(UUID(int=1)),
            "direction": "out",
            "to": "bob",
            "name": "report.pdf",
            "size": 1_200_000,
            "sha256": SHA,
            "type": "application/pdf",
            "state": "offered",
            "bytes": 0,
            "rate": 0.0,
            "ref": "s",
        }
        assert "missing.pdf" in printed[1]["message"]
        assert [t["id"] for t in printed[-1]["transfers"]] == [str(TID), str(UUID(int=1))]
        # Paths are made absolute against the folder the client started in.
        assert files.calls[0] == ("send", str(tmp_path / "report.pdf"), "bob", None)
        assert ("accept", TID, str(tmp_path / "in")) in files.calls

    asyncio.run(scenario())


def test_without_file_use_cases_a_file_command_is_refused_not_a_crash() -> None:
    async def scenario() -> None:
        stream, out = output()
        await run_lines(out, runner_for(out, None), [{"cmd": "transfers", "ref": 1}])
        assert events_of(stream) == [
            {
                "event": "error",
                "code": "unavailable",
                "message": "file transfer is not available in this client",
                "ref": 1,
            }
        ]

    asyncio.run(scenario())
