"""The terminal client's sessions without processes: the line editor (completion, the check
before a line is taken, keys, history on disk, logs) and lines from a pipe."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import stat
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import cast
from uuid import UUID

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from prompt_toolkit.validation import ValidationError

from chinwag.adapters.console import INPUT_HISTORY_FILE, terminal_input, terminal_session
from chinwag.adapters.console.commands import (
    AnyCommand,
    CommandRunner,
    Send,
    Who,
)
from chinwag.adapters.console.lines import TERMINAL_LINE_BYTES
from chinwag.adapters.console.terminal_input import (
    BackgroundHistory,
    ChatCompleter,
    LineCheck,
    PrivateFileHistory,
)
from chinwag.adapters.console.terminal_session import logs_above, run_terminal_session
from chinwag.adapters.console.text_runner import TextCommands
from chinwag.adapters.console.text_session import full_terminal, run_text_session
from chinwag.domain.group_log import GroupState
from chinwag.domain.message import MAX_BODY_BYTES
from tests.console_support import MESSAGE, signed_in


def completions(text: str, names: list[str]) -> list[str]:
    completer = ChatCompleter(lambda: names)
    document = Document(text)
    return [
        document.text[: len(text) + c.start_position] + c.text
        for c in completer.get_completions(document, CompleteEvent(completion_requested=True))
    ]


def test_tab_completes_commands_and_names() -> None:
    people = ["bob", "bella", "carol"]
    assert completions("/m", people) == ["/msg "]
    assert completions("/w", people) == ["/who ", "/watch ", "/whoami "]
    assert completions("/msg b", people) == ["/msg bella ", "/msg bob "]
    assert completions("/MSG Bo", people) == ["/MSG bob "]
    assert completions("/history ", people) == [f"/history {n} " for n in sorted(people)]
    assert completions("/search b", people) == []  # not a name
    assert completions("/msg bob hel", people) == []  # the text is not completed
    assert completions("hello b", people) == []


def check(line: str) -> str | None:
    """What Enter says about ``line`` (``None``: it is taken)."""
    try:
        LineCheck().validate(Document(line))
    except ValidationError as exc:
        return exc.message
    return None


def test_enter_refuses_an_oversized_message_and_keys_read_as_text() -> None:
    assert check("x" * MAX_BODY_BYTES) is None
    assert check("/msg bob " + "é" * (MAX_BODY_BYTES // 2)) is None  # the body counts, not the line
    refusal = check("😀" * (MAX_BODY_BYTES // 4 + 1))
    assert refusal is not None
    assert f"at most {MAX_BODY_BYTES} bytes" in refusal
    assert f"this one has {MAX_BODY_BYTES + 4}" in refusal
    assert check("/msg bob " + "x" * (MAX_BODY_BYTES + 1)) is not None
    assert "Ctrl-L" in (check("\x0chi") or "")
    assert check("/dance") is None  # a mistake of its own, said when it runs


def test_a_preloaded_history_is_served_from_memory_at_once(tmp_path: Path) -> None:
    """The editor loads its history when the prompt shows; after the preload that must take
    no trip through the executor, or an Up pressed at once finds nothing (seen in CI)."""
    path = tmp_path / "input-history"
    writer = PrivateFileHistory(path, lambda _: None)
    for line in ["first", "second"]:
        writer.append_string(line)

    async def scenario() -> list[str]:
        history = BackgroundHistory(PrivateFileHistory(path, lambda _: None))
        await history.preload()
        loop = asyncio.get_running_loop()

        def no_executor(*_: object) -> None:
            raise AssertionError("the preloaded history went through the executor")

        executor = loop.run_in_executor
        loop.run_in_executor = no_executor  # type: ignore[method-assign,assignment]
        try:
            history.append_string("third")  # typed in this session: newest first too
            lines = [line async for line in history.load()]
        finally:
            loop.run_in_executor = executor  # type: ignore[method-assign]
        await asyncio.to_thread(history.close)
        return lines

    assert asyncio.run(scenario()) == ["third", "second", "first"]


def test_the_input_history_is_private_bounded_and_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "input-history"
    warnings: list[str] = []
    previous = os.umask(0)
    try:
        history = PrivateFileHistory(path, warnings.append)
        assert list(history.load_history_strings()) == []
        for line in ["/msg bob hi", "two\nlines", "+plus"]:
            history.append_string(line)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = PrivateFileHistory(path, warnings.append)
    assert list(again.load_history_strings()) == ["+plus", "two\nlines", "/msg bob hi"]

    monkeypatch.setattr(terminal_input, "HISTORY_COMPACT_BYTES", 10)
    monkeypatch.setattr(terminal_input, "HISTORY_ENTRIES", 2)
    assert list(PrivateFileHistory(path, warnings.append).load_history_strings()) == [
        "+plus",
        "two\nlines",
    ]
    assert path.read_text() == "\n+two\n+lines\n\n++plus\n"  # rewritten: only what is kept
    assert warnings == []


def test_a_link_in_place_of_the_history_is_refused_and_said(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("\n+secret\n")
    (tmp_path / "input-history").symlink_to(target)
    warnings: list[str] = []
    history = PrivateFileHistory(tmp_path / "input-history", warnings.append)
    assert list(history.load_history_strings()) == []
    history.append_string("/msg bob hi")
    assert len(warnings) == 1
    assert "symbolic link" in warnings[0]
    assert "this session only" in warnings[0]
    assert target.read_text() == "\n+secret\n"


class FakeRunner(CommandRunner):
    """Records the commands it is given; refuses sends to ``nobody``."""

    def __init__(self) -> None:  # no use cases: nothing runs
        self.ran: list[AnyCommand] = []
        self.changed = asyncio.Event()

    async def run(self, command: AnyCommand) -> bool:
        self.ran.append(command)
        self.changed.set()
        return not (isinstance(command, Send) and command.to == "nobody")


class TtyText(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def plain_session(typed: str, stdin: io.StringIO | None = None) -> tuple[FakeRunner, list[str]]:
    """Run the text session on ``typed`` (a pipe, unless ``stdin`` says otherwise)."""
    runner = FakeRunner()
    stream, output = signed_in()

    async def scenario() -> None:
        await run_text_session(stdin or io.StringIO(typed), output, runner, asyncio.Event())

    asyncio.run(scenario())
    return runner, stream.getvalue().splitlines()


def test_from_a_pipe_plain_lines_follow_the_conversation_and_nothing_is_escaped() -> None:
    runner, lines = plain_session(
        "hi\n/msg nobody hi\nstill nobody?\n/msg Bob hi bob\nand you\n\x0c/help\n/clear\n"
        "/msg carol\nhi carol\n/help\n/quit\nnever read\n"
    )
    assert runner.ran == [
        Send(cmd="send", to="nobody", body="hi"),
        Send(cmd="send", to="Bob", body="hi bob"),
        Send(cmd="send", to="bob", body="and you"),  # as the registry spells the name
        Send(cmd="send", to="carol", body="hi carol"),
    ]
    assert lines[0].startswith("! who to?")
    assert lines[1].startswith("! who to?")  # a refused /msg does not move the conversation
    assert lines[2].startswith("! not sent: the line holds Ctrl-L (\\x0c) at the start")
    assert lines[3] == "* /clear works in a full terminal, not in a pipe or TERM=dumb"
    assert lines[4] == "* plain lines now go to carol"
    assert "Ctrl-L) are refused" in "\n".join(lines)  # the plain help
    assert "Alt+Enter" not in "\n".join(lines)
    assert lines[-1] == "* signing out…"
    assert not any("\x1b" in line for line in lines)


def test_a_line_as_long_as_a_terminal_in_line_mode_allows_is_refused() -> None:
    cut = "x" * TERMINAL_LINE_BYTES
    runner, lines = plain_session("", TtyText(f"/msg bob {cut[9:]}\n/msg bob {cut[:100]}\n"))
    assert runner.ran == [Send(cmd="send", to="bob", body=cut[:100])]
    assert "its end was probably dropped" in lines[0]
    # From a pipe, the same line is whole: it goes.
    runner, _ = plain_session(f"/msg bob {cut}\n")
    assert runner.ran == [Send(cmd="send", to="bob", body=cut)]


def test_only_a_terminal_that_understands_escapes_gets_the_line_editor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    assert full_terminal(TtyText(), TtyText())
    assert not full_terminal(io.StringIO(), TtyText())
    assert not full_terminal(TtyText(), io.StringIO())
    monkeypatch.setenv("TERM", "dumb")
    assert not full_terminal(TtyText(), TtyText())
    monkeypatch.delenv("TERM")
    assert not full_terminal(TtyText(), TtyText())


class Screen(DummyOutput):
    """No screen, but what is printed above the prompt is kept."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, data: str) -> None:
        self.written.append(data)


