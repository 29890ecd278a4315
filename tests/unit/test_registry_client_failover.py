"""The client's choice of registry (``RegistryConnector``) over a fake gate: which endpoint is
tried when, what is raised when none works, and where relay legs go."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from chinwag.adapters.registry.connector import RegistryConnector, endpoints_of
from chinwag.adapters.registry.endpoints import RegistryEndpoint, parse_endpoint
from chinwag.adapters.registry.link import Link, RegistryGate
from chinwag.application.errors import (
    HistoryUnavailable,
    NameTaken,
    RegistryKeyChanged,
    RegistryUnavailable,
)
from chinwag.domain.errors import DomainError
from tests.support import wait_until

T = TypeVar("T")

A, B, C = (parse_endpoint(text) for text in ("a.example", "ws://b.example/chinwag", "c.example"))
KEY_A, KEY_B = b"A" * 32, b"B" * 32


class _Remote:
    def __init__(self, key: bytes) -> None:
        self.key = key


class _Stream:
    def __init__(self, key: bytes) -> None:
        self.remote = _Remote(key)


class FakeLink:
    def __init__(self, endpoint: RegistryEndpoint, key: bytes) -> None:
        self.endpoint = endpoint
        self.stream = _Stream(key)


class FakeGate:
    """Answers each endpoint as ``answers`` says: an exception to raise, or the key it proves.
    Records every try as ``(endpoint, key asked for)``."""

    def __init__(self, answers: dict[RegistryEndpoint, bytes | DomainError]) -> None:
        self.answers = answers
        self.tries: list[tuple[RegistryEndpoint, bytes | None]] = []

    async def connect(
        self,
        endpoint: RegistryEndpoint,
        connect_timeout: float,
        timeout: float,
        then: Callable[[Link], Awaitable[T]],
        *,
        key: bytes | None = None,
    ) -> T:
        self.tries.append((endpoint, key))
        answer = self.answers[endpoint]
        if isinstance(answer, DomainError):
            raise answer
        if key is not None and answer != key:
            raise RegistryKeyChanged(f"{endpoint} proved another key")
        link: Any = FakeLink(endpoint, answer)
        return await then(link)


def connector(gate: FakeGate, *endpoints: RegistryEndpoint) -> RegistryConnector:
    fake: Any = gate
    real: RegistryGate = fake
    return RegistryConnector(
        endpoints or (A, B, C),
        real,
        connect_timeout=1.0,
        request_timeout=1.0,
        reconnect_cap=0.2,
        key_changed_cap=0.4,
    )


async def where(link: Link) -> RegistryEndpoint:
    fake: Any = link
    endpoint: RegistryEndpoint = fake.endpoint
    return endpoint


def run(coro: Coroutine[Any, Any, None]) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(10):
            await coro

    asyncio.run(bounded())


def down(endpoint: RegistryEndpoint) -> RegistryUnavailable:
    return RegistryUnavailable(f"cannot reach the registry at {endpoint}: connection refused")


def test_sign_in_tries_each_in_order_once_and_remembers_the_one_that_worked() -> None:
    async def scenario() -> None:
        gate = FakeGate({A: down(A), B: KEY_A, C: KEY_A})
        registries = connector(gate)
        assert registries.where == "a.example:7420, ws://b.example/chinwag, c.example:7420"
        assert await registries.connect(where) == B
        assert [endpoint for endpoint, _ in gate.tries] == [A, B]
        assert (registries.current, registries.last, registries.key) == (B, B, KEY_A)
        assert registries.where == "ws://b.example/chinwag"
        registries.lost()
        assert registries.current is None
        gate.answers[A] = KEY_A
        gate.tries.clear()
        assert await registries.connect(where) == C  # after B, C comes first
        gate.tries.clear()
        assert await registries.connect(where) == C  # the last that worked

    run(scenario())


def test_sign_in_says_each_reason_when_none_works_and_a_posing_registry_first() -> None:
    async def scenario() -> None:
        gate = FakeGate({A: down(A), B: down(B), C: down(C)})
        with pytest.raises(RegistryUnavailable) as caught:
            await connector(gate).connect(where)
        assert all(str(endpoint) in str(caught.value) for endpoint in (A, B, C))
        gate.answers[B] = RegistryKeyChanged("B poses")
        with pytest.raises(RegistryKeyChanged, match="B poses"):
            await connector(gate).connect(where)
        alone = down(A)
        with pytest.raises(RegistryUnavailable) as one:
            await connector(FakeGate({A: alone}), A).connect(where)
        assert one.value is alone  # one registry: its own words, as before lists

    run(scenario())


@pytest.mark.parametrize(
    "refusal", [NameTaken("alice is registered to another key"), HistoryUnavailable("pins")]
)
def test_a_refusal_or_unreadable_pins_stop_the_round(refusal: DomainError) -> None:
    """The network's answer (the name is taken) is the same at every registry; unreadable pins
    are ours to fix."""

    async def scenario() -> None:
        gate = FakeGate({A: refusal, B: KEY_A, C: KEY_A})
        with pytest.raises(type(refusal)):
            await connector(gate).connect(where)
        assert [endpoint for endpoint, _ in gate.tries] == [A]

    run(scenario())


def test_after_a_loss_the_next_is_tried_first_then_each_in_turn() -> None:
    async def scenario() -> None:
        gate = FakeGate({A: KEY_A, B: down(B), C: down(C)})
        registries = connector(gate)
        await registries.connect(where)
        registries.lost()
        gate.answers[A] = down(A)
        told: list[str] = []
        task = asyncio.ensure_future(registries.reconnect(where, told.append))
        await wait_until(lambda: len(gate.tries) >= 7)
        gate.answers[C] = KEY_A
        assert await task == C
        tried = [endpoint for endpoint, _ in gate.tries[1:]]
        assert tried[:6] == [B, C, A, B, C, A], tried  # whole rounds, from the one after A
        assert told == []
        assert registries.current == C

    run(scenario())


def test_a_registry_proving_another_key_is_told_once_while_the_others_are_tried() -> None:
    async def scenario() -> None:
        gate = FakeGate({A: KEY_A, B: RegistryKeyChanged("B poses"), C: down(C)})
        registries = connector(gate, A, B, C)
        await registries.connect(where)
        registries.lost()
        gate.answers[A] = down(A)
        told: list[str] = []
        task = asyncio.ensure_future(registries.reconnect(where, told.append))
        await wait_until(lambda: sum(endpoint == B for endpoint, _ in gate.tries) >= 3)
        gate.answers[A] = KEY_A
        assert await task == A
        assert told == ["B poses"]  # though C failed in between, every round
        assert registries.current == A

    run(scenario())


def test_legs_go_to_the_registry_in_use_and_via_legs_must_prove_its_key() -> None:
    async def scenario() -> None:
        gate = FakeGate({A: down(A), B: KEY_A, C: KEY_B})
        registries = connector(gate)
        await registries.connect(where)
        gate.tries.clear()
        assert await registries.open_leg(where, 5.0) == B
        assert gate.tries == [(B, None)]  # the pinned key is checked by the gate, as always
        registries.lost()
        assert await registries.open_leg(where, 5.0) == B  # while lost: the last that worked
        gate.tries.clear()
        gate.answers[A] = KEY_A
        via = ["nonsense", "http://a.example/", str(C.url), str(A.url), str(A.url)]
        assert await registries.open_leg(where, 5.0, via) == A
        assert gate.tries == [(C, KEY_A), (A, KEY_A)]  # C proves another key: not joined
        with pytest.raises(RegistryKeyChanged):
            await registries.open_leg(where, 5.0, [str(C.url)])
        with pytest.raises(RegistryUnavailable, match="no usable registry"):
            await registries.open_leg(where, 5.0, ["ftp://x"])

    run(scenario())


def test_a_via_leg_needs_a_registry_connected_first() -> None:
    async def scenario() -> None:
        with pytest.raises(RegistryUnavailable, match="not connected"):
            await connector(FakeGate({})).open_leg(where, 5.0, [str(A.url)])

    run(scenario())


def test_endpoints_as_given_to_the_directory() -> None:
    assert endpoints_of("LocalHost", 9) == (parse_endpoint("localhost:9"),)
    assert endpoints_of(A) == (A,)
    assert endpoints_of([A, B]) == (A, B)
    with pytest.raises(TypeError):
        endpoints_of("a.example")
    with pytest.raises(TypeError):
        endpoints_of([A], 9)
    with pytest.raises(ValueError, match="no registry"):
        endpoints_of([])
