"""The ``PeerTransport`` port's group parts, the same for the TCP transport and its memory twin:
group messages reach the application as they were sent, haves and changes reach the peer's
application without the sender waiting for it, messages wait for the changes sent before them,
and a peer that refuses or is not there is said so."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import uuid4

import pytest

from chinwag.adapters.memory.transport import InMemoryNetwork, InMemoryTransport
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport.tcp import TcpPeerTransport
from chinwag.application.errors import PeerRefused, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import (
    GroupHave,
    Incoming,
    Intake,
    PeerTransport,
)
from chinwag.domain.group import Change
from chinwag.domain.user import PeerAddress
from tests.group_frames_support import group_message, log
from tests.integration.test_tcp_transport import Inbox, outgoing, run
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


@dataclass
class Side:
    name: str
    transport: PeerTransport
    location: PeerLocation
    inbox: Inbox


Make = Callable[[str, Inbox], Awaitable[Side]]


@asynccontextmanager
async def network(kind: str) -> AsyncIterator[Make]:
    """Peers on one network of ``kind``; every transport is closed at the end."""
    sides: list[Side] = []
    memory = InMemoryNetwork()

    async def make(name: str, inbox: Inbox) -> Side:
        transport: PeerTransport
        if kind == "tcp":
            keys = LocalKeys.generate()
            key = keys.identity_key
            transport = TcpPeerTransport(Security(keys))
            wanted = PeerAddress(host="127.0.0.1", port=0)
        else:
            key = os.urandom(32)
            transport = InMemoryTransport(memory, key)
            wanted = PeerAddress(host="memory", port=0)
        address = await transport.listen(name, wanted, inbox)
        side = Side(name, transport, PeerLocation(address=address, key=key), inbox)
        sides.append(side)
        return side

    try:
        yield make
    finally:
        for side in sides:
            await side.transport.close()
        await memory.drain()


KINDS = pytest.mark.parametrize("kind", ["memory", "tcp"])


def a_have(reply: bool = False) -> GroupHave:
    return GroupHave(uuid4(), 2, bytes(range(32)), {"alice": 3}, reply)


@KINDS
def test_group_messages_reach_the_application_as_sent(kind: str) -> None:
    async def scenario() -> None:
        async with network(kind) as make:
            alice, bob = await make("alice", Inbox()), await make("bob", Inbox())
            group = uuid4()
            sent = [
                group_message(group=group, author="alice", seq=1, version=4),
                outgoing("direct"),
                group_message(group=group, author="carol", seq=9, version=0),
            ]
            report = await alice.transport.deliver("bob", bob.location, sent)
            assert report.acknowledged == {m.id for m in sent}
            assert bob.inbox.messages == [Incoming.of(m) for m in sent]

    run(scenario())


@KINDS
def test_haves_and_changes_reach_the_other_side_both_ways(kind: str) -> None:
    async def scenario() -> None:
        async with network(kind) as make:
            alice, bob = await make("alice", Inbox()), await make("bob", Inbox())
            have, answer = a_have(), a_have(reply=True)
            changes = log(8, adds=3, wide=False)
            await alice.transport.send_have("bob", bob.location, have)
            await alice.transport.send_changes("bob", bob.location, changes)
            await bob.transport.send_have("alice", alice.location, answer)
            await bob.transport.send_changes("alice", alice.location, changes[:2])
            await wait_until(lambda: bool(bob.inbox.haves and bob.inbox.changes))
            await wait_until(lambda: bool(alice.inbox.haves and alice.inbox.changes))
            assert bob.inbox.haves == [("alice", have)]
            assert bob.inbox.changes == [("alice", changes)]
            assert alice.inbox.haves == [("bob", answer)]
            assert alice.inbox.changes == [("bob", changes[:2])]

    run(scenario())


class Answering(Inbox):
    """Answers a have at once with a have of its own, on its own transport (as the sync will):
    the sender must not be waiting for this answer, or both would wait forever."""

    def __init__(self) -> None:
        super().__init__()
        self.answer: Callable[[str, GroupHave], Awaitable[None]] | None = None

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        await super().group_have_received(peer, have)
        if self.answer is not None and not have.reply:
            await self.answer(peer, GroupHave(have.group, 0, have.head, {}, reply=True))


@KINDS
def test_a_have_answered_from_its_handler_does_not_deadlock(kind: str) -> None:
    async def scenario() -> None:
        async with network(kind) as make:
            alice, bob = await make("alice", Answering()), await make("bob", Answering())
            lock = asyncio.Lock()  # what an application holds while it sends its have

            async def answer_from(side: Side, peer: str, have: GroupHave) -> None:
                async with lock:
                    target = alice if peer == "alice" else bob
                    await side.transport.send_have(peer, target.location, have)

            assert isinstance(bob.inbox, Answering) and isinstance(alice.inbox, Answering)
            bob.inbox.answer = lambda peer, have: answer_from(bob, peer, have)
            alice.inbox.answer = lambda peer, have: answer_from(alice, peer, have)
            have = a_have()
            async with lock:
                await alice.transport.send_have("bob", bob.location, have)
            await wait_until(lambda: bool(alice.inbox.haves))
            assert [h.reply for _, h in alice.inbox.haves] == [True]

    run(scenario())


class Ordered(Inbox):
    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        for _ in range(20):  # the application taking its time (the disk)
            await asyncio.sleep(0)
        self.order.append("changes")

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        self.order.append("messages")
        return await super().messages_received(peer, messages)


@KINDS
def test_changes_are_handed_before_the_messages_sent_after_them(kind: str) -> None:
    async def scenario() -> None:
        async with network(kind) as make:
            alice, bob = await make("alice", Inbox()), await make("bob", Ordered())
            assert isinstance(bob.inbox, Ordered)
            await alice.transport.send_changes("bob", bob.location, log(3, wide=False))
            await alice.transport.deliver("bob", bob.location, [outgoing("now")])
            assert bob.inbox.order == ["changes", "messages"]

    run(scenario())


@KINDS
def test_a_refusing_or_absent_peer_is_said_so_and_gets_nothing(kind: str) -> None:
    async def scenario() -> None:
        async with network(kind) as make:
            alice, bob = await make("alice", Inbox()), await make("bob", Inbox(known={}))
            with pytest.raises(PeerRefused):
                await alice.transport.send_have("bob", bob.location, a_have())
            with pytest.raises(PeerRefused):
                await alice.transport.send_changes("bob", bob.location, log(2, wide=False))
            impostor = PeerLocation(address=bob.location.address, key=bytes(32))
            with pytest.raises(PeerUnreachable):
                await alice.transport.send_have("bob", impostor, a_have())
            assert bob.inbox.haves == [] and bob.inbox.changes == []

    run(scenario())
