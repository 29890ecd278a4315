"""The peer frames' dispatcher: each frame to its type's handler, in order; a type with no handler
on this side is a ``bad_frame``, so new frames are added by registering, not by editing loops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Literal, cast
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel

from chinwag.adapters.secure.channel import SecureStream
from chinwag.adapters.transport import inbound, outbound, protocol
from chinwag.adapters.transport.dispatch import Dispatcher, ProtocolViolation
from chinwag.adapters.transport.group_inbox import GroupInboxes
from chinwag.application.files.none import NoFiles
from chinwag.application.ports.peer_transport import GroupHave, Incoming, Intake
from chinwag.domain.group import Change
from tests.group_frames_support import create, group_message
from tests.support import wait_until

Seen = list[tuple[str, object]]


def _ping(seen: Seen, frame: protocol.Ping) -> None:
    seen.append(("ping", frame.n))


def _pong(seen: Seen, frame: protocol.Pong) -> None:
    seen.append(("pong", frame.n))


def _table() -> Dispatcher[Seen]:
    table: Dispatcher[Seen] = Dispatcher()
    table.register(protocol.Ping, _ping)
    table.register(protocol.Pong, _pong)
    return table


def _frame(data: str) -> protocol.Ping | protocol.Pong | protocol.Welcome:
    frame = protocol.parse(data.encode())
    assert isinstance(frame, protocol.Ping | protocol.Pong | protocol.Welcome)
    return frame


def test_frames_are_handled_in_the_order_they_came() -> None:
    seen: Seen = []
    frames = [
        _frame('{"type":"ping","n":1}'),
        _frame('{"type":"pong","n":2}'),
        _frame('{"type":"ping","n":3}'),
    ]
    _table().dispatch_all(seen, frames)
    assert seen == [("ping", 1), ("pong", 2), ("ping", 3)]


def test_a_frame_without_a_handler_is_a_bad_frame_and_stops_the_read() -> None:
    seen: Seen = []
    frames = [
        _frame('{"type":"ping","n":1}'),
        _frame('{"type":"welcome","version":2,"user":"bob"}'),
        _frame('{"type":"ping","n":2}'),
    ]
    with pytest.raises(ProtocolViolation, match=r"^unexpected welcome frame$") as caught:
        _table().dispatch_all(seen, frames)
    assert caught.value.code == "bad_frame"
    assert seen == [("ping", 1)]


def test_lazy_frames_are_parsed_only_after_the_ones_before_were_handled() -> None:
    seen: Seen = []

    def frames() -> Iterator[protocol.Ping]:
        yield protocol.Ping(type="ping", n=1)
        assert seen == [("ping", 1)]
        raise ValueError("malformed")

    with pytest.raises(ValueError, match="malformed"):
        _table().dispatch_all(seen, frames())
    assert seen == [("ping", 1)]


class Shout(BaseModel):
    """A frame type the protocol does not have: what a later issue would add."""

    type: Literal["shout"]
    text: str


def test_a_handler_registered_for_a_new_frame_type_is_called() -> None:
    seen: Seen = []
    table = _table()
    shout = Shout(type="shout", text="hi")
    with pytest.raises(ProtocolViolation, match="unexpected shout frame"):
        table.dispatch(seen, shout)

    def on_shout(seen: Seen, frame: Shout) -> None:
        seen.append(("shout", frame.text))

    table.register(Shout, on_shout)
    table.dispatch_all(seen, [protocol.Ping(type="ping", n=7), shout])
    assert seen == [("ping", 7), ("shout", "hi")]
    assert table.handles(Shout)


def test_one_handler_per_frame_type() -> None:
    with pytest.raises(ValueError, match="Ping frames is registered already"):
        _table().register(protocol.Ping, _ping)


class FakeStream:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, frames: list[bytes]) -> None:
        self.sent.extend(frames)


def _wire(sender: str, message_id: UUID) -> dict[str, str]:
    return {
        "id": str(message_id),
        "from": sender,
        "to": "bob",
        "body": "hello",
        "sent_at": datetime(2024, 1, 1, tzinfo=UTC).isoformat(),
    }


class Recorder(NoFiles):
    """The application side, recording the group frames it is handed."""

    def __init__(self) -> None:
        self.haves: list[tuple[str, GroupHave]] = []
        self.changes: list[tuple[str, list[Change]]] = []

    async def authorize(self, peer: str, key: bytes) -> None:
        return None

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        return Intake(committed=[m.id for m in messages])

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        self.haves.append((peer, have))

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        self.changes.append((peer, list(changes)))


def test_the_accepting_side_batches_one_reads_messages_and_answers_pings() -> None:
    stream = FakeStream()
    read = inbound.Read("alice", cast(SecureStream, stream), GroupInboxes(Recorder()))
    first, forged, second = uuid4(), uuid4(), uuid4()
    frames: list[protocol.Messages | protocol.Ping] = [
        protocol.Messages.model_validate(
            {"type": "messages", "messages": [_wire("alice", first), _wire("carol", forged)]}
        ),
        protocol.Ping(type="ping", n=5),
        protocol.Messages.model_validate(
            {"type": "messages", "messages": [_wire("alice", second)]}
        ),
    ]
    inbound.FRAMES.dispatch_all(read, frames)
    assert [m.id for m in read.batch] == [first, second]
    assert read.rejected == [(forged, "wrong_sender", "this connection is alice's, not carol's")]
    assert stream.sent == [protocol.pong(5)]


def test_group_messages_from_any_member_reach_the_application_with_their_stamp() -> None:
    """A group message may be forwarded: its ``from`` is its author, not the connection's
    peer (the signature, checked by the application, says who wrote it)."""
    read = inbound.Read("alice", cast(SecureStream, FakeStream()), GroupInboxes(Recorder()))
    forwarded = group_message(author="carol", seq=4, version=2)
    [(payload, _)] = protocol.message_batches([forwarded])
    inbound.FRAMES.dispatch_all(read, [protocol.parse(payload)])
    assert forwarded.stamp is not None
    assert read.rejected == []
    assert read.batch == [
        Incoming(
            forwarded.id,
            "carol",
            None,
            forwarded.body,
            forwarded.sent_at,
            forwarded.group_id,
            4,
            2,
            forwarded.stamp.signature,
        )
    ]
    assert read.batch == [Incoming.of(forwarded)]


def test_group_frames_go_to_the_peers_inbox_not_into_the_read() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        groups = GroupInboxes(recorder)
        read = inbound.Read("alice", cast(SecureStream, FakeStream()), groups)
        have = GroupHave(uuid4(), 3, bytes(32), {"alice": 2}, reply=True)
        change = create(3)
        frames = [
            protocol.parse(protocol.group_have(have)),
            *(protocol.parse(p) for p in protocol.change_batches([change])),
        ]
        inbound.FRAMES.dispatch_all(read, frames)
        assert read.batch == [] and read.rejected == []
        await groups.changes_handed("alice")
        assert recorder.changes == [("alice", [change])]
        await wait_until(lambda: bool(recorder.haves), what="the have handed over")
        assert recorder.haves == [("alice", have)]

    asyncio.run(scenario())


def test_a_malformed_group_frame_stops_the_read_as_a_bad_frame() -> None:
    read = inbound.Read("alice", cast(SecureStream, FakeStream()), GroupInboxes(Recorder()))
    bad = json.dumps({"type": "group_have", "group": str(uuid4()), "version": 1}).encode()
    with pytest.raises(ProtocolViolation, match=r"^group_have\.head: Field required$") as caught:
        inbound.FRAMES.dispatch_all(read, inbound._parsed([bad]))
    assert caught.value.code == "bad_frame"


@pytest.mark.parametrize("kind", [protocol.Hello, protocol.Welcome, protocol.Receipt])
def test_the_accepting_side_takes_only_messages_pings_and_group_sync(
    kind: type[BaseModel],
) -> None:
    assert not inbound.FRAMES.handles(kind)
    for taken in (
        protocol.Messages,
        protocol.Ping,
        protocol.GroupHaveFrame,
        protocol.GroupChangesFrame,
    ):
        assert inbound.FRAMES.handles(taken)


@pytest.mark.parametrize(
    "kind",
    [
        protocol.Hello,
        protocol.Welcome,
        protocol.Messages,
        protocol.GroupHaveFrame,
        protocol.GroupChangesFrame,
    ],
)
def test_the_connecting_side_takes_only_receipts_pongs_and_errors(kind: type[BaseModel]) -> None:
    """Group frames travel like messages, from the connecting peer only: a peer with something
    to say about a group opens its own session."""
    assert not outbound.FRAMES.handles(kind)
    for taken in (protocol.Receipt, protocol.Pong, protocol.Error):
        assert outbound.FRAMES.handles(taken)
