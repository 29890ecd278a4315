"""The peer protocol's file frames: offers in messages, requests, and the (binary) answers."""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chinwag.adapters.secure.channel import SecureStream
from chinwag.adapters.transport import file_frames, inbound, outbound, protocol
from chinwag.adapters.transport.dispatch import ProtocolViolation
from chinwag.adapters.transport.group_inbox import GroupInboxes
from chinwag.adapters.wire.codec import FrameDecoder
from chinwag.application.ports.peer_transport import HASHES_PER_ANSWER, Incoming, TransferNotice
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.message import Message, MessageState
from chinwag.domain.transfer import (
    MAX_FILE_SIZE,
    MAX_PIECE_SIZE,
    MIN_PIECE_SIZE,
    FileOffer,
)
from tests.group_frames_support import group_message

OFFER = FileOffer(
    name="photo.jpg",
    size=1_234_567,
    sha256=hashlib.sha256(b"photo").digest(),
    piece_size=512 * 1024,
    root=hashlib.sha256(b"root").digest(),
    mime="image/jpeg",
)

offers = st.builds(
    FileOffer,
    name=st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40),
    size=st.integers(0, MAX_FILE_SIZE),
    sha256=st.binary(min_size=32, max_size=32),
    piece_size=st.integers(MIN_PIECE_SIZE, MAX_PIECE_SIZE),
    root=st.binary(min_size=32, max_size=32),
    mime=st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20),
)


def direct(offer: FileOffer | None, body: str = "photo.jpg") -> Message:
    return Message(
        id=uuid4(),
        conversation_id=direct_conversation_id("alice", "bob"),
        sender="alice",
        recipient="bob",
        body=body,
        sent_at=datetime.now(UTC),
        state=MessageState.PENDING,
        file=offer,
    )


def wire_item(message: Message) -> dict[str, Any]:
    [(payload, _)] = protocol.message_batches([message])
    item = json.loads(payload)["messages"][0]
    assert isinstance(item, dict)
    return item


def parse_item(item: dict[str, Any]) -> protocol.WireMessage:
    frame = protocol.parse(json.dumps({"type": "messages", "messages": [item]}).encode())
    assert isinstance(frame, protocol.Messages)
    return frame.messages[0]


class FakeStream:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, frames: list[bytes]) -> None:
        self.sent.extend(frames)


# -- offers in messages ------------------------------------------------------------------------


@settings(max_examples=60)
@given(offers)
def test_a_direct_message_carries_its_offer_there_and_back(offer: FileOffer) -> None:
    wire = parse_item(wire_item(direct(offer)))
    assert wire.file is not None
    assert wire.file.to_offer() == offer


@settings(max_examples=30)
@given(offers)
def test_a_group_message_carries_its_offer_there_and_back(offer: FileOffer) -> None:
    message = group_message("photo.jpg").model_copy(update={"file": offer})
    wire = parse_item(wire_item(message))
    assert wire.group == message.group_id and wire.to is None
    assert wire.file is not None and wire.file.to_offer() == offer


def test_the_offer_on_the_wire_says_its_digests_in_hex() -> None:
    assert wire_item(direct(OFFER))["file"] == {
        "name": "photo.jpg",
        "size": 1_234_567,
        "sha256": OFFER.sha256.hex(),
        "piece_size": 512 * 1024,
        "root": OFFER.root.hex(),
        "mime": "image/jpeg",
    }
    assert "file" not in wire_item(direct(None))


def test_the_accepting_side_hands_the_offer_to_the_application() -> None:
    read = inbound.Read("alice", cast(SecureStream, FakeStream()), cast(GroupInboxes, None))
    message = direct(OFFER)
    [(payload, _)] = protocol.message_batches([message])
    inbound.FRAMES.dispatch_all(read, [protocol.parse(payload)])
    assert read.batch == [Incoming.of(message)]
    assert read.batch[0].file == OFFER


def test_the_item_cache_of_group_messages_keys_on_the_file_too() -> None:
    """An item must say what it is given: the same message with another file is another item."""
    message = group_message("photo.jpg").model_copy(update={"file": OFFER})
    other = message.model_copy(update={"file": OFFER.model_copy(update={"name": "other.jpg"})})
    bare = message.model_copy(update={"file": None})
    assert wire_item(message)["file"]["name"] == "photo.jpg"
    assert wire_item(other)["file"]["name"] == "other.jpg"
    assert "file" not in wire_item(bare)
    assert wire_item(message)["file"]["name"] == "photo.jpg"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"sha256": "AB" * 32}, "sha256"),
        ({"sha256": "ab" * 31}, "sha256"),
        ({"root": "zz" * 32}, "root"),
        ({"size": -1}, "size"),
        ({"size": MAX_FILE_SIZE + 1}, "size"),
        ({"size": 10.0}, "size"),
        ({"size": "10"}, "size"),
        ({"piece_size": MIN_PIECE_SIZE - 1}, "piece_size"),
        ({"piece_size": MAX_PIECE_SIZE + 1}, "piece_size"),
        ({"name": ""}, "name"),
        ({"mime": ""}, "mime"),
        ({"extra": 1}, "extra"),
        ({"mime": None}, "mime"),
    ],
)
def test_a_malformed_offer_is_a_malformed_frame(change: dict[str, object], where: str) -> None:
    item = wire_item(direct(OFFER))
    item["file"].update(change)
    if change == {"mime": None}:
        del item["file"]["mime"]
    with pytest.raises(ValidationError) as caught:
        parse_item(item)
    assert where in str(caught.value)


