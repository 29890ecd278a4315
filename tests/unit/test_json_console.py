"""``chinwag-cli --json`` without processes: refs, batching, status events, pipes that lag.

The session reads a real pipe (what stdin is for a script) and runs the real use cases over the
in-memory twins; bob is online and his transport acknowledges everything.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import pytest

from chinwag.adapters.console.commands import AnyCommand, CommandRunner, Send
from chinwag.adapters.console.json_commands import (
    MAX_REF_BYTES,
    NO_REF,
    BadJsonCommand,
    Ref,
    make_ref,
    parse_json_line,
)
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
from chinwag.application.presence import LastSeen, PresenceRelay
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
from chinwag.application.use_cases.diagnose import DiagnosePeer, DiagnoseSelf
from chinwag.application.use_cases.send_messages import Outcome
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

    async def add(
        self, messages: Sequence[Message], members: Mapping[UUID, Sequence[str]] | None = None
    ) -> list[Message]:
        self.adds += 1
        return await super().add(messages, members)


class JsonConsole:
    """alice signed in, with the JSON session over a pipe and JSON events into a string."""

    async def start(self) -> None:
        self.stream = io.StringIO()
        self.output = JsonOutput(self.stream)
        self.registry = await bob_online()
        directory = self.directory = InMemoryDirectory(self.registry, ALICE_KEY)
        self.clock = ManualClock()
        self.last_seen = LastSeen(self.clock)
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
            diagnose_self=DiagnoseSelf(self.session, directory),
            diagnose_peer=DiagnosePeer(
                self.session, directory, self.transport, trust, self.last_seen
            ),
        )
        self.session.start("alice", ME)
        trust.signed_in_as("alice")
        relay = PresenceRelay(self.output, self.courier, self.last_seen)
        await directory.sign_in("alice", ME, relay)
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


def test_parsing_keeps_any_json_ref_as_its_json_text() -> None:
    for ref in (None, 0, "x", [1, {"a": None}], {"nested": {"deep": True}}, "\u2028 é"):
        line = json.dumps({"cmd": "who", "ref": ref})
        parsed = parse_json_line(line).ref
        assert isinstance(parsed, Ref)
        assert json.loads(parsed.json) == ref
    assert parse_json_line('{"cmd": "who"}').ref is NO_REF
    with pytest.raises(BadJsonCommand) as caught:
        parse_json_line('{"cmd": "send", "to": "bob", "ref": "r"}')
    assert caught.value.ref == make_ref("r")


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
    output.end_sends([(UUID(int=1), make_ref("one"))])  # message 2 was never bound: no ref
    output.message_state_changed(message(1).with_state(MessageState.SENT))
    with output.answering(make_ref({"r": 1})):
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


class CountingWriter(ThreadWriter):
    def __init__(self, fd: int) -> None:
        super().__init__(fd)
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)


def test_events_are_gathered_and_written_once_per_loop_pass() -> None:
    async def scenario() -> int:
        read_end, write_end = os.pipe()
        writer = CountingWriter(write_end)
        output = JsonOutput(writer=writer)
        ready(output)
        output.whoami("alice", "fp")
        assert writer.writes == 0  # gathered, until the loop's next pass
        async with asyncio.timeout(10):
            while not writer.written:  # noqa: ASYNC110  (written by a thread)
                await asyncio.sleep(0.001)
        assert writer.writes == 1
        await output.close()
        os.close(write_end)
        return read_end

    with open(asyncio.run(scenario()), "rb") as pipe:
        written = pipe.read()
    assert [json.loads(line)["event"] for line in written.splitlines()] == ["ready", "whoami"]


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


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("[" * 10_000, "nested too deeply"),
        ('{"cmd": "who", "ref": ' + "7" * 5_000 + "}", "a number with too many digits"),
        ('{"cmd": "who", "ref": NaN}', "NaN is not a JSON number"),
        ('{"cmd": "who", "ref": -Infinity}', "-Infinity is not a JSON number"),
        ('{"cmd": "who", "ref": 1e999}', "too large"),
        ('{"cmd": "who", "ref": "\\ud800"}', "lone UTF-16 surrogate"),
        ('{"cmd": "who", "ref": ["x' + "y" * MAX_REF_BYTES + '"]}', "at most 1,024 bytes"),
        ('{"cmd": "who", "\\udfff": 1}', "lone UTF-16 surrogate"),
    ],
)
def test_a_line_that_would_crash_the_reader_is_refused_in_our_words(line: str, says: str) -> None:
    async def scenario() -> list[dict[str, Any]]:
        console = JsonConsole()
        await console.start()
        return await console.run([line, {"cmd": "whoami", "ref": "next"}])

    printed = asyncio.run(scenario())
    assert [(e["event"], e.get("code"), e.get("ref", "none")) for e in printed] == [
        ("error", "bad_command", "none"),  # the ref was not readable, or not kept
        ("whoami", None, "next"),  # and the session goes on
    ]
    assert says in printed[0]["message"]


def test_a_lone_surrogate_in_a_field_is_refused_with_the_commands_ref() -> None:
    async def scenario() -> list[dict[str, Any]]:
        console = JsonConsole()
        await console.start()
        return await console.run(['{"cmd": "send", "to": "bob", "body": "a\\ud800", "ref": 1}'])

    (printed,) = asyncio.run(scenario())
    assert (printed["code"], printed["ref"]) == ("bad_command", 1)
    assert "lone UTF-16 surrogate" in printed["message"]


def test_a_ref_of_up_to_1_kib_of_json_is_kept_as_its_text() -> None:
    ref = "x" * (MAX_REF_BYTES - 2)  # with its quotes: 1,024 bytes
    assert parse_json_line(json.dumps({"cmd": "who", "ref": ref})).ref == Ref(json.dumps(ref))
    with pytest.raises(BadJsonCommand, match=r"a ref is at most 1,024 bytes of JSON") as caught:
        parse_json_line(json.dumps({"cmd": "who", "ref": ref + "x"}))
    assert caught.value.ref is NO_REF


class Failing:
    """A runner whose ``who`` fails in a way nobody foresaw."""

    def __init__(self, inner: CommandRunner) -> None:
        self.inner = inner

    async def run(self, command: AnyCommand) -> bool:
        if command.cmd == "who":
            raise RuntimeError("the unforeseen")
        return await self.inner.run(command)

    async def send_many(self, sends: Sequence[Send]) -> list[Outcome]:
        return await self.inner.send_many(sends)


def test_an_unforeseen_failure_of_one_command_is_an_internal_error_with_its_ref(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        console = JsonConsole()
        await console.start()
        console.runner = cast(CommandRunner, Failing(console.runner))
        return await console.run([{"cmd": "who", "ref": "w"}, {"cmd": "whoami", "ref": "me"}])

    printed = asyncio.run(scenario())
    assert [(e["event"], e.get("code"), e["ref"]) for e in printed] == [
        ("error", "internal", "w"),
        ("whoami", None, "me"),
    ]
    assert "the unforeseen" in printed[0]["message"]
    assert "the unforeseen" in caplog.text  # with its traceback, on stderr


class StopsAfter:
    """A runner that counts the commands it runs and sets ``stop`` (as SIGTERM does) at the
    ``after``-th."""

    def __init__(self, inner: CommandRunner, stop: asyncio.Event, after: int) -> None:
        self.inner, self.stop, self.after = inner, stop, after
        self.ran = 0

    async def run(self, command: AnyCommand) -> bool:
        self.ran += 1
        if self.ran == self.after:
            self.stop.set()
        return await self.inner.run(command)

    async def send_many(self, sends: Sequence[Send]) -> list[Outcome]:
        return await self.inner.send_many(sends)


def endless(write_end: int, line: bytes) -> None:
    """Write ``line`` again and again (as ``yes`` does) until the pipe's reader is gone."""
    chunk = line * 1_000
    try:
        with open(write_end, "wb") as pipe:
            while True:
                pipe.write(chunk)
    except (BrokenPipeError, OSError):
        return


