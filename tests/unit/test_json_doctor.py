"""``chinwag-cli --json`` and the connection doctor (issue 9): the exact shapes of the two
``doctor`` answers, ``path`` on status events, and refusals of bad doctor commands.

Over the in-memory twins, as ``test_json_console``: bob is online, alice listens at ``ME``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chinwag.adapters.console.json_commands import BadJsonCommand, parse_json_line
from chinwag.adapters.memory.directory import InMemoryDirectory
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.user import PeerAddress
from tests.unit.test_delivery_paths import SessionTransport
from tests.unit.test_json_console import JsonConsole

CAROL_KEY = bytes([0xC0]) * 32


def run(commands: list[object], setup: Any = None) -> list[dict[str, Any]]:
    async def scenario() -> list[dict[str, Any]]:
        console = JsonConsole()
        await console.start()
        if setup is not None:
            await setup(console)
        printed = await console.run(commands)
        await console.courier.close()
        return printed

    return asyncio.run(scenario())


def test_doctor_about_yourself_has_the_contract_fields_and_a_cause() -> None:
    [answer] = run([{"cmd": "doctor", "ref": "me"}])
    reason = answer.pop("reason")
    assert answer == {
        "event": "doctor",
        "registry": "connected",
        "listen": "127.0.0.1:1",
        "reachable": True,
        "cause": "ok",
        "ref": "me",
    }
    assert "127.0.0.1:1" in reason and "nothing to do" in reason


def test_doctor_about_yourself_when_the_registry_cannot_reach_you() -> None:
    async def port_closed(console: JsonConsole) -> None:
        console.registry.unreachable.add("alice")

    [answer] = run([{"cmd": "doctor"}], port_closed)
    assert (answer["reachable"], answer["cause"]) == (False, "refused")
    # alice listens on loopback: a port to forward would not help, a network address would
    assert "--listen 0.0.0.0:1" in answer["reason"]
    assert "forward port" not in answer["reason"]
    assert "through the registry's relay" in answer["reason"]


def test_doctor_about_yourself_on_a_registry_that_does_not_relay() -> None:
    async def no_relay(console: JsonConsole) -> None:
        console.registry.unreachable.add("alice")
        console.registry.relay = False  # chinwag-registry --no-relay

    [answer] = run([{"cmd": "doctor"}], no_relay)
    assert (answer["reachable"], answer["cause"]) == (False, "refused")
    assert "this registry does not relay" in answer["reason"]
    assert "through the registry's relay" not in answer["reason"]


def test_doctor_about_yourself_without_the_registry() -> None:
    async def registry_down(console: JsonConsole) -> None:
        console.registry.available = False

    [answer] = run([{"cmd": "doctor"}], registry_down)
    assert (answer["registry"], answer["reachable"], answer["cause"]) == (
        "reconnecting",
        False,  # the contract is a bool: the reason says it is not known
        "registry_unreachable",
    )
    assert "whether people can connect to you directly is unknown" in answer["reason"]


def test_doctor_with_a_name_has_the_contract_fields_and_a_cause() -> None:
    [answer] = run([{"cmd": "doctor", "with": "Bob", "ref": 7}])
    reason = answer.pop("reason")
    assert answer == {
        "event": "doctor",
        "with": "bob",
        "path": "direct",
        "cause": "ok",
        "rtt_ms": 1.0,
        "ref": 7,
    }
    assert reason.startswith("bob is reachable directly")


def test_doctor_with_a_relayed_path() -> None:
    async def relayed(console: JsonConsole) -> None:
        console.transport.used = Route.RELAYED
        console.registry.unreachable.add("bob")

    [answer] = run([{"cmd": "doctor", "with": "bob"}], relayed)
    assert (answer["path"], answer["cause"]) == ("relayed", "ok")
    assert "bob's port is not reachable from outside" in answer["reason"]


def test_doctor_with_nobody_and_with_somebody_offline() -> None:
    async def carol_was_here(console: JsonConsole) -> None:
        carol = InMemoryDirectory(console.registry, CAROL_KEY)
        await carol.sign_in("carol", PeerAddress(host="carol.example", port=2), RecordingEvents())
        await carol.sign_out()

    nobody, offline = run(
        [{"cmd": "doctor", "with": "zoe"}, {"cmd": "doctor", "with": "carol"}], carol_was_here
    )
    assert (nobody["with"], nobody["path"], nobody["cause"], nobody["rtt_ms"]) == (
        "zoe",
        "none",
        "not_registered",
        None,
    )
    assert (offline["path"], offline["cause"]) == ("none", "offline")
    assert "since" in offline  # carol was seen leaving: when is said, in ISO 8601
    assert offline["since"].startswith("2026-01-01T")
    assert "carol has been offline since " in offline["reason"]
    assert nobody["reason"].startswith("nobody called 'zoe' has ever signed in")


def test_doctor_refusals_are_errors_with_the_ref() -> None:
    printed = run(
        [
            {"cmd": "doctor", "with": "alice", "ref": 1},
            {"cmd": "doctor", "with": "a b", "ref": 2},
            {"cmd": "doctor", "with": "", "ref": 3},
            {"cmd": "doctor", "who": "bob", "ref": 4},
        ]
    )
    assert [(e["event"], e["code"], e["ref"]) for e in printed] == [
        ("error", "bad_command", 1),  # a documented code
        ("error", "invalid_username", 2),
        ("error", "bad_command", 3),
        ("error", "bad_command", 4),
    ]
    assert "that is you" in printed[0]["message"]
    assert printed[2]["message"].startswith("'with' must be a name")
    assert 'doctor does not take "who" (it takes: with, ref)' in printed[3]["message"]


@pytest.mark.parametrize(
    "line", ['{"cmd": "doctor", "with": 5}', '{"cmd": "doctor", "with": null}']
)
def test_doctor_with_must_be_a_name(line: str) -> None:
    with pytest.raises(BadJsonCommand, match="'with' must be a name"):
        parse_json_line(line)


@pytest.mark.parametrize("route", [Route.DIRECT, Route.RELAYED])
def test_delivered_and_later_sent_status_events_carry_the_path(
    route: Route, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A transport whose session opens with the first delivery, as the real one's does.
    monkeypatch.setattr("tests.unit.test_json_console.FlakyTransport", SessionTransport)

    async def two_sends() -> list[dict[str, Any]]:
        console = JsonConsole()
        await console.start()
        console.transport.used = route
        await console.run([{"cmd": "send", "to": "bob", "body": "one", "ref": 1}])
        async with asyncio.timeout(10):
            while len(console.transport.delivered) < 1:  # noqa: ASYNC110  (a fake: no event)
                await asyncio.sleep(0.001)
        await console.run([{"cmd": "send", "to": "bob", "body": "two", "ref": 2}])
        return await console.settled(2)

    statuses = [e for e in asyncio.run(two_sends()) if e["event"] == "status"]
    shapes = [(e["ref"], e["state"], e.get("path")) for e in statuses]
    assert shapes == [
        (1, "pending", None),
        (1, "sent", None),  # the first batch: no session yet, no path known
        (1, "delivered", route.value),
        (2, "pending", None),
        (2, "sent", route.value),  # the session the first one travelled
        (2, "delivered", route.value),
    ]
    for event in statuses:
        assert set(event) <= {"event", "id", "to", "state", "reason", "path", "ref"}


def test_queued_status_events_carry_the_new_reasons() -> None:
    async def scenario() -> list[dict[str, Any]]:
        console = JsonConsole()
        await console.start()
        console.transport.failures, console.transport.cause = 1, "relay_off"
        await console.run([{"cmd": "send", "to": "bob", "body": "one", "ref": 1}])
        return await console.settled(1)

    statuses = [e for e in asyncio.run(scenario()) if e["event"] == "status"]
    queued = [e for e in statuses if e["state"] == "queued"]
    assert [(e["reason"], e["ref"]) for e in queued] == [("relay_refused", 1)]
    assert "path" not in queued[0]