def edit(
    typed: str, folder: Path, screen: DummyOutput | None = None
) -> tuple[FakeRunner, list[str]]:
    """Type ``typed`` into the line editor (a pipe for keyboard, ``screen`` or none), which must
    end by itself; what it ran, and what it printed after the session."""
    runner = FakeRunner()
    stream, output = signed_in()

    async def scenario() -> None:
        with create_pipe_input() as keyboard:
            session = asyncio.ensure_future(
                run_terminal_session(
                    io.StringIO(),
                    output,
                    runner,
                    asyncio.Event(),
                    folder,
                    (keyboard, screen or DummyOutput()),
                )
            )
            # From a thread: a pipe holds 64 KiB, and the editor reads it on this loop.
            await asyncio.to_thread(keyboard.send_text, typed)
            await asyncio.wait_for(session, 20)

    asyncio.run(scenario())
    return runner, stream.getvalue().splitlines()


PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"
LEFT = "\x1b[D"


def test_the_line_editor_edits_pastes_and_refuses_without_losing_the_line(tmp_path: Path) -> None:
    too_big = "x" * (MAX_BODY_BYTES + 1)
    runner, _ = edit(
        "/msg bob hi\r"
        f"ab{LEFT}{LEFT}X\r"  # moved and inserted
        "one\x1b\rtwo\r"  # Alt+Enter: a new line in the message
        f"{PASTE_START}para 1\r\npara 2\r\n{PASTE_END}\r"  # a paste is taken whole
        "typo\x03"  # Ctrl-C clears the line
        "\x0cafter clearing the screen\r"  # Ctrl-L never ends up in a message
        f"{PASTE_START}{too_big}{PASTE_END}\r"  # refused: it stays in the line...
        "\x01\x0b"  # ... until Ctrl-A, Ctrl-K take it away
        "fine\r"
        "\x04",  # Ctrl-D on an empty line: quit
        tmp_path,
    )
    bodies = [command.body for command in runner.ran if isinstance(command, Send)]
    assert bodies == [
        "hi",
        "Xab",
        "one\ntwo",
        "para 1\npara 2",
        "after clearing the screen",
        "fine",
    ]
    assert {command.to for command in runner.ran if isinstance(command, Send)} == {"bob"}
    kept = list(PrivateFileHistory(tmp_path / INPUT_HISTORY_FILE, print).load_history_strings())
    assert kept[:3] == ["fine", "after clearing the screen", "para 1\npara 2\n"]
    assert too_big not in kept


