"""Fifty real clients (TCP, SQLite) sending to random peers while some of them restart: every
message is delivered exactly once, and each sender's messages keep their order."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from chinwag.adapters.memory.events import RecordingEvents
from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.protocol import PROTOCOL_VERSION, Register, dump
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.domain.message import Message
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.container import Container, close_storage, open_storage
from tests.processes import client_config
from tests.secure_support import registry_session
from tests.support import eventually, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CLIENTS = 50
MESSAGES = 40
RESTARTING = 6


class Client:
    def __init__(self, name: str, folder: Path, port: int) -> None:
        self.name, self.folder, self.port = name, folder, port
        self.container: Any = None

    async def start(self) -> None:
        container = Container(events=RecordingEvents())
        container.config.from_dict(client_config(self.folder, self.name, self.port))
        await asyncio.to_thread(open_storage, container)
        await container.use_cases.sign_in().execute(
            self.name, PeerAddress(host="127.0.0.1", port=0)
        )
        self.container = container

    async def stop(self) -> None:
        container, self.container = self.container, None
        await container.use_cases.sign_out().execute()
        await asyncio.to_thread(close_storage, container)

    async def send(self, to: str, body: str) -> Message:
        message: Message = await self.container.use_cases.send_message().execute(to, body)
        return message

    async def outbox(self) -> int:
        return len(await self.container.adapters.messages().unacknowledged(self.name))

    async def received_from(self, sender: str) -> list[Message]:
        """What ``sender`` sent to this client, as stored here, in stored order."""
        history: list[Message] = await self.container.use_cases.load_history().execute(sender, 500)
        return [m for m in history if m.sender == sender]


def test_fifty_clients_with_restarts_deliver_everything_exactly_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = RegistryServer(
            "127.0.0.1",
            0,
            security=Security(LocalKeys.generate()),
            max_new_names_per_minute=CLIENTS,  # all fifty bind their names from one address
        )
        _, port = await server.start()
        names = [f"user{n:02d}" for n in range(CLIENTS)]
        clients = {name: Client(name, tmp_path / name, port) for name in names}
        await asyncio.gather(*(c.start() for c in clients.values()))
        rng = random.Random(2026)
        plan = {
            name: [rng.choice([n for n in names if n != name]) for _ in range(MESSAGES)]
            for name in names
        }
        restarting = set(rng.sample(names, RESTARTING))
        sent: dict[str, list[Message]] = defaultdict(list)

        async def talk(name: str) -> None:
            for n, to in enumerate(plan[name]):
                if n == MESSAGES // 2 and name in restarting:
                    await clients[name].stop()  # gone for a while; peers queue for it
                    await asyncio.sleep(0)  # let the others notice and keep sending
                    await clients[name].start()
                sent[name].append(await clients[name].send(to, f"{name}->{to} #{n}"))

        await asyncio.gather(*(talk(name) for name in names))

        async def delivered() -> bool:
            return sum(await asyncio.gather(*(c.outbox() for c in clients.values()))) == 0

        await eventually(delivered, 120, "every outbox to empty")

        for name in names:
            everything = []
            for sender in names:
                theirs = await clients[name].received_from(sender)
                # Once each, and in the order the sender sent them.
                assert [m.body for m in theirs] == [
                    m.body for m in sent[sender] if m.recipient == name
                ]
                everything.extend(theirs)
            ids = [m.id for m in everything]
            assert len(ids) == len(set(ids)), f"{name} stored a message twice"
        await asyncio.gather(*(c.stop() for c in clients.values()))
        await server.close()

    asyncio.run(scenario())


class HeldNameBook(NameBook):
    """A name book whose new bindings wait until :attr:`gate` opens, so that several finish in
    the same pass of the event loop (as they do when the disk is slow and names come at once)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0

    async def bind(self, name: str, key: bytes) -> bytes:
        self.waiting += 1
        await self.gate.wait()
        return await super().bind(name, key)


def test_concurrent_first_sign_ins_each_get_registered_first() -> None:
    """Bindings that finish in the same loop pass: each connection hears its own `registered`
    before anybody's `presence_changed` (else the client takes the push for a refusal and its
    sign-in fails; seen with the fifty clients above)."""

    async def scenario() -> None:
        book = HeldNameBook()
        server = RegistryServer("127.0.0.1", 0, security=Security(LocalKeys.generate()), names=book)
        host, port = await server.start()
        try:
            anna, bert = await asyncio.gather(
                registry_session(host, port), registry_session(host, port)
            )
            anna.send([dump(Register(version=PROTOCOL_VERSION, user="anna", port=9))])
            bert.send([dump(Register(version=PROTOCOL_VERSION, user="bert", port=9))])
            await wait_until(lambda: book.waiting == 2, 5, "both bindings under way")
            book.gate.set()
            for session, name in ((anna, "anna"), (bert, "bert")):
                async with asyncio.timeout(5):
                    first = json.loads((await session.receive())[0])
                assert (first["type"], first.get("user")) == ("registered", name)
                session.close()
        finally:
            await server.close()

    asyncio.run(scenario())
