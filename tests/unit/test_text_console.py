"""The terminal client's parsing and printing, without processes."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from uuid import UUID

import pytest

from chinwag.adapters.console.commands import (
    BadCommand,
    History,
    Quit,
    Search,
    Send,
    Trust,
    Verify,
    Who,
    WhoAmICommand,
)
from chinwag.adapters.console.text_commands import Noop, TextState, parse_text_command
from chinwag.adapters.console.text_output import TextOutput
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress

ALICE_KEY = bytes([0xA1]) * 32
BOB_KEY = bytes([0xB0]) * 32
BOBS_NEW_KEY = bytes([0xB1]) * 32
ALICE_FP = fingerprint(ALICE_KEY)

MESSAGE = Message(
    id=UUID(int=1),
    conversation_id=direct_conversation_id("alice", "bob"),
    sender="alice",
    recipient="bob",
    body="hi 👋\nthere",
    sent_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
    state=MessageState.RECEIVED,
)


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


def test_text_identity_commands() -> None:
    state = TextState()
    assert isinstance(parse_text_command("/whoami\n", state), WhoAmICommand)
    assert parse_text_command("/verify bob", state) == Verify(cmd="verify", with_="bob")
    # The number as read aloud, in groups: everything after the name is the number.
    assert parse_text_command("/verify bob 12345 67890\n", state) == Verify(
        cmd="verify", with_="bob", number="12345 67890"
    )
    assert parse_text_command(f"/trust bob {ALICE_FP}\n", state) == Trust(
        cmd="trust", with_="bob", fingerprint=ALICE_FP
    )
    for bad, usage in [
        ("/verify", "/verify NAME"),
        ("/trust", "/trust NAME FINGERPRINT"),
        ("/trust bob", "/trust NAME FINGERPRINT"),
        ("/trust bob   ", "/trust NAME FINGERPRINT"),
    ]:
        with pytest.raises(BadCommand, match=usage):
            parse_text_command(bad, state)


def test_text_output_is_readable() -> None:
    stream = io.StringIO()
    output = TextOutput(stream, me="bob")
    output.presence_changed(frozenset({"alice", "bob"}))  # during sign-in: held until ready
    output.ready("bob", PeerAddress(host="127.0.0.1", port=4000), fingerprint(BOB_KEY))
    output.message_received(MESSAGE)
    output.presence_changed(frozenset({"alice", "bob", "carol"}))
    output.presence_changed(frozenset({"bob", "carol"}))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("* signed in as bob")
    assert lines[1] == f"* your key's fingerprint: {fingerprint(BOB_KEY)}"
    assert lines[2] == "* online: alice"
    assert "alice: hi 👋" in lines[3]
    assert lines[4] == "        there"
    assert lines[5:] == ["* carol is online", "* alice went offline"]


def test_text_output_shows_terminal_escapes_instead_of_obeying_them() -> None:
    stream = io.StringIO()
    output = TextOutput(stream)
    output.ready("bob", PeerAddress(host="127.0.0.1", port=4000), fingerprint(BOB_KEY))
    hostile = MESSAGE.model_copy(
        update={"body": "hi\x1b]52;c;ZXZpbA==\x07\x1b[2J \u202eevil\ttab\nnext"}
    )
    output.message_received(hostile)
    text = stream.getvalue()
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text
    assert "\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J \\u202eevil\ttab\n" in text


def test_text_identity_events_say_what_to_do() -> None:
    stream = io.StringIO()
    output = TextOutput(stream, me="alice")
    output.ready("alice", PeerAddress(host="127.0.0.1", port=1), ALICE_FP)
    output.identity_changed("bob", BOBS_NEW_KEY, BOB_KEY, False)
    output.identity_changed("carol", BOBS_NEW_KEY, BOB_KEY, True)
    output.message_state_changed(
        MESSAGE.model_copy(update={"state": MessageState.QUEUED, "reason": "identity_changed"})
    )
    output.identity_trusted("bob", BOBS_NEW_KEY)
    lines = stream.getvalue().splitlines()[2:]
    assert lines[0].startswith("! bob's key changed")
    assert fingerprint(BOB_KEY) in lines[0]
    assert lines[0].endswith(f"/trust bob {fingerprint(BOBS_NEW_KEY)}")
    assert lines[1].startswith("!!! carol's key changed")  # a verified contact: louder
    assert "/verify carol" in lines[1]
    assert "/trust" not in lines[1]
    assert "a key changed" in lines[2]
    assert (
        lines[3] == f"* bob's key {fingerprint(BOBS_NEW_KEY)} is trusted; what waited goes out now"
    )


def test_a_peers_refusal_cannot_start_a_line_of_its_own() -> None:
    stream = io.StringIO()
    output = TextOutput(stream, me="alice")
    output.ready("alice", PeerAddress(host="127.0.0.1", port=1), ALICE_FP)
    forged = "x\n[13:37] bob: please /trust bob aaaa"
    failed = Message(
        id=UUID(int=7),
        conversation_id=direct_conversation_id("alice", "bob"),
        sender="alice",
        recipient="bob",
        body="hi",
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        state=MessageState.FAILED,
        reason=forged,
    )
    output.message_state_changed(failed)
    output.error("refused", forged)
    lines = stream.getvalue().splitlines()
    assert not any(line.startswith("[13:37]") for line in lines)
    assert sum("\\n[13:37] bob" in line for line in lines) == 2


def test_a_message_that_keeps_waiting_for_the_same_reason_is_said_once() -> None:
    stream = io.StringIO()
    output = TextOutput(stream, me="alice")
    output.ready("alice", PeerAddress(host="127.0.0.1", port=1), ALICE_FP)
    waiting = Message(
        id=UUID(int=8),
        conversation_id=direct_conversation_id("alice", "bob"),
        sender="alice",
        recipient="bob",
        body="hi",
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        state=MessageState.QUEUED,
        reason="identity_changed",
    )
    for _ in range(5):  # every retry reports it again
        output.message_state_changed(waiting)
    output.message_state_changed(waiting.model_copy(update={"reason": "over_quota"}))
    lines = [line for line in stream.getvalue().splitlines() if "⧗" in line]
    assert len(lines) == 2
