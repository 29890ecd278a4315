"""The client side of the relay against a real registry on loopback, with real clients
(registry client, relay client, TCP peer transport): how many relayed peers reach a client,
what a peer that never joins is called, and a registry that proves another key on a new leg
(each found by a review of issue 9)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Sequence

import pytest

from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.registry.relay_client import MAX_ANSWERING, RegistryRelay
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport.tcp import TcpPeerTransport
from chinwag.application.errors import PeerUnreachable
from chinwag.application.files.none import NoFiles
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import GroupHave, Incoming, Intake, Route
from chinwag.domain.group import Change
from chinwag.domain.identity import fingerprint
from tests.integration.test_registry_server import Raw, run, started
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


class Handler(NoFiles):
    async def authorize(self, peer: str, key: bytes) -> None:
        return None

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        return Intake(committed=[m.id for m in messages])

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        return None

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        return None


class Listener:
    def presence_changed(self, online: frozenset[str]) -> None:
        pass

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        pass


class Peer:
    """A real client accepting no direct connections: registry client + relay + transport."""

    def __init__(self, name: str, port: int) -> None:
        self.name = name
        self.security = Security(LocalKeys.generate())
        self.directory = RegistryDirectory("127.0.0.1", port, security=self.security)
        self.relay = RegistryRelay(self.directory)
        self.transport = TcpPeerTransport(self.security, relay=self.relay)

    async def start(self) -> Peer:
        await self.transport.listen(self.name, None, Handler())
        await self.directory.sign_in(self.name, None, Listener())
        return self

    async def stop(self) -> None:
        await self.transport.close()
        await self.directory.sign_out()


def test_more_relayed_peers_than_joins_at_once_still_reach_a_listen_none_client() -> None:
    """With 16 relayed sessions open to bob (each authenticated, each pinged once), a 17th
    person reaches him too: the cap counts joins under way, not sessions."""

    async def scenario() -> None:
        server = await started()
        port = server.address[1]
        bob = await Peer("bob", port).start()
        senders = [await Peer(f"sender{n}", port).start() for n in range(MAX_ANSWERING + 1)]
        try:
            for sender in senders[:MAX_ANSWERING]:
                location = await sender.directory.lookup("bob")
                probe = await sender.transport.probe("bob", location)
                assert probe.route is Route.RELAYED
            last = senders[MAX_ANSWERING]
            location = await last.directory.lookup("bob")
            try:
                probe = await last.transport.probe("bob", location)
            except PeerUnreachable as exc:
                raise AssertionError(
                    f"the {MAX_ANSWERING + 1}th relayed peer cannot reach bob: {exc} "
                    f"(cause {exc.cause!r})"
                ) from None
            assert probe.route is Route.RELAYED
        finally:
            for peer in [*senders, bob]:
                await peer.stop()
            await server.close()

    run(scenario(), timeout=50)


def test_a_peer_that_never_joins_is_a_timeout_not_the_registrys_fault() -> None:
    """bob is registered (no port) but never joins the sessions offered to him: alice hears the
    registry give up on him (``timeout``), with her registry connection fine."""

    async def scenario() -> None:
        server = await started()
        port = server.address[1]
        bob = await Raw.welcomed(server.address)
        await bob.register("bob", port=None)  # hears relay_incoming, never joins
        alice = await Peer("alice", port).start()
        try:
            location = await alice.directory.lookup("bob")
            with pytest.raises(PeerUnreachable) as caught:
                await alice.transport.probe("bob", location)
            assert alice.directory.status() is RegistryStatus.CONNECTED
            assert caught.value.cause == "timeout", caught.value
        finally:
            await alice.stop()
            await server.close()

    run(scenario(), timeout=40)


def _expect_another_registry_key(peer: Peer) -> None:
    """From now on, new connections of ``peer`` to the registry must prove a key the registry
    does not hold: what an active attacker on the path to the registry causes after sign-in."""
    peer.directory._gate._registry_key = fingerprint(LocalKeys.generate().identity_key)


def test_dialling_a_leg_to_a_registry_proving_another_key_is_a_peer_unreachable() -> None:
    """``RegistryKeyChanged`` on a new relay leg is the transport's ``PeerUnreachable`` (cause
    ``registry_unreachable``), so the doctor names a cause instead of raising."""

    async def scenario() -> None:
        server = await started()
        port = server.address[1]
        alice = await Peer("alice", port).start()
        bob = await Peer("bob", port).start()
        _expect_another_registry_key(alice)
        try:
            location = await alice.directory.lookup("bob")
            with pytest.raises(PeerUnreachable) as caught:
                await alice.transport.probe("bob", location)
            assert caught.value.cause == "registry_unreachable", caught.value
        finally:
            await alice.stop()
            await bob.stop()
            await server.close()

    run(scenario(), timeout=30)


def test_answering_a_leg_to_a_registry_proving_another_key_leaves_no_task_error() -> None:
    """On the answering side the same refusal ends the "relay answer" task quietly: asyncio
    reports no "Task exception was never retrieved"."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        unhandled: list[str] = []
        loop.set_exception_handler(lambda _, context: unhandled.append(context["message"]))
        server = await started()
        port = server.address[1]
        alice = await Peer("alice", port).start()
        bob = await Peer("bob", port).start()
        _expect_another_registry_key(bob)
        try:
            location = await alice.directory.lookup("bob")
            with pytest.raises(PeerUnreachable):  # bob cannot join
                await alice.transport.probe("bob", location)
            await wait_until(lambda: not bob.relay._answering, what="bob's answer over")
            gc.collect()
            assert not unhandled, unhandled
        finally:
            await alice.stop()
            await bob.stop()
            await server.close()

    run(scenario(), timeout=30)
