"""Group traffic over the real TCP transport (and relayed): group messages with their stamps,
``group_have`` and ``group_changes`` to the application both ways, and peers that send them
malformed or by the thousand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from uuid import uuid4

import pytest

from chinwag.adapters.transport import protocol
from chinwag.adapters.transport.group_inbox import MAX_PENDING_AUTHORS
from chinwag.adapters.transport.tcp import TransportSettings
from chinwag.application.errors import PeerRefused, PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import GroupHave, Incoming, Intake, Route
from chinwag.domain.group import Change
from tests.group_frames_support import group_message, log
from tests.integration.test_tcp_routes import two
from tests.integration.test_tcp_transport import (
    DEADLINE,
    Inbox,
    close,
    errors,
    listening,
    outgoing,
    pair,
    run,
    welcomed,
)
from tests.secure_support import frames_until_closed
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)

HEAD = bytes(range(32))


def a_have(**changes: object) -> GroupHave:
    fields: dict[str, object] = {
        "group": uuid4(),
        "version": 3,
        "head": HEAD,
        "authors": {"alice": 4, "carol": 9},
        "reply": False,
    }
    fields.update(changes)
    return GroupHave(**fields)  # type: ignore[arg-type]


def test_group_messages_arrive_with_their_stamps_among_direct_ones() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        alice, bob = await pair(inbox)
        group = uuid4()
        sent = [
            group_message("mine", group=group, author="alice", seq=1, version=2),
            outgoing("just for you"),
            group_message("forwarded", group=group, author="carol", seq=5, version=1),
            group_message("unsigned", group=group, signature=b""),
        ]
        report = await alice.deliver(bob, sent)
        assert report.acknowledged == {m.id for m in sent}
        assert inbox.messages == [Incoming.of(m) for m in sent]
        assert [m.recipient for m in inbox.messages] == [None, "bob", None, None]
        await close(alice, bob)

    run(scenario())


def test_haves_and_changes_reach_the_application_both_ways() -> None:
    """Each side sends on its own session: bob answers alice without her listening socket
    being special, and a log bigger than a frame arrives whole and in order."""

    async def scenario() -> None:
        alice_inbox, bob_inbox = Inbox(), Inbox()
        alice, bob = await listening("alice", alice_inbox), await listening("bob", bob_inbox)
        have = a_have()
        changes = log(256, adds=2500)
        await alice.transport.send_have("bob", bob.location, have)
        await alice.transport.send_changes("bob", bob.location, changes)
        await wait_until(lambda: sum(len(c) for _, c in bob_inbox.changes) == len(changes))
        assert bob_inbox.haves == [("alice", have)]
        assert len(bob_inbox.changes) > 1  # several frames
        assert [c for _, batch in bob_inbox.changes for c in batch] == changes
        assert {peer for peer, _ in bob_inbox.changes} == {"alice"}

        answer = a_have(group=have.group, reply=True)
        await bob.transport.send_have("alice", alice.location, answer)
        await bob.transport.send_changes("alice", alice.location, changes[:1])
        await wait_until(lambda: bool(alice_inbox.changes and alice_inbox.haves))
        assert alice_inbox.haves == [("bob", answer)]
        assert alice_inbox.changes == [("bob", changes[:1])]
        await bob.transport.send_changes("alice", alice.location, [])  # nothing: no frame
        await close(alice, bob)

    run(scenario())


def test_group_traffic_goes_through_the_relay_the_same() -> None:
    async def scenario() -> None:
        alice, bob = await two()
        location = bob.location(address=None)
        group = uuid4()
        sent = [group_message(group=group, author="dave", seq=2), outgoing("direct")]
        have = a_have(group=group)
        changes = log(256, adds=5)
        await alice.transport.send_have("bob", location, have)
        await alice.transport.send_changes("bob", location, changes)
        report = await alice.transport.deliver("bob", location, sent)
        assert report.route is Route.RELAYED and alice.relay.dialled == ["bob"]
        assert report.acknowledged == {m.id for m in sent}
        assert bob.inbox.messages == [Incoming.of(m) for m in sent]
        await wait_until(lambda: bool(bob.inbox.haves))
        assert bob.inbox.haves == [("alice", have)]
        assert bob.inbox.changes == [("alice", changes)]
        await alice.transport.close()
        await bob.transport.close()

    run(scenario())


class HeldChanges(Inbox):
    """Takes changes only once ``gate`` opens; records what it was handed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.in_hand = False
        self.order: list[str] = []

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        self.in_hand = True
        await self.gate.wait()
        await super().group_changes_received(peer, changes)
        self.order.append("changes")

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        self.order.append("messages")
        return await super().messages_received(peer, messages)


def test_messages_wait_for_the_changes_sent_before_them() -> None:
    async def scenario() -> None:
        inbox = HeldChanges()
        alice, bob = await pair(inbox, TransportSettings(changes_wait=30))
        await alice.transport.send_changes("bob", bob.location, log(3, wide=False))
        await wait_until(lambda: inbox.in_hand)
        delivery = asyncio.ensure_future(alice.deliver(bob, [outgoing("after the changes")]))
        done, _ = await asyncio.wait([delivery], timeout=0.5)
        assert not done, "messages were handed while the changes before them were in hand"
        assert inbox.order == []
        inbox.gate.set()
        report = await delivery
        assert len(report.acknowledged) == 1
        assert inbox.order == ["changes", "messages"]
        await close(alice, bob)

    run(scenario())


