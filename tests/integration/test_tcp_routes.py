"""The transport's routes on loopback: which route a session takes, the fallback from a failed
direct attempt to the relay, the doctor's causes, and round trips.

The relay here is a stand-in (:class:`LoopbackRelay`): a socket pair whose far end is served by
the recipient transport's accepting side, as the registry's relay hands a joined leg to it.
Sessions over it run the real handshake and protocol, so the keys are proven end to end."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Awaitable, Callable

import pytest

from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport.tcp import TcpPeerTransport, TransportSettings
from chinwag.application.errors import PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.user import PeerAddress
from tests.integration.test_tcp_transport import ANY, Inbox, outgoing, run
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class LoopbackRelay:
    """A relay between transports of one test: ``dial(peer)`` hands the far end of a socket
    pair to the peer's accepting side. ``refusal`` makes it answer as a refusing registry."""

    def __init__(self, hub: dict[str, Serve], me: str) -> None:
        self._hub = hub
        self._me = me
        self.dialled: list[str] = []
        self.refusal: str | None = None
        self._served: set[asyncio.Future[None]] = set()

    def accept(self, serve: Serve) -> None:
        self._hub[self._me] = serve

    async def dial(self, peer: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.dialled.append(peer)
        if self.refusal is not None:
            raise PeerUnreachable(f"the registry will not relay: {self.refusal}", self.refusal)
        serve = self._hub.get(peer)
        if serve is None:
            raise PeerUnreachable(f"{peer} is not there", "unreachable")
        near, far = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=far)
        task: asyncio.Future[None] = asyncio.ensure_future(serve(reader, writer))
        self._served.add(task)
        task.add_done_callback(self._served.discard)
        return await asyncio.open_connection(sock=near)

    async def close(self) -> None:
        self._hub.pop(self._me, None)


class Side:
    def __init__(self, name: str, hub: dict[str, Serve], settings: TransportSettings) -> None:
        self.name = name
        self.keys = LocalKeys.generate()
        self.inbox = Inbox()
        self.relay = LoopbackRelay(hub, name)
        self.transport = TcpPeerTransport(Security(self.keys), settings, relay=self.relay)
        self.address: PeerAddress | None = None

    async def listen(self, address: PeerAddress | None = ANY) -> Side:
        self.address = await self.transport.listen(self.name, address, self.inbox)
        return self

    def location(self, **changes: object) -> PeerLocation:
        fields: dict[str, object] = {
            "address": self.address,
            "key": self.keys.identity_key,
            "reachable": True,
            "relay": True,
        }
        fields.update(changes)
        return PeerLocation(**fields)  # type: ignore[arg-type]


async def two(settings: TransportSettings | None = None) -> tuple[Side, Side]:
    hub: dict[str, Serve] = {}
    settings = settings or TransportSettings(connect_timeout=1.0, handshake_timeout=1.0)
    return await Side("alice", hub, settings).listen(), await Side("bob", hub, settings).listen()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_listening_reachable_peer_is_reached_directly() -> None:
    async def scenario() -> None:
        alice, bob = await two()
        report = await alice.transport.deliver("bob", bob.location(), [outgoing("hi")])
        assert report.route is Route.DIRECT and alice.relay.dialled == []
        assert alice.transport.route("bob") is Route.DIRECT
        assert [m.body for m in bob.inbox.messages] == ["hi"]
        await alice.transport.close()
        await bob.transport.close()

    run(scenario())


def test_no_address_or_a_closed_port_goes_through_the_relay_at_once() -> None:
    async def scenario() -> None:
        alice, bob = await two()
        for location in (bob.location(address=None), bob.location(reachable=False)):
            alice.relay.dialled.clear()
            await alice.transport.close()
            alice.transport = TcpPeerTransport(Security(alice.keys), relay=alice.relay)
            await alice.listen()
            report = await alice.transport.deliver("bob", location, [outgoing("via relay")])
            assert report.route is Route.RELAYED
            assert alice.relay.dialled == ["bob"]
        assert len(bob.inbox.messages) == 2
        await alice.transport.close()
        await bob.transport.close()

    run(scenario())


