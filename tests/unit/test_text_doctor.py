"""The terminal client's ``/doctor [NAME]`` (issue 9): parsing, help, what it prints (in plain
words, with whatever a peer or a registry could slip in made visible), and the new reasons a
message waits."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from chinwag.adapters.console.commands import BadCommand, CommandRunner, Doctor
from chinwag.adapters.console.text_commands import (
    COMMAND_NAMES,
    HELP,
    NAME_COMMANDS,
    PLAIN_HELP,
    TextState,
    parse_text_command,
)
from chinwag.adapters.console.text_output import TextOutput
from chinwag.adapters.console.text_runner import TextCommands
from chinwag.application.doctor import Cause
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import Probe, Route
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.domain.message import MessageState
from chinwag.domain.user import PeerAddress
from tests.console_support import MESSAGE, signed_in
from tests.unit.test_diagnose import BOB
from tests.unit.test_diagnose import Doctor as Fakes

HERE = PeerAddress(host="10.0.0.1", port=7421)


def test_doctor_parses_with_and_without_a_name() -> None:
    state = TextState()
    assert parse_text_command("/doctor", state) == Doctor(cmd="doctor")
    assert parse_text_command("/doctor bob  ", state) == Doctor(cmd="doctor", with_="bob")
    with pytest.raises(BadCommand, match="usage: /doctor, or /doctor NAME"):
        parse_text_command("/doctor bob carol", state)


def test_help_and_completion_know_the_doctor() -> None:
    for text in (HELP, PLAIN_HELP):
        assert "/doctor [NAME]" in text
    assert "/doctor" in COMMAND_NAMES and "doctor" in NAME_COMMANDS


def test_the_self_report_in_plain_words() -> None:
    stream, output = signed_in()
    output.doctor_self(
        SelfReport(RegistryStatus.CONNECTED, HERE, True, Cause.OK, "reached; nothing to do")
    )
    output.doctor_self(
        SelfReport(RegistryStatus.CONNECTED, None, False, Cause.NOT_LISTENING, "why; what")
    )
    output.doctor_self(
        SelfReport(
            RegistryStatus.RECONNECTING,
            PeerAddress(host="0.0.0.0", port=45625),
            False,
            Cause.REGISTRY_UNREACHABLE,
            "gone; check",
        )
    )
    # The cause's code is for scripts (--json): people read the words only.
    assert stream.getvalue().splitlines() == [
        "* doctor: you — registry connected, listening on 10.0.0.1:7421, reachable directly",
        "  ✓ reached; nothing to do",
        "* doctor: you — registry connected, listening nowhere (--listen none), "
        "not reachable directly",
        "  ! why; what",
        "* doctor: you — registry reconnecting, listening on port 45625, "
        "reachable directly: unknown while the registry is out of reach",
        "  ! gone; check",
    ]


def test_the_peer_report_in_plain_words() -> None:
    stream, output = signed_in()
    output.doctor_peer(PeerReport("bob", Route.RELAYED, Cause.OK, "relayed; forward", 41.6))
    output.doctor_peer(PeerReport("carol", None, Cause.OFFLINE, "carol is offline; wait"))
    output.doctor_peer(PeerReport("dan", Route.DIRECT, Cause.OK, "direct; nothing", 0.2))
    output.doctor_peer(PeerReport("eve", None, Cause.REFUSED, "refused; ask"))
    assert stream.getvalue().splitlines() == [
        "* doctor: bob — relayed, round trip 42 ms",
        "  ✓ relayed; forward",
        "* doctor: carol — offline",
        "  ! carol is offline; wait",
        "* doctor: dan — direct, round trip under 1 ms",
        "  ✓ direct; nothing",
        "* doctor: eve — no way to reach them now",
        "  ! refused; ask",
    ]


def test_what_a_peer_or_a_registry_could_slip_into_a_report_is_shown_not_obeyed() -> None:
    stream, output = signed_in()
    output.doctor_peer(
        PeerReport("bob", None, Cause.REFUSED, "at evil\x1b]0;owned\x07\n* fake line\u202e")
    )
    text = stream.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]0;owned\\x07\\n* fake line\\u202e" in text
    assert len(text.splitlines()) == 2  # no line of its own for the "fake line"


def runner_for(output: TextOutput, fakes: Fakes | None) -> CommandRunner:
    """A runner that can only run the doctor (the other use cases are never called)."""
    unused = cast(Any, None)
    return CommandRunner(
        output,
        unused,
        unused,
        unused,
        unused,
        unused,
        unused,
        unused,
        diagnose_self=None if fakes is None else fakes.me,
        diagnose_peer=None if fakes is None else fakes.peer,
    )


def test_slash_doctor_says_it_is_checking_then_answers() -> None:
    async def scenario() -> str:
        stream = io.StringIO()
        output = TextOutput(stream, me="alice")
        output.ready("alice", HERE, "fp")
        fakes = Fakes()
        fakes.bob_at(BOB, reachable=False, relay=True)
        fakes.transport.probe_answer = Probe(Route.RELAYED, 0.02)
        commands = TextCommands(output, runner_for(output, fakes), terminal=False)
        assert await commands.handle("/doctor bob\n")
        assert await commands.handle("/doctor\n")
        return stream.getvalue()

    lines = asyncio.run(scenario()).splitlines()[2:]  # after "signed in" and the key
    assert lines[0] == "* checking how you reach bob… (a few seconds at most)"
    assert lines[1] == "* doctor: bob — relayed, round trip 20 ms"
    assert lines[2].startswith("  ✓ bob's port is not reachable from outside")
    assert lines[2].endswith("bob can forward port 7421")
    assert "round trip" not in lines[2]  # said once, on the line above
    assert lines[3] == "* checking your connection… (a few seconds at most)"
    assert lines[4].startswith("* doctor: you — registry connected, listening on 10.0.0.1:7421")


def test_a_client_without_the_doctor_says_so() -> None:
    async def scenario() -> str:
        stream = io.StringIO()
        output = TextOutput(stream, me="alice")
        output.ready("alice", HERE, "fp")
        assert not await runner_for(output, None).run(Doctor(cmd="doctor"))
        return stream.getvalue()

    assert "the connection doctor is not available in this client (unavailable)" in asyncio.run(
        scenario()
    )


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        (
            "unreachable",
            "no direct connection reaches them and there is no relay; /doctor bob says why",
        ),
        (
            "relay_refused",
            "the registry's relay refused (it is off, full or at its limit); /doctor bob says",
        ),
    ],
)
def test_the_new_queued_reasons_in_words(reason: str, says: str) -> None:
    stream, output = signed_in()
    waiting = MESSAGE.model_copy(
        update={
            "state": MessageState.QUEUED,
            "reason": reason,
            "sent_at": datetime(2026, 1, 1, tzinfo=UTC),
        }
    )
    output.message_state_changed(waiting, None)
    output.leaving()  # says the grouped line at once
    assert says in stream.getvalue()


def test_ready_says_a_wildcard_address_as_its_port_and_no_relay_it_cannot_promise() -> None:
    stream = io.StringIO()
    TextOutput(stream, me="alice").ready("alice", PeerAddress(host="0.0.0.0", port=45625), "fp")
    TextOutput(stream, me="alice").ready("alice", None, "fp")
    first, _, second, _ = stream.getvalue().splitlines()
    assert "accepting peers on port 45625." in first and "0.0.0.0" not in first
    assert "only through the registry's relay, if it relays" in second
