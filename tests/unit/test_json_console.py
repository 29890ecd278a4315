"""``chinwag-cli --json`` without processes: refs, batching, status events, pipes that lag.

The session reads a real pipe (what stdin is for a script) and runs the real use cases over the
in-memory twins; bob is online and his transport acknowledges everything.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from chinwag.adapters.console.commands import CommandRunner
from chinwag.adapters.console.json_commands import NO_REF, BadJsonCommand, parse_json_line
from chinwag.adapters.console.json_io import TOO_LONG, LineReader, ThreadWriter
from chinwag.adapters.console.json_output import JsonOutput
from chinwag.adapters.console.json_session import run_json_session
from chinwag.adapters.memory.clock import ManualClock, SequentialIds
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.directory import InMemoryDirectory
from chinwag.adapters.memory.repositories import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
)
from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier
from chinwag.application.presence import PresenceRelay
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases import (
    LoadHistory,
    SearchHistory,
    SendMessage,
    SendMessages,
    TrustContact,
    VerifyContact,
    WhoAmI,
    WhoIsOnline,
)
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.unit.test_delivery import ALICE_KEY, FlakyTransport, bob_online

ME = PeerAddress(host="127.0.0.1", port=1)


def events_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class CountingRepository(InMemoryMessageRepository):
    def __init__(self) -> None:
        super().__init__()
        self.adds = 0

    async def add(self, messages: Sequence[Message]) -> list[Message]:
        self.adds += 1
        return await super().add(messages)


class JsonConsole:
    """alice signed in, with the JSON session over a pipe and JSON events into a string."""

    async def start(self) -> None:
        self.stream = io.StringIO()
        self.output = JsonOutput(self.stream)
        directory = InMemoryDirectory(await bob_online(), ALICE_KEY)
        self.session = Session()
        self.transport = FlakyTransport()
        self.messages = CountingRepository()
        trust = TrustPolicy(
            InMemoryContactRepository(), directory, self.output, ManualClock(), ALICE_KEY
        )
        self.courier = Courier(directory, self.transport, self.messages, self.output, trust)
        ledger = ConversationLedger(InMemoryConversationRepository(self.messages))
        deps = (self.session, directory, self.messages, ledger, self.courier, self.output)
        self.runner = CommandRunner(
            self.output,
            SendMessage(*deps, ManualClock(), SequentialIds(1)),
            WhoIsOnline(self.session, directory),
            LoadHistory(self.session, self.messages),
            SearchHistory(self.session, self.messages),
            WhoAmI(self.session, trust),
            VerifyContact(self.session, trust),
            TrustContact(self.session, trust),
            send_many=SendMessages(*deps, ManualClock(), SequentialIds(2)),
        )
        self.session.start("alice", ME)
        trust.signed_in_as("alice")
        await directory.sign_in("alice", ME, PresenceRelay(self.output, self.courier))
        self.output.ready("alice", ME, fingerprint(ALICE_KEY))

    async def run(self, lines: Sequence[object]) -> list[dict[str, Any]]:
        """Pipe ``lines`` (JSON values, or raw text) into a session; the events it printed."""
        text = "".join(
            (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines
        )
        read_end, write_end = os.pipe()

        def feed() -> None:
            with open(write_end, "wb") as pipe:
                pipe.write(text.encode())

        threading.Thread(target=feed, daemon=True).start()
        mark = len(events_of(self.stream))
        with os.fdopen(read_end, encoding="utf-8") as stdin:  # a pipe: opening cannot block
            await run_json_session(stdin, self.output, self.runner, asyncio.Event())
        return events_of(self.stream)[mark:]

    async def settled(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(10):
            while len(self.transport.delivered) < count:  # noqa: ASYNC110  (a fake: no event)
                await asyncio.sleep(0.001)
        await self.courier.close()
        return events_of(self.stream)


def test_piped_sends_share_commits_answer_in_order_and_echo_their_refs() -> None:
    async def scenario() -> None:
        console = JsonConsole()
        await console.start()
        sends = [{"cmd": "send", "to": "bob", "body": f"m{n}", "ref": n} for n in range(600)]
        commands: list[object] = [
            *sends[:300],
            {"cmd": "send", "to": "bob", "ref": "no body"},
            {"cmd": "history", "with": "bob", "limit": 500, "ref": "h1"},
            *sends[300:],
            {"cmd": "send", "to": "nobody", "body": "hi", "ref": {"who": "nobody"}},
            {"cmd": "who", "ref": ["w"]},
            {"cmd": "search", "text": "m599", "ref": None},
            {"cmd": "whoami", "ref": 1.5},
            {"cmd": "quit"},
            {"cmd": "whoami", "ref": "after quit"},
        ]
        printed = await console.run(commands)
        assert console.messages.adds <= 6, console.messages.adds  # 600 sends, few commits
        answers = [(e["event"], e.get("ref", "none")) for e in printed if e["event"] != "status"]
        assert answers == [
            ("error", "no body"),
            ("history", "h1"),
            ("error", {"who": "nobody"}),
            ("presence", ["w"]),
            ("search", None),
            ("whoami", 1.5),
        ]
        history = next(e for e in printed if e["event"] == "history")
        assert [m["body"] for m in history["messages"]] == [f"m{n}" for n in range(300)]
        found = next(e for e in printed if e["event"] == "search")
        assert [m["body"] for m in found["messages"]] == ["m599"]
        assert "'body'" in printed[[e["event"] for e in printed].index("error")]["message"]

        events = await console.settled(600)
        statuses = [e for e in events if e["event"] == "status"]
        assert [e["ref"] for e in statuses if e["state"] == "pending"] == list(range(600))
        assert [e["ref"] for e in statuses if e["state"] == "delivered"] == list(range(600))
        pairs = [(e["id"], e["state"]) for e in statuses]
        assert len(pairs) == len(set(pairs)) == 3 * 600  # pending, sent, delivered: once each
        assert all(e["ref"] == int(e["ref"]) for e in statuses)

    asyncio.run(scenario())


def test_a_refused_line_echoes_its_ref_when_it_has_one() -> None:
    async def scenario() -> None:
        console = JsonConsole()
        await console.start()
        printed = await console.run(
            [
                {"cmd": "dance", "ref": {"a": [1]}},
                {"ref": 5},
                "[1, 2]",
                "{not json",
                '{"cmd": "history", "with": "bob", "limit": 0, "ref": "L"}',
                "",
                "   ",
            ]
        )
        assert [(e["code"], e.get("ref", "none")) for e in printed] == [
            ("bad_command", {"a": [1]}),
            ("bad_command", 5),
            ("bad_command", "none"),
            ("bad_command", "none"),
            ("bad_command", "L"),
        ]
        assert printed[0]["message"].startswith('unknown command "dance" (commands: send, who')
        assert printed[4]["message"].startswith("'limit' must be a whole number from 1 to 500")

    asyncio.run(scenario())


def test_sends_when_nobody_is_signed_in_are_each_refused_with_their_ref() -> None:
    async def scenario() -> None:
        console = JsonConsole()
        await console.start()
        console.session.end()
        printed = await console.run(
            [{"cmd": "send", "to": "bob", "body": "x", "ref": n} for n in range(3)]
        )
        assert [(e["event"], e["code"], e["ref"]) for e in printed] == [
            ("error", "not_signed_in", n) for n in range(3)
        ]

    asyncio.run(scenario())


def test_parsing_keeps_any_json_ref() -> None:
    for ref in (None, 0, "x", [1, {"a": None}], {"nested": {"deep": True}}):
        line = json.dumps({"cmd": "who", "ref": ref})
        assert parse_json_line(line).ref == ref
    assert parse_json_line('{"cmd": "who"}').ref is NO_REF
    with pytest.raises(BadJsonCommand) as caught:
        parse_json_line('{"cmd": "send", "to": "bob", "ref": "r"}')
    assert caught.value.ref == "r"


def message(n: int) -> Message:
    return Message(
        id=UUID(int=n),
        conversation_id=direct_conversation_id("alice", "bob"),
        sender="alice",
        recipient="bob",
        body=f"m{n}",
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        state=MessageState.PENDING,
    )


def ready(output: JsonOutput) -> None:
    output.ready("alice", ME, fingerprint(ALICE_KEY))


def test_each_state_of_a_message_is_printed_once_and_queued_again_only_for_a_new_reason() -> None:
    stream = io.StringIO()
    output = JsonOutput(stream)
    ready(output)
    first = message(1)
    for state, reason in [
        (MessageState.PENDING, None),
        (MessageState.SENT, None),
        (MessageState.PENDING, None),  # the connection dropped: sent again
        (MessageState.SENT, None),
        (MessageState.QUEUED, "bob is offline"),
        (MessageState.QUEUED, "bob is offline"),  # still, at the next try
        (MessageState.QUEUED, "identity_changed"),
        (MessageState.PENDING, None),
        (MessageState.SENT, None),
        (MessageState.DELIVERED, None),
    ]:
        output.message_state_changed(first.model_copy(update={"state": state, "reason": reason}))
    assert [(e["state"], e.get("reason")) for e in events_of(stream)[1:]] == [
        ("pending", None),
        ("sent", None),
        ("queued", "bob is offline"),
        ("queued", "identity_changed"),
        ("delivered", None),
    ]


def test_states_of_a_send_wait_for_its_ref_and_answers_carry_theirs() -> None:
    stream = io.StringIO()
    output = JsonOutput(stream)
    ready(output)
    output.begin_sends()
    output.message_state_changed(message(1))  # inside the send, before its id is known
    output.message_state_changed(message(2))
    assert len(events_of(stream)) == 1
    output.end_sends([(UUID(int=1), "one")])  # message 2 was never bound: no ref
    output.message_state_changed(message(1).with_state(MessageState.SENT))
    with output.answering({"r": 1}):
        output.whoami("alice", "fp")
        output.error("unknown_user", "nobody")
        output.online(["alice"])
        output.presence_changed(frozenset({"alice"}))  # pushed, not an answer
        output.identity_trusted("bob", ALICE_KEY)
    printed = [(e["event"], e.get("ref", "-")) for e in events_of(stream)[1:]]
    assert printed == [
        ("status", "one"),
        ("status", "-"),
        ("status", "one"),
        ("whoami", {"r": 1}),
        ("error", {"r": 1}),
        ("presence", {"r": 1}),
        ("presence", "-"),
        ("identity", {"r": 1}),
    ]


def read_all(fd: int, into: bytearray, stop: threading.Event) -> None:
    while chunk := os.read(fd, 1 << 16):
        into.extend(chunk)
        if stop.is_set() and b'"overflow"' in into:
            break


def test_a_reader_that_lags_never_blocks_the_loop_and_is_told_what_was_left_out() -> None:
    async def scenario() -> None:
        read_end, write_end = os.pipe()  # a pipe holds 64 KiB; nobody reads it at first
        writer = ThreadWriter(write_end)
        output = JsonOutput(writer=writer, limits=(1_000, 100_000, 200_000))
        ready(output)
        received = message(1).model_copy(update={"state": MessageState.RECEIVED})
        for _ in range(5_000):  # some 1.2 MB of events: far past the pipe and the hard limit
            output.message_received(received)
            await asyncio.sleep(0)  # the loop goes on: nothing here blocks
        output.whoami("alice", "fp")  # an answer is never dropped
        room = asyncio.ensure_future(output.room())
        await asyncio.sleep(0.01)
        assert not room.done()  # no command is taken while the reader lags
        got = bytearray()
        stop = threading.Event()
        stop.set()
        reader = threading.Thread(target=read_all, args=(read_end, got, stop), daemon=True)
        reader.start()
        async with asyncio.timeout(10):
            await room
            while b'"overflow"' not in got:  # noqa: ASYNC110  (filled by a thread)
                await asyncio.sleep(0.01)
        await output.close()
        os.close(write_end)
        reader.join(5)
        events = [json.loads(line) for line in got.decode().splitlines()]
        kinds = [e["event"] for e in events]
        assert "whoami" in kinds
        overflow = events[kinds.index("overflow")]
        shown = kinds.count("message")
        assert overflow["dropped"] == overflow["messages"] == 5_000 - shown > 0
        assert "in the history" in overflow["message"]

    asyncio.run(scenario())


def test_events_are_gathered_and_written_once_per_loop_pass() -> None:
    async def scenario() -> None:
        read_end, write_end = os.pipe()
        output = JsonOutput(writer=ThreadWriter(write_end))
        ready(output)
        output.whoami("alice", "fp")
        await asyncio.sleep(0.05)
        os.set_blocking(read_end, False)
        first = os.read(read_end, 1 << 16)
        assert [json.loads(line)["event"] for line in first.splitlines()] == ["ready", "whoami"]
        await output.close()
        os.close(write_end)
        os.close(read_end)

    asyncio.run(scenario())


def test_the_reader_hands_over_every_line_it_has_and_refuses_overlong_ones() -> None:
    async def scenario() -> None:
        read_end, write_end = os.pipe()
        data = b"a\nb\n" + b"x" * 300 + b"\nc\n" + b"y" * 250 + b"\nlast"
        os.write(write_end, data)
        os.close(write_end)
        reader = LineReader(read_end, max_line=100, max_waiting=1_000)
        lines: list[bytes] = []
        while (batch := await reader.batch(1_000)) is not None:
            lines.extend(batch)
        assert lines == [b"a", b"b", TOO_LONG, b"c", TOO_LONG, b"last"]
        os.close(read_end)

    asyncio.run(scenario())
