"""A relay that tampers with, drops or replays the bytes it carries (a test double in the
registry's place) gets a clean reconnect and resend: never a duplicate, a loss or a forgery.

Real clients (the container's TCP transport over relayed streams, SQLite), both accepting no
connections, and a real registry whose relay hub misbehaves once, on the sender's bytes, after
the first message went through (so the session is established and carrying messages). That a
new session was opened is read off the relay itself: the session ids that carried the
sender's bytes (:attr:`RelaySession.sid`), before the harm and after it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from dependency_injector import providers

from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.registry.relay import RelayHub
from chinwag.adapters.registry.relay_session import RelaySession
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport.tcp import TcpPeerTransport, TransportSettings
from chinwag.domain.message import MessageState
from chinwag.entrypoints.container import Container, open_storage
from tests.integration.test_many_clients import Client as InProcessClient
from tests.processes import client_config
from tests.support import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

COUNT = 60


class MisbehavingHub(RelayHub):
    """Passes bytes on until :attr:`armed`, then does ``harm`` to the next chunk from the asker
    that is big enough to hold messages, once. Notes which session carried each chunk from
    the asker (:attr:`carriers`, in order) and which one it harmed."""

    def __init__(self, harm: Callable[[bytes], bytes]) -> None:
        super().__init__()
        self.harm = harm
        self.armed = False
        self.harmed = 0
        self.harmed_sid: str | None = None
        self.carriers: list[str] = []

    def forward(self, session: RelaySession, side: int, data: bytes) -> bytes:
        if side == 0:
            self.carriers.append(session.sid)
        if self.armed and side == 0 and len(data) > 200:
            self.armed = False
            self.harmed += 1
            self.harmed_sid = session.sid
            return self.harm(data)
        return data

    def carried_after_the_harm(self) -> list[str]:
        """The sessions (ids, each once, in order) that carried the asker's bytes after the
        harmed chunk."""
        assert self.harmed_sid is not None
        after = self.carriers[self.carriers.index(self.harmed_sid) :]
        return list(dict.fromkeys(after))


def flip(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1 :]


HARMS: dict[str, Callable[[bytes], bytes]] = {
    "tamper": flip,
    "drop": lambda data: b"",
    "replay": lambda data: data + data,
    "truncate": lambda data: data[: len(data) // 2],
}


class Client(InProcessClient):
    """A client accepting no connections (only the relay reaches it), whose lost batch is
    noticed after two seconds instead of thirty."""

    def __init__(self, name: str, folder: Path, port: int) -> None:
        super().__init__(name, folder, port)
        self.events = RecordingEvents()

    async def start(self) -> None:
        container = Container(events=self.events)
        container.config.from_dict(client_config(self.folder, self.name, self.port))
        adapters = container.adapters
        adapters.transport.override(
            providers.Singleton(
                TcpPeerTransport,
                adapters.security,
                TransportSettings(ack_timeout=2.0),
                relay=adapters.relay,
            )
        )
        await asyncio.to_thread(open_storage, container)
        await container.use_cases.sign_in().execute(self.name, None)
        self.container = container


@pytest.mark.parametrize("harm", sorted(HARMS))
def test_a_misbehaving_relay_costs_a_reconnect_never_a_message(tmp_path: Path, harm: str) -> None:
    async def scenario() -> None:
        hub = MisbehavingHub(HARMS[harm])
        server = RegistryServer(
            "127.0.0.1", 0, security=Security(LocalKeys.generate()), relay_hub=hub
        )
        _, port = await server.start()
        alice, bob = Client("alice", tmp_path / "a", port), Client("bob", tmp_path / "b", port)
        await alice.start()
        await bob.start()
        try:
            first = await alice.send("bob", "before the harm")

            async def settled() -> bool:
                return await alice.outbox() == 0

            await eventually(settled, 20, "the first message delivered")
            hub.armed = True
            sent = [first] + [
                await alice.send("bob", f"message {n:03d} " + "x" * 40) for n in range(COUNT)
            ]
            await eventually(settled, 60, "every message delivered after the harm")
            assert hub.harmed == 1
            # A reconnect: what went after the harm went (at least partly) on a new session,
            # and the harmed one carried nothing more once that one opened.
            after = hub.carried_after_the_harm()
            assert after[0] == hub.harmed_sid and len(after) >= 2, after
            assert hub.carriers[-1] != hub.harmed_sid, hub.carriers[-5:]
            assert hub.harmed_sid not in hub.carriers[hub.carriers.index(after[1]) :]
            stored = await bob.received_from("alice")
            assert [m.body for m in stored] == [m.body for m in sent]  # once each, in order
            assert [m.id for m in stored] == [m.id for m in sent]
            mine = await alice.container.use_cases.load_history().execute("bob", 500)
            states = {m.state for m in mine}
            assert states == {MessageState.DELIVERED}
        finally:
            await alice.stop()
            await bob.stop()
            await server.close()

    asyncio.run(scenario())