def test_a_file_that_is_not_an_object_is_a_malformed_frame() -> None:
    item = wire_item(direct(OFFER))
    item["file"] = "photo.jpg"
    with pytest.raises(ValidationError):
        parse_item(item)


def test_the_largest_message_with_the_largest_offer_fits_a_frame() -> None:
    body = "a" + "\x01" * (64 * 1024 - 1)  # each a six-byte escape in JSON
    big = OFFER.model_copy(update={"name": "\x02" * 16 * 1024, "mime": "\x03" * 255})
    [(payload, _)] = protocol.message_batches([direct(big, body=body)])
    assert len(payload) <= protocol.MAX_FRAME


# -- requests and small answers ----------------------------------------------------------------


def test_requests_and_small_answers_parse_back() -> None:
    tid = uuid4()
    assert protocol.parse(file_frames.file_get(tid, 7)) == file_frames.FileGet(
        type="file_get", id=tid, piece=7
    )
    hashes = protocol.parse(file_frames.file_hashes(tid, 8192))
    assert isinstance(hashes, file_frames.FileHashes) and hashes.from_ == 8192
    notice = protocol.parse(file_frames.file_notice(TransferNotice(tid, "failed", "no room")))
    assert isinstance(notice, file_frames.FileNotice)
    assert notice.to_notice() == TransferNotice(tid, "failed", "no room")
    bare = protocol.parse(file_frames.file_notice(TransferNotice(tid, "done")))
    assert isinstance(bare, file_frames.FileNotice) and bare.reason is None
    error = protocol.parse(file_frames.file_error(tid, "piece", 3, "changed", "it changed"))
    assert isinstance(error, file_frames.FileError)
    assert (error.id, error.for_, error.at, error.code, error.reason) == (
        tid,
        "piece",
        3,
        "changed",
        "it changed",
    )
    assert protocol.parse(file_frames.file_noted(tid)) == file_frames.FileNoted(
        type="file_noted", id=tid
    )


def test_a_long_reason_is_cut_to_what_the_wire_takes() -> None:
    error = protocol.parse(file_frames.file_error(uuid4(), "notice", None, "internal", "x" * 900))
    assert isinstance(error, file_frames.FileError) and len(error.reason) == 500


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "file_get", "id": "nope", "piece": 1},
        {"type": "file_get", "id": str(UUID(int=1)), "piece": -1},
        {"type": "file_get", "id": str(UUID(int=1)), "piece": "1"},
        {"type": "file_get", "id": str(UUID(int=1)), "piece": 1.0},
        {"type": "file_get", "id": str(UUID(int=1)), "piece": 2**53 + 1},
        {"type": "file_get", "id": str(UUID(int=1))},
        {"type": "file_get", "id": str(UUID(int=1)), "piece": 1, "more": 1},
        {"type": "file_hashes", "id": str(UUID(int=1)), "start": 0},
        {"type": "file_notice", "id": str(UUID(int=1)), "state": "paused", "reason": None},
        {"type": "file_notice", "id": str(UUID(int=1)), "state": "done", "reason": "x" * 501},
        {"type": "file_error", "id": str(UUID(int=1)), "for": "x", "code": "busy", "reason": ""},
        {
            "type": "file_error",
            "id": str(UUID(int=1)),
            "for": "piece",
            "code": "Busy",
            "reason": "",
        },
        {"type": "file_noted"},
    ],
)
def test_malformed_file_frames_are_refused(frame: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        protocol.parse(json.dumps(frame).encode())


# -- binary answers ----------------------------------------------------------------------------


@settings(max_examples=60)
@given(st.uuids(), st.integers(0, 2**53), st.binary(max_size=4096))
def test_a_piece_frame_goes_there_and_back(tid: UUID, index: int, data: bytes) -> None:
    frame = protocol.parse(file_frames.piece_frame(tid, index, data))
    assert frame == file_frames.PieceFrame(tid, index, data)
    # What the sender writes is the same payload, framed for the session.
    [payload] = FrameDecoder(protocol.MAX_FRAME).feed(
        file_frames.encoded_binary(file_frames.PIECE, tid, index, data)
    )
    assert payload == file_frames.piece_frame(tid, index, data)


@settings(max_examples=40)
@given(st.uuids(), st.integers(0, 2**53), st.lists(st.binary(min_size=32, max_size=32)))
def test_a_hashes_frame_goes_there_and_back(tid: UUID, start: int, hashes: list[bytes]) -> None:
    frame = protocol.parse(file_frames.hashes_frame(tid, start, b"".join(hashes)))
    assert isinstance(frame, file_frames.HashesFrame)
    assert (frame.transfer, frame.start, frame.data) == (tid, start, b"".join(hashes))


def test_the_largest_piece_and_the_most_hashes_fit_a_frame() -> None:
    tid = uuid4()
    piece = file_frames.encoded_binary(file_frames.PIECE, tid, 0, bytes(MAX_PIECE_SIZE))
    [payload] = FrameDecoder(protocol.MAX_FRAME).feed(piece)
    assert protocol.parse(payload) == file_frames.PieceFrame(tid, 0, bytes(MAX_PIECE_SIZE))
    most = bytes(32 * HASHES_PER_ANSWER)
    hashes = protocol.parse(file_frames.hashes_frame(tid, 0, most))
    assert isinstance(hashes, file_frames.HashesFrame) and len(hashes.data) == len(most)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x01",
        b"\x01" + bytes(23),
        b"\x02" + bytes(10),
        b"\x01" + bytes(16) + (2**53 + 1).to_bytes(8, "big"),
        b"\x01" + bytes(24) + bytes(MAX_PIECE_SIZE + 1),
        b"\x02" + bytes(24) + bytes(31),
        b"\x02" + bytes(24) + bytes(32 * (HASHES_PER_ANSWER + 1)),
    ],
)
def test_malformed_binary_frames_are_refused(payload: bytes) -> None:
    with pytest.raises(ValidationError):
        protocol.parse(payload)


