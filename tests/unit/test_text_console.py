"""The terminal client's parsing and printing, without processes."""

from __future__ import annotations

import io
from collections.abc import Callable
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
from chinwag.adapters.console.text_commands import (
    Clear,
    Noop,
    TalkTo,
    TextState,
    parse_text_command,
)
from chinwag.adapters.console.text_output import TextOutput
from chinwag.adapters.console.text_states import GROUP_WINDOW
from chinwag.adapters.safe_text import terminal_safe
from chinwag.application.ports.directory import RegistryStatus
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.console_support import ALICE_FP, BOB_KEY, BOBS_NEW_KEY, MESSAGE, signed_in


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
    assert isinstance(parse_text_command("/clear", state), Clear)
    assert parse_text_command("/msg Carol", state) == TalkTo(
        name="carol"
    )  # switches, sends nothing
    for bad in ["/msg", "/history", "/history bob many", "/search", "/dance", "/msg b\u202eob"]:
        with pytest.raises(BadCommand):
            parse_text_command(bad, state)


def test_the_spaces_after_the_name_of_msg_are_not_part_of_the_message() -> None:
    """Completion leaves a space after the name: typing `` hi`` after it sends ``hi``."""
    state = TextState()
    assert parse_text_command("/msg alice  hi\n", state) == Send(cmd="send", to="alice", body="hi")
    assert parse_text_command("/msg alice   hi  there", state) == Send(
        cmd="send", to="alice", body="hi  there"
    )


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
    output.registry_status_changed(RegistryStatus.CONNECTED, "connected")  # part of signing in
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


@pytest.mark.parametrize(
    "hidden",
    ["\u200e", "\u200f", "\u061c", "\u2028", "\u2029", "\u202e", "\u2066", "\ufeff", "\u200b"],
)
def test_bidi_marks_separators_and_other_invisible_characters_are_shown(hidden: str) -> None:
    assert terminal_safe(f"a{hidden}b") == f"a\\u{ord(hidden):04x}b"


def test_the_joiners_and_tags_of_emoji_are_kept() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    scotland = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    text = f"{family} {scotland} a\u200cb é 👋\nnext\tcol"
    assert terminal_safe(text) == text


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


def sent(n: int, state: MessageState, body: str = "hi", reason: str | None = None) -> Message:
    """Alice's message number ``n`` to bob, in ``state``."""
    return Message(
        id=UUID(int=100 + n),
        conversation_id=direct_conversation_id("alice", "bob"),
        sender="alice",
        recipient="bob",
        body=body,
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        state=state,
        reason=reason,
    )


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("\x0c/help", "Ctrl-L (\\x0c) at the start"),  # Ctrl-L in a terminal without editing
        ("hello\x1b[D there", "Esc (\\x1b: an arrow or function key?) at column 6"),
        ("/msg bob \x7fhi", "the control character \\x7f at column 10"),
    ],
)
def test_a_line_holding_a_key_read_as_text_is_refused_not_sent(line: str, said: str) -> None:
    state = TextState(chatting_with="bob")
    with pytest.raises(BadCommand) as refused:
        parse_text_command(line + "\n", state)
    assert said in str(refused.value)
    assert str(refused.value).startswith("not sent:")
    # Tabs and newlines (Alt+Enter, a paste) are text.
    assert parse_text_command("a\tb\nc\r\n", state) == Send(cmd="send", to="bob", body="a\tb\nc")


def test_state_lines_name_the_message_and_say_why() -> None:
    stream, output = signed_in()
    output.message_state_changed(
        sent(1, MessageState.PENDING, "see you at the station at 6, by the clock")
    )
    output.message_state_changed(
        sent(1, MessageState.SENT, "see you at the station at 6, by the clock")
    )
    output.message_state_changed(
        sent(1, MessageState.DELIVERED, "see you at the station at 6, by the clock")
    )
    output.message_state_changed(sent(2, MessageState.FAILED, "hi\x1b[2J", reason="refused:\nno"))
    output.message_state_changed(sent(3, MessageState.QUEUED, "line one\nline two"))
    assert stream.getvalue().splitlines() == [
        "        ✓ delivered to bob: 'see you at the station at 6, by…'",
        "        ✗ not delivered to bob: 'hi\\x1b[2J': refused:\\nno",
        "        ⧗ waiting to reach bob: 'line one line two' (bob is offline); it goes out "
        "when bob is reachable",
    ]


def test_each_state_of_a_message_is_said_once() -> None:
    stream, output = signed_in()
    # The courier says "queued" at once, then with its reason on every retry.
    output.message_state_changed(sent(1, MessageState.QUEUED))
    for _ in range(9):
        output.message_state_changed(sent(1, MessageState.QUEUED, reason="bob is offline"))
        output.message_state_changed(sent(1, MessageState.PENDING))
    output.message_state_changed(sent(1, MessageState.QUEUED, reason="identity_changed"))
    output.message_state_changed(sent(1, MessageState.DELIVERED))
    output.message_state_changed(sent(1, MessageState.DELIVERED))  # a late duplicate
    lines = stream.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["⧗", "⧗", "✓"]
    assert "(bob is offline)" in lines[0]
    assert "a key changed" in lines[1]