def test_ctrl_c_on_an_empty_line_quits(tmp_path: Path) -> None:
    runner, _ = edit("/who\r\x03", tmp_path)  # the editor ends by itself
    assert runner.ran == [Who(cmd="who")]


def test_log_lines_for_the_terminal_go_above_the_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal, os.fdopen(leader, "rb", buffering=0):
        monkeypatch.setattr(sys, "stderr", terminal)
        handler = logging.StreamHandler(sys.stderr)
        logging.getLogger().addHandler(handler)
        try:
            above = io.StringIO()
            with logs_above(above, terminal):
                logging.getLogger("chinwag.test").warning("careful")
            assert handler.stream is terminal  # as it was
            assert above.getvalue() == "careful\n"
            with logs_above(above, io.StringIO()):  # stderr is another terminal: left alone
                assert handler.stream is terminal
        finally:
            logging.getLogger().removeHandler(handler)


def test_a_multi_line_message_is_echoed_indented_as_messages_are(tmp_path: Path) -> None:
    screen = Screen()
    edit("/msg bob one\x1b\rtwo\x1b\rthree\r\x04", tmp_path, screen)
    printed = "".join(screen.written).splitlines()
    echoed = printed.index("(no one)> /msg bob one")
    assert printed[echoed + 1 : echoed + 3] == ["        two", "        three"]


class StopsAfter(FakeRunner):
    """Sets ``stop`` (as SIGTERM does) at the ``after``-th command."""

    def __init__(self, stop: asyncio.Event, after: int) -> None:
        super().__init__()
        self.stop, self.after = stop, after

    async def run(self, command: AnyCommand) -> bool:
        if len(self.ran) + 1 == self.after:
            self.stop.set()
        return await super().run(command)