def test_stop_is_obeyed_at_once_while_lines_keep_coming() -> None:
    async def scenario() -> None:
        console = JsonConsole()
        await console.start()
        stop = asyncio.Event()
        runner = StopsAfter(console.runner, stop, after=10)
        read_end, write_end = os.pipe()
        feeder = threading.Thread(target=endless, args=(write_end, b'{"cmd": "whoami"}\n'))
        feeder.start()
        try:
            with os.fdopen(read_end, encoding="utf-8") as stdin:
                async with asyncio.timeout(5):
                    await run_json_session(stdin, console.output, cast(CommandRunner, runner), stop)
        finally:
            feeder.join(5)
        assert runner.ran == 10  # not one command after the stop
        assert len([e for e in events_of(console.stream) if e["event"] == "whoami"]) == 10

    asyncio.run(scenario())


def test_sends_read_but_not_begun_at_stop_are_not_run() -> None:
    async def scenario() -> None:
        console = JsonConsole()
        await console.start()
        stop = asyncio.Event()
        runner = StopsAfter(console.runner, stop, after=1)
        lines = [b'{"cmd": "whoami"}', *[b'{"cmd": "send", "to": "bob", "body": "x"}'] * 5]
        read_end, write_end = os.pipe()
        os.write(write_end, b"\n".join(lines) + b"\n")
        os.close(write_end)
        with os.fdopen(read_end, encoding="utf-8") as stdin:
            async with asyncio.timeout(5):
                await run_json_session(stdin, console.output, cast(CommandRunner, runner), stop)
        assert console.messages.adds == 0
        events = [e["event"] for e in events_of(console.stream)]
        assert (
            "status" not in events and "error" not in events
        )  # no status, no refusal: not one send was begun
        assert [e["event"] for e in events_of(console.stream)].count("whoami") == 1

    asyncio.run(scenario())


