"""A peer reached through the relay is reached directly again once a direct path works: new
sessions go direct (issue 9, "New sessions go direct again as soon as a direct path works").

As users run it (``chinwag-cli --json`` processes and a registry process): bob accepts no
connections, so alice's messages go relayed; bob comes back listening, and alice's next message
goes direct. And the window after a failed direct attempt (``TransportSettings.direct_retry``:
the address is not tried again at once, each try may cost a connect timeout), on real clients
in the test's loop (registry server, registry client, relay client, TCP transport): it holds
new sessions to the relay while it lasts, it ends by itself, and a new address from the
registry ends it at once.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.registry.relay_client import RegistryRelay
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport.tcp import TcpPeerTransport, TransportSettings
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.user import PeerAddress
from tests.integration.test_registry_server import run, started
from tests.integration.test_relay_client import Handler, Listener
from tests.integration.test_tcp_transport import Inbox, outgoing
from tests.processes import CliProcess, RegistryProcess, start
from tests.support import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

NONE = ("--listen", "none")
IDLE = 1.0
"""Seconds bob's side keeps a relayed session that carries nothing: then it ends, and alice's
next message needs a new session (whose route is the point)."""


def test_a_peer_reached_by_relay_is_reached_directly_once_it_listens(
    tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]
) -> None:
    alice = start(clients, "alice", registry, tmp_path / "a", *NONE)
    bob = start(clients, "bob", registry, tmp_path / "b", *NONE)
    alice.wait_online("bob")
    alice.send(cmd="send", to="bob", body="while you listen nowhere")
    bob.wait_event("message", body="while you listen nowhere")
    assert alice.wait_event("status", state="delivered")["path"] == "relayed"
    assert alice.ask("doctor", {"cmd": "doctor", "with": "bob"})["path"] == "relayed"

    mark = alice.mark()
    assert bob.quit() == 0
    bob = start(clients, "bob", registry, tmp_path / "b")  # now listening, on loopback
    assert bob.wait_event("ready")["listen"] is not None
    alice.wait_for(lambda e: e.get("online") == ["alice"], what="bob gone", since=mark)
    alice.wait_online("bob", since=mark)
    alice.send(cmd="send", to="bob", body="now that you listen")
    bob.wait_event("message", body="now that you listen")
    delivered = alice.wait_event("status", state="delivered", since=mark)
    assert delivered["path"] == "direct", delivered
    assert alice.ask("doctor", {"cmd": "doctor", "with": "bob"})["path"] == "direct"


def free_port() -> int:
    """A loopback port nothing listens on (bob's, before he opens it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bob:
    """bob as the registry and alice see him: registered at ``127.0.0.1:port``, where nothing
    answers until :meth:`open` (a port still closed, a firewall); meanwhile reached through
    the relay only. His relayed sessions end after :data:`IDLE` seconds of silence."""

    def __init__(self, registry_port: int, port: int) -> None:
        self.security = Security(LocalKeys.generate())
        self.directory = RegistryDirectory("127.0.0.1", registry_port, security=self.security)
        self.relay = RegistryRelay(self.directory)
        self.relayed = TcpPeerTransport(
            self.security, TransportSettings(idle_timeout=IDLE), relay=self.relay
        )
        self.direct: list[TcpPeerTransport] = []
        self.inbox = Inbox()
        self.address = PeerAddress(host="127.0.0.1", port=port)

    async def start(self) -> Bob:
        await self.relayed.listen("bob", None, self.inbox)
        await self.directory.sign_in("bob", self.address, Listener())
        return self

    async def open(self, port: int) -> None:
        """Accept direct connections at ``127.0.0.1:port``."""
        transport = TcpPeerTransport(self.security)
        await transport.listen("bob", PeerAddress(host="127.0.0.1", port=port), self.inbox)
        self.direct.append(transport)

    async def move(self, port: int) -> None:
        """Sign in again, at ``port`` (which answers): the registry has a new address."""
        await self.open(port)
        await self.directory.sign_out()
        self.address = PeerAddress(host="127.0.0.1", port=port)
        await self.directory.sign_in("bob", self.address, Listener())

    async def stop(self) -> None:
        for transport in (self.relayed, *self.direct):
            await transport.close()
        await self.directory.sign_out()


class Alice:
    """alice, accepting no connections, with the direct-retry window given."""

    def __init__(self, registry_port: int, direct_retry: float) -> None:
        self.security = Security(LocalKeys.generate())
        self.directory = RegistryDirectory("127.0.0.1", registry_port, security=self.security)
        settings = TransportSettings(
            connect_timeout=2.0, handshake_timeout=2.0, direct_retry=direct_retry
        )
        self.transport = TcpPeerTransport(
            self.security, settings, relay=RegistryRelay(self.directory)
        )

    async def start(self) -> Alice:
        await self.transport.listen("alice", None, Handler())
        await self.directory.sign_in("alice", None, Listener())
        return self

    async def send(self, body: str) -> Route:
        """``body`` to bob where the registry says he is, on the session open to him or a new
        one; the route it went by."""
        location: PeerLocation = await self.directory.lookup("bob")
        report = await self.transport.deliver("bob", location, [outgoing(body)])
        assert report.route is not None
        return report.route

    async def session_ended(self) -> None:
        """Until the session to bob is gone (his side ended it, idle)."""
        await wait_until(lambda: self.transport.route("bob") is None, 10, "the session ended")

    async def stop(self) -> None:
        await self.transport.close()
        await self.directory.sign_out()


def test_a_failed_address_waits_out_its_window_and_a_new_one_is_tried_at_once() -> None:
    """With the default window (a minute): bob's port fails, so alice relays; it opens, yet a
    new session in the window is still relayed (no new connect timeout each time); bob signs
    in at a new address, and the next session goes direct at once."""

    async def scenario() -> None:
        server = await started()  # no probe: the registry vouches for no port
        registry_port = server.address[1]
        bob = await Bob(registry_port, free_port()).start()
        alice = await Alice(registry_port, TransportSettings().direct_retry).start()
        try:
            assert await alice.send("the port refuses") is Route.RELAYED
            await bob.open(bob.address.port)  # a direct path works now, at the same address
            await alice.session_ended()
            assert await alice.send("in the window") is Route.RELAYED
            await alice.session_ended()
            await bob.move(free_port())
            assert await alice.send("at a new address") is Route.DIRECT
            bodies = [m.body for m in bob.inbox.messages]
            assert bodies == ["the port refuses", "in the window", "at a new address"]
        finally:
            await alice.stop()
            await bob.stop()
            await server.close()

    run(scenario())


def test_once_the_window_has_passed_a_new_session_goes_direct_again() -> None:
    """A short window (shorter than bob's idle timeout, so it has passed once his side ended
    the relayed session): the next session tries the address that failed, and it answers."""

    async def scenario() -> None:
        server = await started()
        registry_port = server.address[1]
        bob = await Bob(registry_port, free_port()).start()
        alice = await Alice(registry_port, direct_retry=IDLE / 4).start()
        try:
            assert await alice.send("the port refuses") is Route.RELAYED
            await bob.open(bob.address.port)
            await alice.session_ended()  # IDLE after the last frame: the window is over
            assert await alice.send("the port answers") is Route.DIRECT
            assert alice.transport.route("bob") is Route.DIRECT
            assert [m.body for m in bob.inbox.messages] == ["the port refuses", "the port answers"]
        finally:
            await alice.stop()
            await bob.stop()
            await server.close()

    run(scenario())