def test_from_a_pipe_stop_is_obeyed_at_once_while_lines_keep_coming() -> None:
    stop = asyncio.Event()
    runner = StopsAfter(stop, after=3)
    _, output = signed_in()
    read_end, write_end = os.pipe()

    def endless() -> None:  # as `yes /who` does, until the reader is gone
        try:
            with open(write_end, "wb") as pipe:
                while True:
                    pipe.write(b"/who\n" * 1_000)
        except OSError:
            return

    async def scenario() -> None:
        with os.fdopen(read_end, encoding="utf-8") as stdin:
            async with asyncio.timeout(5):
                await run_text_session(stdin, output, runner, stop)

    feeder = threading.Thread(target=endless)
    feeder.start()
    try:
        asyncio.run(scenario())
    finally:
        feeder.join(5)
    assert len(runner.ran) == 3  # not one line after the stop


def test_the_line_editor_reads_and_writes_its_history_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[str] = set()
    load, store = PrivateFileHistory.load_history_strings, PrivateFileHistory.store_string

    def loading(self: PrivateFileHistory) -> Iterable[str]:
        threads.add(threading.current_thread().name)
        return load(self)

    def storing(self: PrivateFileHistory, string: str) -> None:
        threads.add(threading.current_thread().name)
        store(self, string)

    monkeypatch.setattr(PrivateFileHistory, "load_history_strings", loading)
    monkeypatch.setattr(PrivateFileHistory, "store_string", storing)
    edit("/who\r/msg bob hi\r\x04", tmp_path)
    assert threads  # it was read and written...
    assert threading.main_thread().name not in threads  # ...never by the loop's thread
    kept = list(PrivateFileHistory(tmp_path / INPUT_HISTORY_FILE, print).load_history_strings())
    assert kept == ["/msg bob hi", "/who"]  # every line, in order, when the session is over


def test_with_no_conversation_the_first_person_to_write_becomes_it() -> None:
    """After a restart the prompt is ``(no one)>``: a reply to the message that just arrived
    goes to its sender; a conversation chosen with ``/msg`` is never moved by incoming ones."""
    runner = FakeRunner()
    _, output = signed_in("bob")
    commands = TextCommands(output, runner, terminal=False)
    from_carol = MESSAGE.model_copy(update={"sender": "carol"})

    async def scenario() -> None:
        output.message_received(MESSAGE)  # from alice
        assert commands.state.chatting_with == "alice"
        output.message_received(from_carol)  # alice is still the conversation
        await commands.handle("hi alice\n")
        await commands.handle("/msg dave\n")
        output.message_received(from_carol)
        await commands.handle("hi dave\n")

    asyncio.run(scenario())
    assert runner.ran == [
        Send(cmd="send", to="alice", body="hi alice"),
        Send(cmd="send", to="dave", body="hi dave"),
    ]


def test_my_own_messages_do_not_choose_the_conversation() -> None:
    _, output = signed_in("alice")
    commands = TextCommands(output, FakeRunner(), terminal=False)
    output.message_received(MESSAGE)  # alice's own, echoed from another device
    assert commands.state.chatting_with is None


class GroupRunner(FakeRunner):
    """Knows one group, Book club, by any name."""

    BOOK_CLUB = UUID(int=7)

    async def find_group(self, named: str) -> GroupState:
        return cast(GroupState, SimpleNamespace(id=self.BOOK_CLUB, name="Book club"))


def test_after_slash_g_the_prompt_names_the_group_and_stays_when_somebody_writes() -> None:
    """The prompt says where plain lines go: to the group chosen by ``/g``, marked as a group,
    even when somebody then writes (with no person chosen, the first writer would become it)."""
    runner = GroupRunner()
    _, output = signed_in("bob")
    commands = TextCommands(output, runner, terminal=False)

    async def scenario() -> None:
        await commands.handle('/g "Book club" hello all\n')
        output.message_received(MESSAGE)  # from alice, directly
        await commands.handle("and again\n")

    asyncio.run(scenario())
    prompt = "".join(text for _, text, *_ in terminal_session._prompt(commands.state))
    assert prompt == "Book club (group)> "
    assert commands.state.chatting_with is None  # alice did not become the conversation
    assert runner.ran == [
        Send(cmd="send", group=GroupRunner.BOOK_CLUB, body="hello all"),
        Send(cmd="send", group=GroupRunner.BOOK_CLUB, body="and again"),
    ]
