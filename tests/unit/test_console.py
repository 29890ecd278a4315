"""The terminal client's parsing and printing, without processes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from uuid import UUID

import pytest

from chinwag.adapters.console.commands import (
    BadCommand,
    History,
    Noop,
    Quit,
    Search,
    Send,
    TextState,
    Who,
    parse_json_command,
    parse_text_command,
)
from chinwag.adapters.console.output import JsonOutput, TextOutput
from chinwag.application.ports.directory import RegistryStatus
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress


def test_json_commands_parse_with_defaults() -> None:
    assert parse_json_command('{"cmd": "send", "to": "bob", "body": "hi"}') == Send(
        cmd="send", to="bob", body="hi"
    )
    history = parse_json_command('{"cmd": "history", "with": "bob", "limit": 5}')
    assert isinstance(history, History)
    assert (history.with_, history.limit, history.before) == ("bob", 5, None)
    assert isinstance(parse_json_command('{"cmd": "who"}'), Who)
    assert isinstance(parse_json_command('{"cmd": "quit"}'), Quit)


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        "[]",
        '{"cmd": "fly"}',
        '{"cmd": "send", "to": "bob"}',
        '{"cmd": "history", "with": "bob", "limit": 0}',
        '{"cmd": "history", "with": "bob", "before": "not-a-uuid"}',
        '{"cmd": "who", "extra": 1}',
    ],
)
def test_bad_json_commands_say_what_is_wrong(line: str) -> None:
    with pytest.raises(BadCommand) as caught:
        parse_json_command(line)
    assert "commands: send, who, history, search, quit" in str(caught.value)


def test_text_commands_and_the_current_conversation() -> None:
    state = TextState()
    with pytest.raises(BadCommand, match="/msg"):
        parse_text_command("hello\n", state)
    assert parse_text_command("/msg bob hi there\n", state) == Send(
        cmd="send", to="bob", body="hi there"
    )
    assert state.chatting_with is None  # only a /msg that went through moves the conversation
    state.chatting_with = "bob"
    assert parse_text_command("and again\n", state) == Send(cmd="send", to="bob", body="and again")
    assert isinstance(parse_text_command("\n", state), Noop)
    assert isinstance(parse_text_command("/who", state), Who)
    history = parse_text_command("/history bob 5", state)
    assert isinstance(history, History)
    assert history.limit == 5
    assert parse_text_command("/search lunch plans", state) == Search(
        cmd="search", text="lunch plans"
    )
    assert parse_text_command("/help", state) is None
    assert isinstance(parse_text_command("/quit", state), Quit)
    for bad in ["/msg bob", "/history", "/history bob many", "/search", "/dance"]:
        with pytest.raises(BadCommand):
            parse_text_command(bad, state)


MESSAGE = Message(
    id=UUID(int=1),
    conversation_id=direct_conversation_id("alice", "bob"),
    sender="alice",
    recipient="bob",
    body="hi 👋\nthere",
    sent_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
    state=MessageState.RECEIVED,
)


def test_json_events_are_one_object_per_line_with_the_documented_fields() -> None:
    stream = io.StringIO()
    output = JsonOutput(stream)
    output.ready("alice", PeerAddress(host="127.0.0.1", port=4000))
    output.message_received(MESSAGE)
    output.message_state_changed(
        MESSAGE.model_copy(update={"state": MessageState.FAILED, "reason": "offline"})
    )
    output.presence_changed(frozenset({"bob", "alice"}))
    output.history("bob", [MESSAGE])
    output.error("unknown_user", "nobody is not online")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert events[0] == {"event": "ready", "user": "alice", "listen": "127.0.0.1:4000"}
    assert {k: events[1][k] for k in ("id", "from", "to", "body", "sent_at")} == {
        "id": str(UUID(int=1)),
        "from": "alice",
        "to": "bob",
        "body": "hi 👋\nthere",
        "sent_at": "2026-01-01T12:00:00+00:00",
    }
    assert events[2] == {
        "event": "status",
        "id": str(UUID(int=1)),
        "to": "bob",
        "state": "failed",
        "reason": "offline",
    }
    assert events[3] == {"event": "presence", "online": ["alice", "bob"]}
    assert events[4]["with"] == "bob"
    assert events[4]["messages"][0]["body"] == "hi 👋\nthere"
    assert events[5] == {
        "event": "error",
        "code": "unknown_user",
        "message": "nobody is not online",
    }


def test_text_output_is_readable() -> None:
    stream = io.StringIO()
    output = TextOutput(stream, me="bob")
    output.presence_changed(frozenset({"alice", "bob"}))  # during sign-in: held until ready
    output.ready("bob", PeerAddress(host="127.0.0.1", port=4000))
    output.message_received(MESSAGE)
    output.presence_changed(frozenset({"alice", "bob", "carol"}))
    output.presence_changed(frozenset({"bob", "carol"}))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("* signed in as bob")
    assert lines[1] == "* online: alice"
    assert "alice: hi 👋" in lines[2]
    assert lines[3] == "        there"
    assert lines[4:] == ["* carol is online", "* alice went offline"]


def test_json_ready_comes_first_but_errors_are_never_held() -> None:
    stream = io.StringIO()
    output = JsonOutput(stream)
    output.registry_status_changed(RegistryStatus.CONNECTED, "connected")
    output.presence_changed(frozenset({"alice"}))
    output.error("name_taken", "alice is taken")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["error"]
    output.ready("alice", PeerAddress(host="127.0.0.1", port=1))
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["error", "ready", "registry", "presence"]


def test_text_output_shows_terminal_escapes_instead_of_obeying_them() -> None:
    stream = io.StringIO()
    output = TextOutput(stream)
    output.ready("bob", PeerAddress(host="127.0.0.1", port=4000))
    hostile = MESSAGE.model_copy(
        update={"body": "hi\x1b]52;c;ZXZpbA==\x07\x1b[2J \u202eevil\ttab\nnext"}
    )
    output.message_received(hostile)
    text = stream.getvalue()
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text
    assert "\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J \\u202eevil\ttab\n" in text