@given(st.sampled_from([b"\x01", b"\x02"]), st.binary(max_size=200))
def test_arbitrary_binary_frames_parse_or_raise_a_validation_error(
    kind: bytes, rest: bytes
) -> None:
    with contextlib.suppress(ValidationError):
        frame = protocol.parse(kind + rest)
        assert isinstance(frame, file_frames.PieceFrame | file_frames.HashesFrame)


def test_a_malformed_binary_frame_is_a_bad_frame_at_the_accepting_side() -> None:
    read = inbound.Read("alice", cast(SecureStream, FakeStream()), cast(GroupInboxes, None))
    with pytest.raises(ProtocolViolation) as caught:
        inbound.FRAMES.dispatch_all(read, inbound._parsed([b"\x02" + bytes(30)]))
    assert caught.value.code == "bad_frame"
    assert "hashes" in str(caught.value)


def test_an_answer_sent_to_the_accepting_side_is_a_bad_frame() -> None:
    read = inbound.Read("alice", cast(SecureStream, FakeStream()), cast(GroupInboxes, None))
    with pytest.raises(ProtocolViolation, match="unexpected piece frame"):
        inbound.FRAMES.dispatch_all(
            read, inbound._parsed([file_frames.piece_frame(uuid4(), 0, b"x")])
        )


@pytest.mark.parametrize(
    "kind", [file_frames.FileGet, file_frames.FileHashes, file_frames.FileNotice]
)
def test_requests_go_to_the_accepting_side_only(kind: type[object]) -> None:
    assert inbound.FRAMES.handles(kind)
    assert not outbound.FRAMES.handles(kind)


@pytest.mark.parametrize(
    "kind",
    [
        file_frames.PieceFrame,
        file_frames.HashesFrame,
        file_frames.FileError,
        file_frames.FileNoted,
    ],
)
def test_answers_go_to_the_connecting_side_only(kind: type[object]) -> None:
    assert outbound.FRAMES.handles(kind)
    assert not inbound.FRAMES.handles(kind)


def test_a_request_on_a_read_without_a_file_server_is_a_bad_frame() -> None:
    read = inbound.Read("alice", cast(SecureStream, FakeStream()), cast(GroupInboxes, None))
    with pytest.raises(ProtocolViolation, match="unexpected file_get frame"):
        inbound.FRAMES.dispatch_all(read, [protocol.parse(file_frames.file_get(uuid4(), 0))])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3),
    max_leaves=6,
)


@given(
    st.dictionaries(
        st.sampled_from(["id", "piece", "from", "state", "reason", "for", "at", "code", "x"]),
        json_values | st.uuids().map(str),
        max_size=6,
    ),
    st.sampled_from(["file_get", "file_hashes", "file_notice", "file_error", "file_noted"]),
)
def test_arbitrary_file_frames_parse_or_raise_a_validation_error(
    fields: dict[str, object], kind: str
) -> None:
    with contextlib.suppress(ValidationError):
        frame = protocol.parse(json.dumps({**fields, "type": kind}).encode())
        assert frame.type == kind
