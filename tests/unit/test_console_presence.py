"""``who`` (the watched people online, or a search by prefix), ``watch`` and ``unwatch`` in the
terminal client, as JSON lines and as slash commands, over the in-memory twins.

alice is signed in; bob, bella, bert and carol are online on the same in-memory registry.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
from collections.abc import Collection, Sequence
from typing import Any

import pytest

from chinwag.adapters.console.commands import BadCommand, CommandRunner, WatchCommand, Who
from chinwag.adapters.console.json_commands import parse_json_line
from chinwag.adapters.console.json_output import JsonOutput
from chinwag.adapters.console.json_session import run_json_session
from chinwag.adapters.console.output import ConsoleOutput
from chinwag.adapters.console.text_commands import (
    COMMAND_NAMES,
    HELP,
    NAME_COMMANDS,
    PLAIN_HELP,
    TextState,
    parse_text_command,
)
from chinwag.adapters.console.text_runner import TextCommands
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
from chinwag.application.errors import WatchLimit
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases import (
    FindOnline,
    LoadHistory,
    SearchHistory,
    SendMessage,
    TrustContact,
    VerifyContact,
    WatchPeople,
    WhoAmI,
    WhoIsOnline,
)
from chinwag.domain.user import PeerAddress
from tests.console_support import ALICE_FP, ALICE_KEY, signed_in

ME = PeerAddress(host="127.0.0.1", port=1)
OTHERS = ("bob", "bella", "bert", "carol")


class LimitedDirectory(InMemoryDirectory):
    """An in-memory directory that watches at most ``most`` names, as a registry would."""

    def __init__(self, registry: InMemoryRegistry, key: bytes, most: int) -> None:
        super().__init__(registry, key)
        self.most = most

    async def watch(self, names: Collection[str]) -> None:
        if len(self.watched() | set(names)) > self.most:
            raise WatchLimit(f"a connection may watch at most {self.most} names")
        await super().watch(names)


class Alice:
    """alice's console over the real use cases; ``search``/``watching``: whether the runner
    is given those use cases (an older embedder may give neither)."""

    def __init__(
        self,
        output: ConsoleOutput,
        *,
        search: bool = True,
        watching: bool = True,
        most: int = 1_000,
    ) -> None:
        self.output = output
        self.registry = InMemoryRegistry()
        for name in OTHERS:
            key = bytes([len(name)]) * 32
            self.registry.register(name, ME, InMemoryDirectory(self.registry, key))
        self.directory = LimitedDirectory(self.registry, ALICE_KEY, most)
        self.session = Session()
        events = RecordingEvents()
        trust = TrustPolicy(
            InMemoryContactRepository(), self.directory, events, ManualClock(), ALICE_KEY
        )
        messages = InMemoryMessageRepository()
        courier = Courier(
            self.directory, InMemoryTransport(InMemoryNetwork(), ALICE_KEY), messages, events, trust
        )
        ledger = ConversationLedger(InMemoryConversationRepository(messages))
        self.runner = CommandRunner(
            output,
            SendMessage(
                self.session,
                self.directory,
                messages,
                ledger,
                courier,
                events,
                ManualClock(),
                SequentialIds(),
            ),
            WhoIsOnline(self.session, self.directory),
            LoadHistory(self.session, messages),
            SearchHistory(self.session, messages),
            WhoAmI(self.session, trust),
            VerifyContact(self.session, trust),
            TrustContact(self.session, trust),
            find_online=FindOnline(self.session, self.directory) if search else None,
            watch_people=WatchPeople(self.directory) if watching else None,
        )
        self.events = events

    async def sign_in(self) -> None:
        self.session.start("alice", ME)
        await self.directory.sign_in("alice", ME, self.events)
        self.output.ready("alice", ME, ALICE_FP)


def events_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def json_session(alice: Alice, stream: io.StringIO, lines: Sequence[object]) -> list[Any]:
    """Pipe ``lines`` into a JSON session; the events printed meanwhile."""
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    read_end, write_end = os.pipe()

    def feed() -> None:
        with open(write_end, "wb") as pipe:
            pipe.write(text.encode())

    threading.Thread(target=feed, daemon=True).start()
    mark = len(events_of(stream))
    assert isinstance(alice.output, JsonOutput)
    with os.fdopen(read_end, encoding="utf-8") as stdin:
        async with asyncio.timeout(10):
            await run_json_session(stdin, alice.output, alice.runner, asyncio.Event())
    return events_of(stream)[mark:]


def run_json(lines: Sequence[object], **given: Any) -> tuple[Alice, list[Any]]:
    async def scenario() -> tuple[Alice, list[Any]]:
        stream = io.StringIO()
        alice = Alice(JsonOutput(stream), **given)
        await alice.sign_in()
        return alice, await json_session(alice, stream, lines)

    return asyncio.run(scenario())


# --- JSON ------------------------------------------------------------------------------------


def test_json_who_parses_with_and_without_a_prefix() -> None:
    assert parse_json_line('{"cmd": "who"}').command == Who(cmd="who")
    assert parse_json_line('{"cmd": "who", "prefix": "Be"}').command == Who(
        cmd="who", prefix="Be", limit=50
    )
    assert parse_json_line('{"cmd": "who", "prefix": "", "limit": 100}').command == Who(
        cmd="who", prefix="", limit=100
    )
    assert parse_json_line('{"cmd": "unwatch", "names": ["Bob"]}').command == WatchCommand(
        cmd="unwatch", names=("Bob",)
    )


def test_json_who_without_a_prefix_answers_the_presence_set_as_before() -> None:
    _, printed = run_json([{"cmd": "who", "ref": 1}])
    assert printed == [
        {"event": "presence", "online": ["alice", "bella", "bert", "bob", "carol"], "ref": 1}
    ]


def test_json_who_with_a_prefix_answers_an_online_event_sorted_and_limited() -> None:
    _, printed = run_json(
        [
            {"cmd": "who", "prefix": "B", "ref": "b"},
            {"cmd": "who", "prefix": "be", "limit": 1, "ref": "be"},
            {"cmd": "who", "prefix": "zed"},
            {"cmd": "who", "prefix": "", "limit": 2},
        ]
    )
    assert printed == [
        {"event": "online", "prefix": "B", "names": ["bella", "bert", "bob"], "ref": "b"},
        {"event": "online", "prefix": "be", "names": ["bella"], "ref": "be"},
        {"event": "online", "prefix": "zed", "names": []},
        {"event": "online", "prefix": "", "names": ["alice", "bella"]},
    ]


def test_json_watch_and_unwatch_answer_the_whole_watch_list() -> None:
    alice, printed = run_json(
        [
            {"cmd": "watch", "names": ["Bob", "carol", "bob"], "ref": "w"},
            {"cmd": "unwatch", "names": ["carol", "nobody"], "ref": "u"},
            {"cmd": "watch", "names": []},
        ]
    )
    assert printed == [
        {"event": "watching", "names": ["bob", "carol"], "ref": "w"},
        {"event": "watching", "names": ["bob"], "ref": "u"},
        {"event": "watching", "names": ["bob"]},
    ]
    assert alice.directory.watched() == {"bob"}


def test_json_bad_presence_commands_are_refused_and_the_session_goes_on() -> None:
    alice, printed = run_json(
        [
            {"cmd": "watch", "names": "bob", "ref": 1},
            {"cmd": "watch", "names": ["bob", "not a name"], "ref": 2},
            {"cmd": "who", "limit": 5, "ref": 3},
            {"cmd": "watch", "names": ["bob", "bella", "bert"], "ref": 4},
            {"cmd": "watch", "names": ["bob"], "ref": 5},
        ],
        most=2,
    )
    assert [(e["event"], e.get("code"), e["ref"]) for e in printed] == [
        ("error", "bad_command", 1),
        ("error", "invalid_username", 2),  # nothing of that command is watched
        ("error", "bad_command", 3),
        ("error", "watch_limit", 4),
        ("watching", None, 5),
    ]
    assert printed[0]["message"].startswith("'names' must be a list of names")
    assert "not a name" in printed[1]["message"]
    assert printed[2]["message"].startswith("who takes 'limit' only with 'prefix'")
    assert alice.directory.watched() == {"bob"}


def test_json_who_with_a_prefix_while_the_registry_is_away_says_so() -> None:
    async def scenario() -> list[Any]:
        stream = io.StringIO()
        alice = Alice(JsonOutput(stream))
        await alice.sign_in()
        alice.registry.available = False
        return await json_session(
            alice, stream, [{"cmd": "who", "prefix": "b", "ref": 1}, {"cmd": "who", "ref": 2}]
        )

    printed = asyncio.run(scenario())
    assert [(e["event"], e.get("code"), e["ref"]) for e in printed] == [
        ("error", "registry_unavailable", 1),
        ("presence", None, 2),  # the set last pushed: still an answer
    ]


def test_json_search_and_watch_refused_where_the_client_offers_neither() -> None:
    _, printed = run_json(
        [{"cmd": "who", "prefix": "b"}, {"cmd": "watch", "names": ["bob"]}, {"cmd": "who"}],
        search=False,
        watching=False,
    )
    assert [(e["event"], e.get("code")) for e in printed] == [
        ("error", "unavailable"),
        ("error", "unavailable"),
        ("presence", None),
    ]


# --- the terminal ----------------------------------------------------------------------------


def test_slash_who_watch_and_unwatch_parse() -> None:
    state = TextState()
    assert parse_text_command("/who", state) == Who(cmd="who")
    assert parse_text_command("/w  Be ", state) == Who(cmd="who", prefix="Be")
    assert parse_text_command("/watch bob  Carol", state) == WatchCommand(
        cmd="watch", names=("bob", "Carol")
    )
    assert parse_text_command("/unwatch bob", state) == WatchCommand(cmd="unwatch", names=("bob",))
    for line, says in [
        ("/who b c", "usage: /who, or /who PREFIX"),
        ("/watch", "usage: /watch NAME..."),
        ("/unwatch  ", "usage: /unwatch NAME..."),
    ]:
        with pytest.raises(BadCommand, match=says):
            parse_text_command(line, state)


def test_help_and_completion_know_the_new_commands() -> None:
    for text in (HELP, PLAIN_HELP):
        assert "/who PREFIX" in text and "/watch NAME..." in text and "/unwatch" in text
    assert {"/watch", "/unwatch"} <= set(COMMAND_NAMES)
    assert {"watch", "unwatch"} <= NAME_COMMANDS


def test_the_terminal_says_who_was_found_and_who_is_watched() -> None:
    async def scenario() -> list[str]:
        stream, output = signed_in()
        alice = Alice(output)
        await alice.sign_in()
        stream.seek(0)
        stream.truncate()
        commands = TextCommands(output, alice.runner, terminal=False)
        for line in [
            "/who",
            "/who B",
            "/who zed",
            "/watch bob Carol",
            "/unwatch carol",
            "/watch bob " + "x" * 33,
        ]:
            assert await commands.handle(line)
        assert {"bella", "bert"} <= set(output.names())  # found: they complete now
        return stream.getvalue().splitlines()

    assert asyncio.run(scenario()) == [
        "* online: bella, bert, bob, carol",
        "* online, starting with 'B': bella, bert, bob",
        "* nobody online starts with 'zed'",
        "* watching bob, carol: you are told when they come and go (2 people watched)",
        "* no longer watching carol (1 person watched)",
        "! a username has at most 32 characters (invalid_username)",
    ]


def test_a_full_page_of_results_says_there_may_be_more() -> None:
    stream, output = signed_in()
    output.found_online("b", ["bella", "bert"], 2)
    assert stream.getvalue() == (
        "* online, starting with 'b': bella, bert (the first 2: type more of the name)\n"
    )


def test_a_prefix_longer_than_any_name_finds_nobody_without_asking() -> None:
    async def scenario() -> list[str]:
        stream, output = signed_in()
        alice = Alice(output)
        await alice.sign_in()
        alice.registry.available = False  # asking would fail
        stream.seek(0)
        stream.truncate()
        assert await TextCommands(output, alice.runner, terminal=False).handle("/who " + "b" * 33)
        return stream.getvalue().splitlines()

    assert asyncio.run(scenario()) == [f"* nobody online starts with '{'b' * 33}'"]
