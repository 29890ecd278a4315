"""The terminal client and files: ``/send``, ``/accept``, ``/decline``, ``/cancel``,
``/transfers`` as typed and as run, and the lines it prints about offers, states and progress
(see the rules in :mod:`chinwag.adapters.console.text_transfers`)."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest

from chinwag.adapters.console.commands import BadCommand, CommandRunner
from chinwag.adapters.console.text_commands import HELP, PLAIN_HELP, TextState, parse_text_command
from chinwag.adapters.console.text_files import BIG_FILE, FileLine, find_transfer, say_if_big
from chinwag.adapters.console.text_output import TextOutput
from chinwag.adapters.console.text_runner import TextCommands
from chinwag.adapters.console.text_transfers import PROGRESS_EVERY
from chinwag.application.files.status import TransferStatus
from chinwag.domain.errors import DomainError
from chinwag.domain.group_log import GroupState
from chinwag.domain.transfer import Direction, TransferState
from chinwag.domain.user import PeerAddress
from tests.unit.test_delivery_groups import GROUP, group_state
from tests.unit.test_json_console import message
from tests.unit.test_json_files import CONTENT, TID, FakeFiles, offer, transfer

SHORT = "3f2a1b4c"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def signed_in() -> tuple[io.StringIO, TextOutput, FakeClock]:
    stream, clock = io.StringIO(), FakeClock()
    output = TextOutput(stream, me="alice", clock=clock)
    output.ready("alice", PeerAddress(host="127.0.0.1", port=1), "fp")
    stream.seek(0)
    stream.truncate()
    return stream, output, clock


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


# -- typing the commands ----------------------------------------------------------------------


def test_send_takes_a_path_as_a_shell_does_and_an_optional_name() -> None:
    state = TextState()
    home = os.path.expanduser("~")
    assert parse_text_command("/send report.pdf", state) == FileLine(
        action="send", path="report.pdf"
    )
    assert parse_text_command('/send "my report.pdf" bob', state) == FileLine(
        action="send", path="my report.pdf", to="bob"
    )
    assert parse_text_command("/send my\\ report.pdf 'Book club'", state) == FileLine(
        action="send", path="my report.pdf", to="Book club"
    )
    assert parse_text_command("/send ~/a.txt", state) == FileLine(
        action="send", path=f"{home}/a.txt"
    )
    for bad, said in [
        ("/send", "usage: /send FILE"),
        ("/send a b c", "usage: /send FILE"),
        ('/send ""', "usage: /send FILE"),
        ('/send "report.pdf', "No closing quotation"),
    ]:
        with pytest.raises(BadCommand, match=said):
            parse_text_command(bad, state)


def test_accept_decline_cancel_take_the_start_of_an_id() -> None:
    state = TextState()
    home = os.path.expanduser("~")
    assert parse_text_command("/accept 3F2A1B4C", state) == FileLine(action="accept", id=SHORT)
    assert parse_text_command("/accept 3f2a ~/in", state) == FileLine(
        action="accept", id="3f2a", path=f"{home}/in"
    )
    assert parse_text_command(f"/decline {TID}", state) == FileLine(
        action="decline", id=TID.hex
    )  # a whole id, dashes and all
    assert parse_text_command("/cancel 3f", state) == FileLine(action="cancel", id="3f")
    assert parse_text_command("/transfers", state) == FileLine(action="transfers")
    for bad, said in [
        ("/accept", "usage: /accept ID"),
        ("/accept report.pdf", "not a transfer's id"),
        ("/decline 3f2a now", "usage: /decline ID"),
        ("/cancel", "usage: /cancel ID"),
        ("/transfers all", "usage: /transfers"),
    ]:
        with pytest.raises(BadCommand, match=said):
            parse_text_command(bad, state)


def test_help_lists_the_file_commands() -> None:
    for text in (HELP, PLAIN_HELP):
        for command in ("/send FILE [NAME]", "/accept ID [DIR]", "/decline ID", "/cancel ID"):
            assert command in text
        assert "/transfers" in text


def test_an_id_is_found_by_a_unique_start_and_refused_when_unclear() -> None:
    other = UUID("3f2a9999-0000-4000-8000-000000000002")
    mine = UUID("3f2a1b4c-1111-4000-8000-000000000003")
    statuses = [
        TransferStatus(transfer(), 0.0),
        TransferStatus(transfer(tid=other), 0.0),
        TransferStatus(transfer(Direction.OUT, tid=mine, peer="carol", group=GROUP), 0.0),
        TransferStatus(transfer(Direction.OUT, tid=mine, peer="dave", group=GROUP), 0.0),
    ]
    assert find_transfer(SHORT, statuses, Direction.IN) == TID  # the outgoing one is no offer
    assert find_transfer("3f2a9", statuses) == other
    assert find_transfer("3f2a1b4c1", statuses) == mine  # one transfer, two members' records
    assert find_transfer(TID.hex, statuses) == TID
    with pytest.raises(DomainError, match="3 transfers' ids start with 3f2a: 3f2a1b4c report") as e:
        find_transfer("3f2a", statuses)
    assert e.value.code == "ambiguous_transfer"
    with pytest.raises(DomainError, match="no incoming transfer's id starts with 3f2a1b4c1"):
        find_transfer("3f2a1b4c1", statuses, Direction.IN)
    with pytest.raises(DomainError, match="see /transfers") as e:
        find_transfer("ab", statuses)
    assert e.value.code == "unknown_transfer"
    # Of several, the one still going is meant: the others are over.
    over = [
        TransferStatus(transfer(state=TransferState.DONE), 0.0),
        TransferStatus(transfer(tid=other, state=TransferState.ACTIVE), 0.0),
    ]
    assert find_transfer("3f2a", over) == other


# -- what is printed --------------------------------------------------------------------------


def test_an_offer_is_one_line_with_the_commands_that_answer_it() -> None:
    stream, output, _ = signed_in()
    offered = message(1).model_copy(
        update={"sender": "bob", "recipient": "alice", "id": TID, "file": offer()}
    )
    output.message_received(offered)
    output.transfer_changed(transfer(), 0.0)  # the same offer, as a transfer: said once
    [line] = lines(stream)
    assert line.startswith("[")
    assert line.split("] ", 1)[1] == (
        f"bob offers report.pdf (1.2 MB, application/pdf) — /accept {SHORT} or /decline {SHORT}"
    )
    output.history("bob", [offered])  # in the history, it is a file, not its text
    assert lines(stream)[1].endswith("] bob: [file] report.pdf (1.2 MB, application/pdf)")


def test_an_offer_told_first_as_a_transfer_is_not_said_again_as_a_message() -> None:
    stream, output, _ = signed_in()
    output.group_changed(group_state(), False)
    output.transfer_changed(transfer(peer="bob", group=GROUP, file=offer("x\x1b[2J.sh")), 0.0)
    offered = message(1).model_copy(
        update={"sender": "bob", "id": TID, "file": offer("x\x1b[2J.sh")}
    )
    output.message_received(offered)
    assert [line.split("] ", 1)[1] for line in lines(stream)[1:]] == [
        "bob offers x[2J.sh (1.2 MB, application/pdf) to Friends — "
        f"/accept {SHORT} or /decline {SHORT}"
    ]


def test_each_state_is_one_line_said_once() -> None:
    stream, output, _ = signed_in()
    output.transfer_changed(transfer(), 0.0)
    output.transfer_changed(transfer(state=TransferState.ACTIVE), 0.0)
    output.transfer_changed(transfer(state=TransferState.PAUSED, reason="bob is offline"), 0.0)
    output.transfer_changed(transfer(state=TransferState.PAUSED, reason="bob is offline"), 0.0)
    output.transfer_changed(
        transfer(state=TransferState.PAUSED, reason="the disk is full:\n\x1b[31mred"), 0.0
    )
    output.transfer_changed(transfer(state=TransferState.ACTIVE, bytes=5), 0.0)
    output.transfer_changed(
        transfer(state=TransferState.DONE, bytes=1_200_000, path="/home/alice/report.pdf"), 0.0
    )
    output.transfer_changed(
        transfer(state=TransferState.DONE, bytes=1_200_000, path="/home/alice/report.pdf"), 0.0
    )
    assert lines(stream)[1:] == [
        "↓ report.pdf from bob [3f2a1b4c]: accepted",
        "↓ report.pdf from bob [3f2a1b4c]: paused: bob is offline",
        "↓ report.pdf from bob [3f2a1b4c]: paused: the disk is full:\\n\\x1b[31mred",
        "↓ report.pdf from bob [3f2a1b4c]: resumed at 0% of 1.2 MB",
        "↓ report.pdf from bob [3f2a1b4c]: done, saved to /home/alice/report.pdf",
    ]


def test_outgoing_lines_say_to_whom_and_end_in_one_line() -> None:
    stream, output, _ = signed_in()
    output.group_changed(group_state(), False)
    stream.seek(0)
    stream.truncate()
    out = Direction.OUT
    output.transfer_changed(transfer(out), 0.0)
    output.transfer_changed(transfer(out, TransferState.DECLINED), 0.0)
    output.transfer_changed(transfer(out, tid=UUID(int=2), peer="", group=GROUP), 0.0)
    output.transfer_changed(transfer(out, tid=UUID(int=2), peer="carol", group=GROUP), 0.0)
    output.transfer_changed(
        transfer(out, TransferState.ACTIVE, tid=UUID(int=2), peer="carol", group=GROUP), 0.0
    )
    output.transfer_changed(
        transfer(out, TransferState.FAILED, tid=UUID(int=2), peer="dave", group=GROUP, reason="x"),
        0.0,
    )
    output.transfer_changed(
        transfer(out, TransferState.CANCELLED, tid=UUID(int=2), peer="", group=GROUP), 0.0
    )
    assert lines(stream) == [
        f"↑ offering report.pdf (1.2 MB, application/pdf) to bob — /cancel {SHORT}",
        "↑ report.pdf to bob [3f2a1b4c]: declined",
        "↑ offering report.pdf (1.2 MB, application/pdf) to Friends — /cancel 00000000",
        "↑ report.pdf to carol in Friends [00000000]: accepted",
        "↑ report.pdf to dave in Friends [00000000]: failed: x",
        "↑ report.pdf to Friends [00000000]: cancelled",
    ]


def test_progress_is_a_line_at_most_every_two_seconds_per_transfer() -> None:
    stream, output, clock = signed_in()
    size = 1_200_000

    def at(seconds: float, done: int, rate: float = 100_000.0, tid: UUID = TID) -> None:
        clock.now = 100.0 + seconds
        direction = Direction.IN if tid == TID else Direction.OUT
        active = transfer(direction, TransferState.ACTIVE, tid=tid, bytes=done)
        output.transfer_changed(active, rate)

    output.transfer_changed(transfer(), 0.0)
    at(0.0, 0)  # accepted: a state line, and the progress clock starts
    at(0.25, 25_000)
    at(1.9, 190_000)
    at(PROGRESS_EVERY, 200_000)  # two seconds after the last line: progress
    at(2.5, 250_000)
    at(4.0, 400_000)
    at(4.25, 540_000, 12_300_000.0)
    at(6.1, 600_000, 0.0)  # nothing moves now: no time left to say
    clock.now = 106.5
    output.transfer_changed(transfer(Direction.OUT, TransferState.ACTIVE, tid=UUID(int=7)), 0)
    at(6.6, 600_000, 1.0, tid=UUID(int=7))  # another transfer's clock is its own
    at(8.2, 700_000, 1000.0, tid=UUID(int=7))
    at(8.5, size, 1000.0, tid=UUID(int=7))
    assert [line for line in lines(stream)[1:]] == [
        "↓ report.pdf from bob [3f2a1b4c]: accepted",
        "↓ report.pdf from bob [3f2a1b4c]: 16% of 1.2 MB, 100 kB/s, 0:10 left",
        "↓ report.pdf from bob [3f2a1b4c]: 33% of 1.2 MB, 100 kB/s, 0:08 left",
        "↓ report.pdf from bob [3f2a1b4c]: 50% of 1.2 MB, 0 B/s",
        "↑ report.pdf to bob [00000000]: accepted",
        "↑ report.pdf to bob [00000000]: 100% of 1.2 MB, 1.0 kB/s, 0:00 left",
    ]


def test_progress_waits_two_seconds_after_a_pause_ends() -> None:
    stream, output, clock = signed_in()
    active = transfer(state=TransferState.ACTIVE, bytes=10)  # going on after a restart
    output.transfer_changed(active, 0.0)
    clock.now += 1.5
    output.transfer_changed(transfer(state=TransferState.PAUSED, reason="bob is offline"), 0.0)
    clock.now += 1.0
    output.transfer_changed(active, 0.0)  # resumed: a state line
    clock.now += 1.0
    output.transfer_changed(active.model_copy(update={"bytes": 20}), 10.0)  # too soon
    clock.now += 1.0
    output.transfer_changed(active.model_copy(update={"bytes": 30}), 10.0)
    assert lines(stream) == [
        "↓ report.pdf from bob [3f2a1b4c]: resumed at 0% of 1.2 MB",
        "↓ report.pdf from bob [3f2a1b4c]: paused: bob is offline",
        "↓ report.pdf from bob [3f2a1b4c]: resumed at 0% of 1.2 MB",
        "↓ report.pdf from bob [3f2a1b4c]: 0% of 1.2 MB, 10 B/s, 33:19:57 left",
    ]


def test_the_list_of_transfers_names_each_by_the_start_of_its_id() -> None:
    stream, output, _ = signed_in()
    output.transfers([])
    output.transfers(
        [
            TransferStatus(transfer(), 0.0),
            TransferStatus(transfer(state=TransferState.ACTIVE, bytes=600_000), 100_000.0),
            TransferStatus(
                transfer(Direction.OUT, TransferState.PAUSED, tid=UUID(int=3), reason="waiting"),
                0.0,
            ),
            TransferStatus(
                transfer(state=TransferState.DONE, bytes=1_200_000, path="/tmp/report.pdf"), 0.0
            ),
        ]
    )
    assert lines(stream) == [
        "* no transfers",
        f"↓ {SHORT} report.pdf from bob: offered (1.2 MB, application/pdf) — /accept {SHORT} "
        f"or /decline {SHORT}",
        f"↓ {SHORT} report.pdf from bob: active, 50% of 1.2 MB, 100 kB/s, 0:06 left",
        "↑ 00000000 report.pdf to bob: paused (waiting), 0% of 1.2 MB",
        f"↓ {SHORT} report.pdf from bob: done, saved to /tmp/report.pdf",
    ]


# -- running them -----------------------------------------------------------------------------


class FakeGroups:
    def __init__(self, *groups: GroupState) -> None:
        self._groups = groups

    async def list(self) -> list[tuple[GroupState, bool]]:
        return [(group, False) for group in self._groups]


def terminal(
    tmp_path: Path, *groups: GroupState, tell: bool = True
) -> tuple[io.StringIO, TextCommands, FakeFiles]:
    stream, output, _ = signed_in()
    for group in groups:  # known, as after /groups or a change
        output.group_changed(group, False)
    stream.seek(0)
    stream.truncate()
    files = FakeFiles(output, tell=tell)
    unused = cast(Any, None)
    runner = CommandRunner(
        output,
        unused,
        unused,
        unused,
        unused,
        unused,
        unused,
        unused,
        groups=cast(Any, FakeGroups(*groups)),
        files=files.use_cases(),
    )
    (tmp_path / "report.pdf").write_bytes(CONTENT)
    return stream, TextCommands(output, runner, terminal=False), files


@pytest.mark.parametrize("tell", [True, False])
def test_send_goes_to_the_conversation_a_person_or_a_group(tmp_path: Path, tell: bool) -> None:
    async def scenario() -> None:
        stream, commands, files = terminal(tmp_path, group_state(), tell=tell)
        path = str(tmp_path / "report.pdf")
        await commands.handle(f"/send {path}")  # no conversation yet
        commands.state.chatting_with = "bob"
        await commands.handle(f"/send {path}")
        await commands.handle(f"/send '{path}' Carol")
        await commands.handle(f"/send {path} friends")  # a group, by name
        commands.state.group = GROUP
        await commands.handle(f"/send {path}")  # the conversation is the group
        await commands.handle(f"/send {tmp_path / 'missing.pdf'} bob")
        await commands.handle(f"/send {path} 'not a name'")
        assert [call[2:] for call in files.calls] == [
            ("bob", None),
            ("carol", None),
            (None, GROUP),
            (None, GROUP),
            ("bob", None),
        ]
        said = lines(stream)
        assert said[0].startswith("! who to? /send FILE NAME")
        assert said[1:5] == [
            "↑ offering report.pdf (1.2 MB, application/pdf) to bob — /cancel 00000000",
            "↑ offering report.pdf (1.2 MB, application/pdf) to carol — /cancel 00000000",
            "↑ offering report.pdf (1.2 MB, application/pdf) to Friends — /cancel 00000000",
            "↑ offering report.pdf (1.2 MB, application/pdf) to Friends — /cancel 00000000",
        ]
        assert "missing.pdf: no such file (file_problem)" in said[5]
        assert "'not a name' is neither a person's name nor one of your groups" in said[6]

    asyncio.run(scenario())


def test_a_group_named_as_someone_you_know_is_unclear_to_send(tmp_path: Path) -> None:
    async def scenario() -> None:
        stream, commands, files = terminal(tmp_path, group_state(name="bob"))
        assert isinstance(commands._output, TextOutput)
        commands._output.remember(["bob"])
        await commands.handle(f"/send {tmp_path / 'report.pdf'} bob")
        assert files.calls == []
        assert "bob is both a person you know and one of your groups" in lines(stream)[0]

    asyncio.run(scenario())


def test_accept_decline_and_cancel_find_the_transfer_by_the_start_of_its_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    async def scenario() -> None:
        stream, commands, files = terminal(tmp_path)
        other = UUID("3f2a9999-0000-4000-8000-000000000002")
        files.records[TID] = transfer()
        files.records[other] = transfer(tid=other, file=offer("b.zip"))
        await commands.handle("/accept 3f2a")
        await commands.handle("/accept 3f2a1 in")
        await commands.handle("/decline 3f2a9")
        await commands.handle("/cancel 3f2a1b")
        await commands.handle("/cancel 77")
        await commands.handle("/transfers")
        assert files.calls == [
            ("accept", TID, str(tmp_path / "in")),
            ("decline", other),
            ("cancel", TID),
        ]
        said = lines(stream)
        assert said[0] == (
            "! 2 incoming transfers' ids start with 3f2a: 3f2a1b4c report.pdf, 3f2a9999 b.zip; "
            "type more of the id (ambiguous_transfer)"
        )
        assert said[1:5] == [
            "↓ report.pdf from bob [3f2a1b4c]: accepted",
            "↓ b.zip from bob [3f2a9999]: declined",
            "↓ report.pdf from bob [3f2a1b4c]: cancelled",
            "! no transfer's id starts with 77 (see /transfers) (unknown_transfer)",
        ]
        assert said[5:] == [
            f"↓ {SHORT} report.pdf from bob: cancelled",
            "↓ 3f2a9999 b.zip from bob: declined",
        ]

    asyncio.run(scenario())


def test_a_big_file_is_said_to_be_read_before_its_offer_goes(tmp_path: Path) -> None:
    stream, output, _ = signed_in()
    small, big = tmp_path / "small.txt", tmp_path / "disk.img"
    small.write_bytes(b"x")
    with big.open("wb") as sparse:
        sparse.truncate(BIG_FILE)
    say_if_big(str(small), output)
    say_if_big(str(tmp_path / "missing"), output)
    assert lines(stream) == []
    say_if_big(str(big), output)
    assert lines(stream) == ["* reading disk.img (268 MB) to offer it…"]