def test_a_send_to_somebody_offline_is_queued_once_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        console = JsonConsole()
        await console.start()
        console.registry.unregister("bob")  # known, offline
        await console.run(
            [{"cmd": "send", "to": "bob", "body": f"m{n}", "ref": n} for n in range(3)]
        )
        deadline = time.monotonic() + 10
        while "delivery to bob waits" not in caplog.text:  # the courier has tried, and waits
            assert time.monotonic() < deadline, "the courier never tried"
            await asyncio.sleep(0.001)
        await console.courier.close()
        return events_of(console.stream)

    caplog.set_level(logging.INFO, "chinwag.application.delivery")
    statuses = [e for e in asyncio.run(scenario()) if e["event"] == "status"]
    assert [(e["ref"], e["state"], e["reason"]) for e in statuses] == [
        (n, "queued", "bob is offline") for n in range(3)
    ]


def peer_message(body: str) -> Message:
    return message(1).model_copy(
        update={"sender": "bob", "recipient": "alice", "body": body, "state": MessageState.RECEIVED}
    )


def test_output_is_valid_utf8_and_one_event_per_line_whatever_a_peer_wrote() -> None:
    async def scenario() -> int:
        read_end, write_end = os.pipe()
        output = JsonOutput(writer=ThreadWriter(write_end))
        ready(output)
        body = "a\u2028b\u2029c\u0085d\ud800e\\\udfff"  # ...a backslash, then a surrogate
        output.message_received(peer_message(body))
        output.error("bad_command", "x", ref=make_ref(["\u2028"]))
        await output.close()
        os.close(write_end)
        return read_end

    with open(asyncio.run(scenario()), "rb") as pipe:
        data = pipe.read()
    text = data.decode("utf-8")  # strict: no raw surrogate bytes (ED A0 80)
    lines = text.splitlines()  # splits on U+2028, U+2029 and U+0085 too
    assert len(lines) == 3
    received = json.loads(lines[1])
    assert received["body"] == "a\u2028b\u2029c\u0085d\ud800e\\\udfff"
    assert json.loads(lines[2])["ref"] == ["\u2028"]


def test_a_value_json_cannot_hold_is_never_written(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    output = JsonOutput(stream)
    ready(output)
    output.safety_number("bob", cast(str, float("nan")), "fp", verified=False)
    (event,) = events_of(stream)[1:]
    assert (event["event"], event["code"]) == ("error", "internal")
    assert "NaN" not in stream.getvalue()
    assert "could not be written as JSON" in caplog.text