def test_a_refused_direct_attempt_falls_back_to_the_relay_and_is_not_retried_at_once() -> None:
    async def scenario() -> None:
        alice, bob = await two()
        dead = bob.location(address=PeerAddress(host="127.0.0.1", port=closed_port()))
        report = await alice.transport.deliver("bob", dead, [outgoing("one")])
        assert report.route is Route.RELAYED and alice.relay.dialled == ["bob"]
        probe = await alice.transport.probe("bob", dead)  # the open session, reused
        assert probe.route is Route.RELAYED and probe.rtt >= 0
        assert alice.relay.dialled == ["bob"]
        await alice.transport.close()
        assert [m.body for m in bob.inbox.messages] == ["one"]
        await bob.transport.close()

    run(scenario())


def test_the_causes_the_doctor_names() -> None:
    async def scenario() -> None:
        alice, bob = await two()
        alice.relay.refusal = "relay_full"
        closed = PeerAddress(host="127.0.0.1", port=closed_port())
        with pytest.raises(PeerUnreachable) as refused:
            await alice.transport.probe("bob", bob.location(address=closed, relay=False))
        assert refused.value.cause == "refused"
        with pytest.raises(PeerUnreachable) as full:
            await alice.transport.probe("bob", bob.location(address=closed))
        assert full.value.cause == "relay_full"
        with pytest.raises(PeerUnreachable) as nothing:
            await alice.transport.probe("bob", bob.location(address=None, relay=False))
        assert nothing.value.cause == "unreachable"
        stranger = LocalKeys.generate().identity_key
        with pytest.raises(PeerUnreachable) as wrong:
            await alice.transport.probe("bob", bob.location(key=stranger))
        assert wrong.value.cause == "key_mismatch"
        assert alice.relay.dialled == ["bob"]  # a key mismatch never falls back to the relay

        silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
        mute = PeerAddress(host="127.0.0.1", port=silent.getsockname()[1])
        with pytest.raises(PeerUnreachable) as slow:
            await alice.transport.probe("bob", bob.location(address=mute, relay=False))
        assert slow.value.cause == "timeout"
        silent.close()
        await alice.transport.close()
        await bob.transport.close()

    run(scenario())


def test_a_client_listening_nowhere_is_still_reached_by_relay() -> None:
    async def scenario() -> None:
        hub: dict[str, Serve] = {}
        alice = await Side("alice", hub, TransportSettings()).listen()
        bob = await Side("bob", hub, TransportSettings()).listen(None)
        assert bob.address is None
        report = await alice.transport.deliver("bob", bob.location(), [outgoing("hello")])
        assert report.route is Route.RELAYED
        rtt = await alice.transport.probe("bob", bob.location())
        assert rtt.route is Route.RELAYED
        assert [m.body for m in bob.inbox.messages] == ["hello"]
        await alice.transport.close()
        await bob.transport.close()

    run(scenario())


class HeldRelay(LoopbackRelay):
    """Dials only once :attr:`gate` opens; then fails if :attr:`refusal` is set."""

    def __init__(self, hub: dict[str, Serve], me: str) -> None:
        super().__init__(hub, me)
        self.gate = asyncio.Event()

    async def dial(self, peer: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        await self.gate.wait()
        return await super().dial(peer)


@pytest.mark.parametrize("works", [True, False])
def test_an_attempt_whose_callers_gave_up_is_kept_or_quietly_dropped(works: bool) -> None:
    """The doctor gives up on a slow session after its deadline; the attempt goes on. If it
    works, the next delivery uses it; if it fails, nobody hears of an exception nobody read."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        unhandled: list[str] = []
        loop.set_exception_handler(lambda _, context: unhandled.append(context["message"]))
        hub: dict[str, Serve] = {}
        alice, bob = Side("alice", hub, TransportSettings()), Side("bob", hub, TransportSettings())
        held = HeldRelay(hub, "alice")
        alice.relay = held
        alice.transport = TcpPeerTransport(Security(alice.keys), relay=held)
        await alice.listen()
        await bob.listen(None)
        if not works:
            held.refusal = "relay_full"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await alice.transport.probe("bob", bob.location())
        held.gate.set()
        await wait_until(lambda: not alice.transport._connecting, what="the attempt to end")
        if works:
            assert alice.transport.route("bob") is Route.RELAYED  # kept for the next caller
            report = await alice.transport.deliver("bob", bob.location(), [outgoing("later")])
            assert report.route is Route.RELAYED and held.dialled == ["bob"]
        else:
            assert alice.transport.route("bob") is None
            gc.collect()
            await asyncio.sleep(0)
        assert unhandled == []
        await alice.transport.close()
        await bob.transport.close()

    run(scenario())
