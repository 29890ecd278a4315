"""The terminal client's parsing and printing, without processes."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from chinwag.adapters.console.commands import (
    AnyCommand,
    CommandRunner,
    History,
    Quit,
    Send,
    Trust,
    Verify,
    Who,
    WhoAmICommand,
)
from chinwag.adapters.console.json_commands import BadJsonCommand, parse_json_line
from chinwag.adapters.console.json_output import JsonOutput
from chinwag.adapters.memory.clock import ManualClock, SequentialIds
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.directory import InMemoryDirectory, InMemoryRegistry
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.memory.repositories import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
)
from chinwag.adapters.memory.transport import InMemoryNetwork, InMemoryTransport
from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier
from chinwag.application.errors import IdentityChanged
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases import (
    LoadHistory,
    SearchHistory,
    SendMessage,
    TrustContact,
    VerifyContact,
    WhoAmI,
    WhoIsOnline,
)
from chinwag.domain.contact import Contact
from chinwag.domain.identity import fingerprint, safety_number
from chinwag.domain.message import MessageState
from chinwag.domain.user import PeerAddress
from tests.console_support import ALICE_FP, ALICE_KEY, BOB_KEY, BOBS_NEW_KEY, MESSAGE


def test_json_commands_parse_with_defaults() -> None:
    assert parse_json_command('{"cmd": "send", "to": "bob", "body": "hi"}') == Send(
        cmd="send", to="bob", body="hi"
    )
    history = parse_json_command('{"cmd": "history", "with": "bob", "limit": 5}')
    assert isinstance(history, History)
    assert (history.with_, history.limit, history.before) == ("bob", 5, None)
    assert isinstance(parse_json_command('{"cmd": "who"}'), Who)
    assert isinstance(parse_json_command('{"cmd": "quit"}'), Quit)


def test_json_identity_commands_parse() -> None:
    assert isinstance(parse_json_command('{"cmd": "whoami"}'), WhoAmICommand)
    verify = parse_json_command('{"cmd": "verify", "with": "bob"}')
    assert isinstance(verify, Verify)
    assert (verify.with_, verify.number) == ("bob", None)
    verify = parse_json_command('{"cmd": "verify", "with": "bob", "number": "12345 67890"}')
    assert isinstance(verify, Verify)
    assert verify.number == "12345 67890"
    trust = parse_json_command('{"cmd": "trust", "with": "bob", "fingerprint": "abcd efgh"}')
    assert isinstance(trust, Trust)
    assert (trust.with_, trust.fingerprint) == ("bob", "abcd efgh")


def parse_json_command(line: str) -> AnyCommand:
    return parse_json_line(line).command


COMMAND_LIST = (
    "commands: send, who, watch, unwatch, history, search, whoami, verify, trust, doctor, "
    "group_create, group_add, group_remove, group_admin, group_leave, group_rename, groups, "
    "send_file, accept_file, decline_file, cancel_file, transfers, quit"
)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json", "not JSON: Expecting value at column 1"),
        ("[]", 'a command is a JSON object, e.g. {"cmd": "who"}'),
        ('"send"', "a command is a JSON object"),
        ("{}", f'a command needs "cmd" ({COMMAND_LIST})'),
        ('{"cmd": "fly"}', f'unknown command "fly" ({COMMAND_LIST})'),
        ('{"cmd": 7}', f"unknown command 7 ({COMMAND_LIST})"),
        ('{"cmd": "send", "to": "bob"}', "send needs 'body' (text)"),
        ('{"cmd": "send", "body": "hi"}', "send takes 'to' (a name) or 'group'"),
        ('{"cmd": "send", "to": 5, "body": "hi"}', "'to' must be a name"),
        ('{"cmd": "send", "to": "bob", "body": null}', "'body' must be text"),
        (
            '{"cmd": "history", "with": "bob", "limit": 0}',
            "'limit' must be a whole number from 1 to 500",
        ),
        ('{"cmd": "history", "with": "bob", "limit": 2.5}', "'limit' must be a whole number"),
        ('{"cmd": "history", "with": "bob", "limit": true}', "'limit' must be a whole number"),
        (
            '{"cmd": "history", "with": "bob", "before": "not-a-uuid"}',
            "'before' must be a message id",
        ),
        (
            '{"cmd": "search", "text": "x", "limit": 201}',
            "'limit' must be a whole number from 1 to 200",
        ),
        ('{"cmd": "who", "extra": 1}', 'who does not take "extra" (it takes: prefix, limit, ref)'),
        ('{"cmd": "who", "prefix": 7}', "'prefix' must be text of at most 32 characters"),
        ('{"cmd": "who", "prefix": "' + "a" * 33 + '"}', "'prefix' must be text of at most 32"),
        (
            '{"cmd": "who", "prefix": "a", "limit": 0}',
            "'limit' must be a whole number from 1 to 100",
        ),
        ('{"cmd": "who", "prefix": "a", "limit": 101}', "'limit' must be a whole number from 1 to"),
        ('{"cmd": "who", "prefix": "a", "limit": "5"}', "'limit' must be a whole number"),
        ('{"cmd": "who", "limit": 5}', "who takes 'limit' only with 'prefix'"),
        ('{"cmd": "watch"}', "watch needs 'names' (a list of names (at most 1,000))"),
        ('{"cmd": "watch", "names": "bob"}', "'names' must be a list of names"),
        ('{"cmd": "watch", "names": ["bob", 5]}', "'names' must be a list of names"),
        ('{"cmd": "unwatch", "names": [""]}', "'names' must be a list of names"),
        ('{"cmd": "unwatch", "names": null}', "'names' must be a list of names"),
        ('{"cmd": "watch", "names": [' + ", ".join(['"b"'] * 1001) + "]}", "at most 1,000"),
        ('{"cmd": "whoami", "user": "mallory"}', 'whoami does not take "user"'),
        ('{"cmd": "verify"}', "verify needs 'with' (a name)"),
        ('{"cmd": "verify", "with": "bob", "number": "' + "1" * 201 + '"}', "'number' must be"),
        ('{"cmd": "trust", "with": "bob"}', "trust needs 'fingerprint'"),
        ('{"cmd": "trust", "fingerprint": "abcd"}', "trust needs 'with' (a name)"),
        (
            '{"cmd": "trust", "with": "bob", "fingerprint": "' + "a" * 201 + '"}',
            "'fingerprint' must",
        ),
        (
            b'{"cmd": "send", "to": "bob", "body": "\xff"}'.decode("unicode_escape").encode(
                "latin-1"
            ),
            "not UTF-8",
        ),
    ],
)
def test_bad_json_commands_say_what_is_wrong_in_our_words(line: str | bytes, says: str) -> None:
    with pytest.raises(BadJsonCommand) as caught:
        parse_json_line(line)
    text = str(caught.value)
    assert says in text
    for pydantic_wording in ("discriminator", "Field required", "Input should", "validation error"):
        assert pydantic_wording not in text


def test_json_events_are_one_object_per_line_with_the_documented_fields() -> None:
    stream = io.StringIO()
    output = JsonOutput(stream)
    output.ready("alice", PeerAddress(host="127.0.0.1", port=4000), ALICE_FP)
    output.message_received(MESSAGE)
    output.message_state_changed(
        MESSAGE.model_copy(update={"state": MessageState.FAILED, "reason": "offline"})
    )
    output.presence_changed(frozenset({"bob", "alice"}))
    output.history("bob", [MESSAGE])
    output.error("unknown_user", "nobody is not online")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert events[0] == {
        "event": "ready",
        "user": "alice",
        "listen": "127.0.0.1:4000",
        "fingerprint": ALICE_FP,
    }
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


def test_json_ready_comes_first_but_errors_are_never_held() -> None:
    stream = io.StringIO()
    output = JsonOutput(stream)
    output.registry_status_changed(RegistryStatus.CONNECTED, "connected")
    output.presence_changed(frozenset({"alice"}))
    output.error("name_taken", "alice is taken")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["error"]
    output.ready("alice", PeerAddress(host="127.0.0.1", port=1), ALICE_FP)
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["error", "ready", "registry", "presence"]


def json_events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_identity_events_carry_fingerprints_and_come_after_ready() -> None:
    stream = io.StringIO()
    output = JsonOutput(stream)  # not ready yet: what the network reports waits for `ready`
    output.identity_changed("bob", BOBS_NEW_KEY, BOB_KEY, False)
    output.identity_changed("carol", BOBS_NEW_KEY, BOB_KEY, True)
    output.identity_trusted("bob", BOBS_NEW_KEY)
    output.message_state_changed(
        MESSAGE.model_copy(update={"state": MessageState.QUEUED, "reason": "identity_changed"})
    )
    output.whoami("alice", ALICE_FP)  # answers to commands are never held
    output.safety_number("bob", "12345 " * 11 + "12345", fingerprint(BOB_KEY), False)
    assert [e["event"] for e in json_events(stream)] == ["whoami", "safety_number"]
    output.ready("alice", PeerAddress(host="127.0.0.1", port=1), ALICE_FP)
    assert json_events(stream)[2:] == [
        {
            "event": "ready",
            "user": "alice",
            "listen": "127.0.0.1:1",
            "fingerprint": ALICE_FP,
        },
        {
            "event": "identity",
            "with": "bob",
            "state": "changed",
            "fingerprint": fingerprint(BOBS_NEW_KEY),
            "previous": fingerprint(BOB_KEY),
        },
        {
            "event": "identity",
            "with": "carol",
            "state": "changed",
            "fingerprint": fingerprint(BOBS_NEW_KEY),
            "previous": fingerprint(BOB_KEY),
            "verified": True,
        },
        {
            "event": "identity",
            "with": "bob",
            "state": "trusted",
            "fingerprint": fingerprint(BOBS_NEW_KEY),
        },
        {
            "event": "status",
            "id": str(UUID(int=1)),
            "to": "bob",
            "state": "queued",
            "reason": "identity_changed",
        },
    ]


class Console:
    """A command runner over the real use cases and in-memory twins; alice, signed in or not,
    with JSON output into a string."""

    def __init__(self, signed_in: bool = True) -> None:
        self.stream = io.StringIO()
        self.contacts = InMemoryContactRepository()
        self.session = Session()
        events = RecordingEvents()
        directory = InMemoryDirectory(InMemoryRegistry(), ALICE_KEY)
        clock = ManualClock()
        output = JsonOutput(self.stream)
        # As in the product, the policy tells the user through the console's output port.
        self.trust = TrustPolicy(self.contacts, directory, output, clock, ALICE_KEY)
        messages = InMemoryMessageRepository()
        courier = Courier(
            directory, InMemoryTransport(InMemoryNetwork(), ALICE_KEY), messages, events, self.trust
        )
        self.runner = CommandRunner(
            output,
            SendMessage(
                self.session,
                directory,
                messages,
                ConversationLedger(InMemoryConversationRepository(messages)),
                courier,
                events,
                clock,
                SequentialIds(),
            ),
            WhoIsOnline(self.session, directory),
            LoadHistory(self.session, messages),
            SearchHistory(self.session, messages),
            WhoAmI(self.session, self.trust),
            VerifyContact(self.session, self.trust),
            TrustContact(self.session, self.trust),
        )
        if signed_in:
            self.session.start("alice", PeerAddress(host="127.0.0.1", port=1))
            self.trust.signed_in_as("alice")
            output.ready("alice", PeerAddress(host="127.0.0.1", port=1), ALICE_FP)

    async def pin_bob(self, verified: bool = False) -> None:
        await self.contacts.save(
            Contact(
                name="bob",
                key=BOB_KEY,
                first_seen=datetime(2026, 1, 1, tzinfo=UTC),
                verified=verified,
                accepted=True,
            )
        )

    async def run(self, line: str) -> tuple[bool, dict[str, Any]]:
        """Run one JSON command line; whether it went through, and the event it printed."""
        command: AnyCommand = parse_json_command(line)
        ok = await self.runner.run(command)
        return ok, json_events(self.stream)[-1]


def test_whoami_shows_the_users_name_and_fingerprint() -> None:
    async def scenario() -> None:
        console = Console()
        assert await console.run('{"cmd": "whoami"}') == (
            True,
            {"event": "whoami", "user": "alice", "fingerprint": ALICE_FP},
        )

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "line",
    [
        '{"cmd": "whoami"}',
        '{"cmd": "verify", "with": "bob"}',
        '{"cmd": "trust", "with": "bob", "fingerprint": "' + ALICE_FP + '"}',
    ],
)
def test_identity_commands_need_a_signed_in_user(line: str) -> None:
    async def scenario() -> None:
        console = Console(signed_in=False)
        await console.pin_bob()
        ok, event = await console.run(line)
        assert not ok
        assert (event["event"], event["code"]) == ("error", "not_signed_in")

    asyncio.run(scenario())


def test_verify_shows_the_safety_number_then_marks_the_contact_verified() -> None:
    async def scenario() -> None:
        console = Console()
        ok, event = await console.run('{"cmd": "verify", "with": "bob"}')
        assert not ok
        assert event["code"] == "unknown_contact"

        await console.pin_bob()
        number = safety_number("alice", ALICE_KEY, "bob", BOB_KEY)
        expected = {
            "event": "safety_number",
            "with": "bob",
            "number": number,
            "fingerprint": fingerprint(BOB_KEY),
            "verified": False,
        }
        assert await console.run('{"cmd": "verify", "with": "Bob"}') == (True, expected)

        ok, event = await console.run('{"cmd": "verify", "with": "bob", "number": "1234"}')
        assert not ok
        assert event["code"] == "safety_number_mismatch"
        contact = await console.contacts.get("bob")
        assert contact is not None
        assert not contact.verified

        read_aloud = number.replace(" ", "")  # as typed, without the groups
        line = json.dumps({"cmd": "verify", "with": "bob", "number": read_aloud})
        assert await console.run(line) == (True, {**expected, "verified": True})
        contact = await console.contacts.get("bob")
        assert contact is not None
        assert contact.verified

    asyncio.run(scenario())


def test_trust_accepts_a_changed_key_by_its_fingerprint() -> None:
    async def scenario() -> None:
        console = Console()
        await console.pin_bob()
        with pytest.raises(IdentityChanged):
            await console.trust.outgoing("bob", BOBS_NEW_KEY)

        for typed, code in [
            ("not a fingerprint", "invalid_fingerprint"),
            (fingerprint(BOB_KEY), "fingerprint_mismatch"),  # the old key, not the new one
        ]:
            line = json.dumps({"cmd": "trust", "with": "bob", "fingerprint": typed})
            ok, event = await console.run(line)
            assert (ok, event["event"], event["code"]) == (False, "error", code)
        contact = await console.contacts.get("bob")
        assert contact is not None
        assert (contact.key, contact.pending_key) == (BOB_KEY, BOBS_NEW_KEY)

        typed = fingerprint(BOBS_NEW_KEY).replace(" ", "").upper()  # spaces and case ignored
        line = json.dumps({"cmd": "trust", "with": "bob", "fingerprint": typed})
        assert await console.run(line) == (
            True,
            {
                "event": "identity",
                "with": "bob",
                "state": "trusted",
                "fingerprint": fingerprint(BOBS_NEW_KEY),
            },
        )
        contact = await console.contacts.get("bob")
        assert contact is not None
        assert (contact.key, contact.pending_key) == (BOBS_NEW_KEY, None)

    asyncio.run(scenario())


def test_trust_of_a_verified_contacts_new_key_asks_for_verify() -> None:
    async def scenario() -> None:
        console = Console()
        await console.pin_bob(verified=True)
        with pytest.raises(IdentityChanged):
            await console.trust.outgoing("bob", BOBS_NEW_KEY)
        line = json.dumps({"cmd": "trust", "with": "bob", "fingerprint": fingerprint(BOBS_NEW_KEY)})
        ok, event = await console.run(line)
        assert (ok, event["code"]) == (False, "verification_required")

    asyncio.run(scenario())