class HandTimers:
    """``later`` for the output: timers that fire when the test says so."""

    def __init__(self) -> None:
        self.waiting: list[tuple[float, Callable[[], None], HandTimer]] = []

    def __call__(self, delay: float, call: Callable[[], None]) -> HandTimer:
        timer = HandTimer()
        self.waiting.append((delay, call, timer))
        return timer

    def fire(self) -> list[float]:
        """Fire every timer not cancelled; their delays."""
        due, self.waiting = self.waiting, []
        fired = [(delay, call) for delay, call, timer in due if not timer.cancelled]
        for _, call in fired:
            call()
        return [delay for delay, _ in fired]


class HandTimer:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def test_a_burst_of_deliveries_is_one_line_and_keeps_its_place() -> None:
    timers = HandTimers()
    stream = io.StringIO()
    output = TextOutput(stream, me="alice", later=timers)
    output.ready("alice", PeerAddress(host="127.0.0.1", port=1), ALICE_FP)
    stream.seek(0)
    stream.truncate()
    for n in range(50):
        output.message_state_changed(sent(n, MessageState.DELIVERED, f"message {n}"))
    output.message_received(MESSAGE.model_copy(update={"sender": "bob", "body": "thanks"}))
    for n in range(50, 53):
        output.message_state_changed(sent(n, MessageState.DELIVERED, f"message {n}"))
    assert stream.getvalue().count("\n") == 2  # the second group is still open
    assert timers.fire() == [GROUP_WINDOW]  # the window closes by itself (the first's was cut)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "        ✓ delivered to bob: 'message 0' and 49 more"
    assert lines[1].endswith("bob: thanks")  # after the group, as it came
    assert lines[2] == "        ✓ delivered to bob: 'message 50' and 2 more"
    assert len(lines) == 3


def test_quitting_says_nothing_about_who_is_online() -> None:
    stream, output = signed_in()
    output.presence_changed(frozenset({"alice", "bob", "carol"}))
    output.presence_changed(frozenset({"alice", "bob", "carol"}))  # a new snapshot, same people
    output.presence_changed(frozenset({"alice", "carol", "bob"}))
    output.leaving()
    output.presence_changed(frozenset())  # signing out empties the list
    output.registry_status_changed(RegistryStatus.DISCONNECTED, "signed out")
    assert stream.getvalue().splitlines() == ["* online: bob, carol", "* signing out…"]


def test_a_reconnection_prints_only_who_came_and_went_meanwhile() -> None:
    stream, output = signed_in()
    output.presence_changed(frozenset({"alice", "bob", "carol"}))
    output.registry_status_changed(RegistryStatus.RECONNECTING, "lost the registry")
    output.presence_changed(frozenset({"alice", "bob", "dave"}))  # the snapshot after it
    assert stream.getvalue().splitlines()[2:] == ["* dave is online", "* carol went offline"]


def test_the_names_completion_offers() -> None:
    _, output = signed_in()
    output.remember(["zoe", "bob"])
    output.presence_changed(frozenset({"alice", "carol"}))
    output.message_received(MESSAGE.model_copy(update={"sender": "dave", "recipient": "alice"}))
    output.message_state_changed(
        sent(1, MessageState.PENDING).model_copy(update={"recipient": "erin"})
    )
    assert output.names() == ["bob", "carol", "dave", "erin", "zoe"]


def test_printing_elsewhere_and_back() -> None:
    stream, output = signed_in()
    elsewhere = io.StringIO()
    output.print_to(elsewhere)
    output.info("above the prompt")
    output.print_to(None)
    output.info("back")
    assert elsewhere.getvalue() == "above the prompt\n"
    assert stream.getvalue() == "back\n"


def test_a_search_result_is_one_line_cut_around_the_match_and_history_is_whole() -> None:
    """A 40 KB message found by ``/search lore`` is one line of about 100 characters around
    "lore", with its time and who; ``/history`` still shows it whole."""
    body = "\n".join(f"line {n} of a long pasted log" for n in range(600))
    body = body.replace("line 300 of", "line 300 LORE of", 1)
    long = MESSAGE.model_copy(update={"sender": "bob", "recipient": "alice", "body": body})
    short = MESSAGE.model_copy(update={"body": "some lore\nin two lines"})
    stream, output = signed_in()
    output.search("lore", [long, short])
    lines = stream.getvalue().splitlines()
    assert lines[0] == "* 2 message(s) match 'lore'"
    assert len(lines) == 3
    assert lines[1].startswith("[") and "] bob: …" in lines[1]
    shown = lines[1].split(": ", 1)[1]
    assert shown.startswith("…") and shown.endswith("…") and len(shown) == 100
    assert "line 300 LORE of" in shown
    assert lines[2].endswith("] you → bob: some lore in two lines")

    stream.seek(0)
    stream.truncate()
    output.history("bob", [long])
    assert len(stream.getvalue().splitlines()) == 600
