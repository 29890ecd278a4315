"""A client given several registries (``--registry A,B``) against real registries on loopback:
it signs in at one that answers, moves to another when its own is lost, pins each on its own,
and joins relay legs where the registry it is connected to says, over TCP or WebSocket.

The registry server has no WebSocket listener of its own yet (step C2 of
docs/design-registry.md): :class:`WsRegistry` here fronts a ``RegistryServer`` with the
``WsListener`` of ``ws_server.py``, making the registry's ``Connection`` for each upgraded
socket, which is what that step wires in.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.registry.connection import Connection
from chinwag.adapters.registry.endpoints import RegistryEndpoint, parse_endpoint
from chinwag.adapters.registry.link import Link
from chinwag.adapters.registry.pins import RegistryPins
from chinwag.adapters.registry.protocol import RelayIncoming
from chinwag.adapters.registry.relay_client import RegistryRelay
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.registry.ws_server import WsListener
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.application.errors import RegistryKeyChanged, RegistryUnavailable
from chinwag.application.ports.directory import PeerLocation, RegistryStatus
from chinwag.domain.identity import fingerprint
from chinwag.domain.user import PeerAddress
from tests.integration.test_registry_client import Recorder, free_port
from tests.integration.test_registry_server import run
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)

HERE = PeerAddress(host="127.0.0.1", port=5000)
FAST: dict[str, Any] = {"heartbeat_interval": 0.2, "idle_timeout": 1.0}
"""Server options: a registry that dies is noticed within a second or so."""


class Registry:
    """A registry server on loopback, reached over TCP (:attr:`endpoint`)."""

    def __init__(self, keys: LocalKeys, port: int = 0, **options: Any) -> None:
        options.setdefault("probe", False)  # nothing listens at the addresses clients give
        self.keys = keys
        self.server = RegistryServer("127.0.0.1", port, security=Security(keys), **options)

    async def start(self) -> Registry:
        await self.server.start()
        return self

    @property
    def endpoint(self) -> RegistryEndpoint:
        return parse_endpoint(f"tcp://127.0.0.1:{self.server.address[1]}")

    async def close(self) -> None:
        await self.server.close()


class WsRegistry(Registry):
    """A registry server reached over WebSocket only: ``ws_server``'s listener making the
    registry's ``Connection`` (the fixture standing in for C2's ``RegistryServer(ws=...)``)."""

    def __init__(self, keys: LocalKeys, **options: Any) -> None:
        super().__init__(keys, 0, **options)
        self.listener = WsListener(lambda: Connection(self.server))

    async def start(self) -> WsRegistry:
        await self.server.start()  # its TCP port is unused here
        await self.listener.start()
        return self

    @property
    def endpoint(self) -> RegistryEndpoint:
        return parse_endpoint(f"ws://127.0.0.1:{self.listener.address[1]}/chinwag")

    async def close(self) -> None:
        await self.listener.close()
        await self.server.close()


def client(
    endpoints: list[RegistryEndpoint], keys: LocalKeys | None = None, **options: Any
) -> RegistryDirectory:
    options.setdefault("reconnect_cap", 0.2)
    options.setdefault("connect_timeout", 1.0)
    return RegistryDirectory(endpoints, security=Security(keys or LocalKeys.generate()), **options)


def down() -> RegistryEndpoint:
    """A TCP endpoint nobody listens at."""
    return parse_endpoint(f"127.0.0.1:{free_port()}")


def test_a_client_signs_in_at_the_next_registry_when_the_first_is_down() -> None:
    async def scenario() -> None:
        b = await Registry(LocalKeys.generate()).start()
        gone = down()
        alice, events = client([gone, b.endpoint]), Recorder()
        try:
            assert await alice.sign_in("alice", HERE, events) == "alice"
            assert events.statuses == [
                (RegistryStatus.CONNECTED, f"connected to the registry at {b.endpoint}")
            ]
            assert alice.connected_to == b.endpoint
            assert b.server.online() == frozenset({"alice"})
            assert alice.online() == frozenset({"alice"})
        finally:
            await alice.sign_out()
            await b.close()

    run(scenario())


def test_when_every_registry_is_down_signing_in_names_each() -> None:
    async def scenario() -> None:
        first, second = down(), down()
        with pytest.raises(RegistryUnavailable) as caught:
            await client([first, second]).sign_in("alice", HERE, Recorder())
        assert str(first) in str(caught.value) and str(second) in str(caught.value)

    run(scenario())


@pytest.mark.parametrize("a_over", ["tcp", "ws"])
def test_a_client_moves_to_another_registry_when_its_own_is_closed(a_over: str) -> None:
    """Connected to A (over TCP or WebSocket), A goes: the client registers at B (over the
    other), says so, and its lookups are answered there."""

    async def scenario() -> None:
        keys = LocalKeys.generate()  # one network: its registries prove one key
        make_a, make_b = (WsRegistry, Registry) if a_over == "ws" else (Registry, WsRegistry)
        a = await make_a(keys, **FAST).start()
        b = await make_b(keys, **FAST).start()
        alice_keys = LocalKeys.generate()
        alice, events = client([a.endpoint, b.endpoint], alice_keys), Recorder()
        try:
            await alice.sign_in("alice", HERE, events)
            assert alice.connected_to == a.endpoint
            assert b.server.online() == frozenset()

            await a.close()
            await wait_until(lambda: b.server.online() == frozenset({"alice"}), what="alice at B")
            await wait_until(lambda: events.status is RegistryStatus.CONNECTED)
            assert [status for status, _ in events.statuses] == [
                RegistryStatus.CONNECTED,
                RegistryStatus.RECONNECTING,
                RegistryStatus.CONNECTED,
            ]
            assert str(a.endpoint) in events.statuses[1][1]  # what was lost
            assert events.statuses[2][1] == f"reconnected to the registry at {b.endpoint}"
            assert alice.connected_to == b.endpoint
            assert await alice.lookup("alice") == PeerLocation(
                address=PeerAddress(host="127.0.0.1", port=5000),
                key=alice_keys.identity_key,
                relay=True,
            )
        finally:
            await alice.sign_out()
            await b.close()

    run(scenario())


def test_with_every_registry_down_it_keeps_trying_them_all_and_the_last_that_worked_first(
    tmp_path: Path,
) -> None:
    """A and B both go; B comes back on its port: the client finds it. Signing in again later
    starts at B, the last that worked, though A is back too. Each endpoint is pinned apart."""

    async def scenario() -> None:
        keys = LocalKeys.generate()
        a = await Registry(keys, **FAST).start()
        b = await Registry(keys, **FAST).start()
        b_port = b.server.address[1]
        pins = RegistryPins(tmp_path / "registries.json")
        alice, events = client([a.endpoint, b.endpoint], pins=pins), Recorder()
        a_endpoint = a.endpoint
        await alice.sign_in("alice", HERE, events)
        await b.close()
        await a.close()
        await wait_until(lambda: events.status is RegistryStatus.RECONNECTING)
        b = await Registry(keys, b_port, **FAST).start()
        try:
            await wait_until(lambda: events.status is RegistryStatus.CONNECTED, what="B again")
            assert alice.connected_to == b.endpoint
            await alice.sign_out()
            a = await Registry(keys, a_endpoint.port, **FAST).start()
            await alice.sign_in("alice", HERE, Recorder())
            assert alice.connected_to == b.endpoint
            assert pins.get(a_endpoint.pin_name) == keys.identity_key
            assert pins.get(b.endpoint.pin_name) == keys.identity_key
        finally:
            await alice.sign_out()
            await b.close()
            await a.close()

    run(scenario())


def test_a_registry_proving_another_key_is_skipped_for_one_that_proves_the_pinned_one() -> None:
    """``--registry-key`` holds for every registry of the list: an impostor at the first
    endpoint is refused, and the client signs in at the second."""

    async def scenario() -> None:
        keys = LocalKeys.generate()
        impostor = await Registry(LocalKeys.generate()).start()
        b = await Registry(keys).start()
        alice, events = (
            client([impostor.endpoint, b.endpoint], registry_key=fingerprint(keys.identity_key)),
            Recorder(),
        )
        try:
            await alice.sign_in("alice", HERE, events)
            assert alice.connected_to == b.endpoint
            assert impostor.server.online() == frozenset()
            with pytest.raises(RegistryKeyChanged):
                await client(
                    [impostor.endpoint], registry_key=fingerprint(keys.identity_key)
                ).sign_in("bob", HERE, Recorder())
        finally:
            await alice.sign_out()
            await impostor.close()
            await b.close()

    run(scenario())


# -- relay legs ---------------------------------------------------------------------------------


class Echo:
    """A relay client that answers every relayed session by echoing what it reads."""

    def __init__(self, directory: RegistryDirectory) -> None:
        self.directory = directory
        self.relay = RegistryRelay(directory)
        self.relay.accept(self._echo)
        self.served = 0

    async def _echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.served += 1
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def close(self) -> None:
        await self.relay.close()
        await self.directory.sign_out()


async def echoed(streams: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> bytes:
    reader, writer = streams
    try:
        writer.write(b"hello over the relay")
        await writer.drain()
        return await reader.readexactly(len(b"hello over the relay"))
    finally:
        writer.close()


def test_relayed_sessions_run_over_a_websocket_registry() -> None:
    """Both ends signed in over ``ws://``: the legs go over WebSocket too."""

    async def scenario() -> None:
        registry = await WsRegistry(LocalKeys.generate()).start()
        bob = Echo(client([down(), registry.endpoint]))
        alices = client([registry.endpoint])
        alice = RegistryRelay(alices)
        try:
            await bob.directory.sign_in("bob", None, Recorder())
            await alices.sign_in("alice", None, Recorder())
            assert await echoed(await alice.dial("bob")) == b"hello over the relay"
            assert bob.served == 1
        finally:
            await alice.close()
            await alices.sign_out()
            await bob.close()
            await registry.close()

    run(scenario())