def test_messages_do_not_wait_for_stuck_changes_past_the_bound() -> None:
    async def scenario() -> None:
        inbox = HeldChanges()
        alice, bob = await pair(inbox, TransportSettings(changes_wait=0.2))
        await alice.transport.send_changes("bob", bob.location, log(3, wide=False))
        await wait_until(lambda: inbox.in_hand)
        report = await alice.deliver(bob, [outgoing("not stuck")])
        assert len(report.acknowledged) == 1
        assert inbox.order == ["messages"]
        inbox.gate.set()
        await wait_until(lambda: inbox.order == ["messages", "changes"])
        await close(alice, bob)

    run(scenario())


def _bad_have() -> bytes:
    have = json.loads(protocol.group_have(a_have()))
    have["head"] = "XYZ"
    return json.dumps(have).encode()


def _unsigned_item() -> bytes:
    [(payload, _)] = protocol.message_batches([group_message()])
    frame = json.loads(payload)
    del frame["messages"][0]["sig"]
    return json.dumps(frame).encode()


def _change_without_group() -> bytes:
    frame = json.loads(protocol.change_batches(log(2, wide=False))[0])
    del frame["changes"][0]["group"]
    return json.dumps(frame).encode()


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (_bad_have(), "group_have.head: Value error, a head is 64 lowercase hex digits"),
        (_unsigned_item(), "this one lacks 'sig'"),
        (_change_without_group(), "not a chinwag.group.change/1 change (missing 'group')"),
        (b'{"type":"group_changes","changes":[]}', "group_changes.changes: List should have"),
    ],
)
def test_a_malformed_group_frame_is_refused_saying_why_and_others_are_served(
    payload: bytes, says: str
) -> None:
    async def scenario() -> None:
        inbox = Inbox()
        alice, bob = await pair(inbox)
        stream, _ = await welcomed(bob, name="mallory")
        stream.send([protocol.group_have(a_have()), payload])
        frames, end = await frames_until_closed(stream, DEADLINE)
        assert errors(frames) == ["bad_frame"]
        error = protocol.parse(frames[-1])
        assert isinstance(error, protocol.Error)
        assert says in error.message, error.message
        assert isinstance(end, ConnectionError)
        # What came before the bad frame was taken; the peer is served again, others always.
        await wait_until(lambda: len(inbox.haves) == 1)
        again, _ = await welcomed(bob, name="mallory")
        again.send([protocol.group_have(a_have())])
        await wait_until(lambda: len(inbox.haves) == 2)
        again.close()
        report = await alice.deliver(bob, [outgoing("still here")])
        assert len(report.acknowledged) == 1
        await close(alice, bob)

    run(scenario())


class HeldHaves(Inbox):
    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        await self.gate.wait()
        await super().group_have_received(peer, have)


def test_a_flood_of_haves_is_bounded_and_the_peer_and_others_are_still_served() -> None:
    async def scenario() -> None:
        inbox = HeldHaves()
        alice, bob = await pair(inbox)
        stream, _ = await welcomed(bob, name="mallory")
        flood = 20_000
        for _ in range(0, flood, 1000):
            stream.send(protocol.group_have(a_have(authors={"mallory": 1})) for _ in range(1000))
            await stream.drain()
        stream.send([protocol.ping(7)])
        async with asyncio.timeout(DEADLINE):
            answer = protocol.parse((await stream.receive())[0])
        assert answer == protocol.Pong(type="pong", n=7)  # read all of it, and answered
        report = await alice.deliver(bob, [outgoing("not drowned")])
        assert len(report.acknowledged) == 1
        inbox.gate.set()
        bound = MAX_PENDING_AUTHORS // 2  # two entries a have: the have and its one author
        await wait_until(lambda: len(inbox.haves) >= bound)
        # Room again: one more goes behind whatever of the flood was still waiting.
        last = a_have(authors={"mallory": 2})
        stream.send([protocol.group_have(last)])
        await wait_until(lambda: inbox.haves[-1] == ("mallory", last))
        assert bound <= len(inbox.haves) - 1 <= bound + 1 < flood
        stream.close()
        await close(alice, bob)

    run(scenario())


def test_sending_to_a_peer_that_is_not_there_or_refuses_says_so() -> None:
    async def scenario() -> None:
        refusing = Inbox(known={})
        alice, bob = await pair(refusing)
        with pytest.raises(PeerRefused) as refused:
            await alice.transport.send_have("bob", bob.location, a_have())
        assert refused.value.reason == "unverified"
        with pytest.raises(PeerRefused):
            await alice.transport.send_changes("bob", bob.location, log(2, wide=False))
        await close(bob)
        nobody = PeerLocation(address=bob.address, key=bob.key)
        with pytest.raises(PeerUnreachable):
            await alice.transport.send_have("bob", nobody, a_have())
        assert refusing.haves == [] and refusing.changes == []
        await close(alice)

    run(scenario())


class Waiting(Inbox):
    """Defers every group message with the code its group's state gives."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        return Intake(committed=[], deferred={m.id: self.code for m in messages})


@pytest.mark.parametrize("code", ["unknown_group", "group_behind", "group_gap", "over_quota"])
def test_a_group_message_refused_for_now_is_deferred_for_the_sender(code: str) -> None:
    async def scenario() -> None:
        alice, bob = await pair(Waiting(code))
        message = group_message()
        report = await alice.deliver(bob, [message])
        assert report.acknowledged == frozenset() and report.rejected == {}
        assert report.deferred == {message.id: code}
        await close(alice, bob)

    run(scenario())