def test_an_offer_via_another_registry_is_joined_there_if_it_proves_the_same_key(
    tmp_path: Path,
) -> None:
    """bob is connected to A; the session alice asked for lives on B, which A would name in
    ``via``. (The registries do not forward offers yet: bob's twin at B hears it, and the test
    hands it to bob with ``via``.) bob joins at B, which proves A's key and is not pinned; a
    ``via`` registry proving another key is not joined."""

    async def scenario() -> None:
        keys = LocalKeys.generate()
        a = await Registry(keys).start()
        b = await WsRegistry(keys).start()
        bob_keys = LocalKeys.generate()
        pins = RegistryPins(tmp_path / "registries.json")
        bob = Echo(client([a.endpoint], bob_keys, pins=pins))
        twin = client([b.endpoint], bob_keys)  # holds bob's name at B, hears B's offers
        alices = client([b.endpoint])
        alice = RegistryRelay(alices)
        offers: list[RelayIncoming] = []
        twin.relay_offered = offers.append
        try:
            await bob.directory.sign_in("bob", None, Recorder())
            await twin.sign_in("bob", None, Recorder())
            await alices.sign_in("alice", None, Recorder())
            dialled = asyncio.ensure_future(alice.dial("bob"))
            await wait_until(lambda: bool(offers), what="B's offer")
            offer = offers[0].model_copy(update={"via": ["bogus://x", str(b.endpoint.url)]})
            assert bob.directory.relay_offered is not None
            bob.directory.relay_offered(offer)
            assert await echoed(await dialled) == b"hello over the relay"
            assert bob.served == 1
            assert pins.get(b.endpoint.pin_name) is None  # joined on A's key, not pinned

            async def key_of(link: Link) -> bytes:
                return link.stream.remote.key

            assert await bob.directory.open_leg(key_of, 5.0, [b.endpoint.url]) == (
                keys.identity_key
            )
            other = await Registry(LocalKeys.generate()).start()
            try:
                with pytest.raises(RegistryKeyChanged, match="sent us there"):
                    await bob.directory.open_leg(key_of, 5.0, [other.endpoint.url])
            finally:
                await other.close()
        finally:
            await alice.close()
            await alices.sign_out()
            await twin.sign_out()
            await bob.close()
            await a.close()
            await b.close()

    run(scenario())


def test_a_websocket_path_with_no_registry_says_so() -> None:
    async def scenario() -> None:
        registry = await WsRegistry(LocalKeys.generate()).start()
        wrong = parse_endpoint(f"ws://127.0.0.1:{registry.listener.address[1]}/elsewhere")
        try:
            with pytest.raises(RegistryUnavailable, match=r"no registry at ws://.*/elsewhere.*404"):
                await client([wrong]).sign_in("alice", HERE, Recorder())
        finally:
            await registry.close()

    run(scenario())
