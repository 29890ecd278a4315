"""The peer protocol's frames: whatever bytes arrive, parsing either works or says why."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chinwag.adapters.transport import protocol
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.errors import InvalidMessage
from chinwag.domain.message import Message, MessageState, validate_body


def is_valid_body(body: str) -> bool:
    try:
        validate_body(body)
    except InvalidMessage:
        return False
    return True


bodies = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=300,
).filter(is_valid_body)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_parse_or_raise_a_validation_error(data: bytes) -> None:
    with contextlib.suppress(ValidationError):
        protocol.parse(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3),
    max_leaves=6,
)
frame_types = st.sampled_from(
    ["hello", "welcome", "messages", "receipt", "error", "group_have", "group_changes", "other"]
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), frame_types)
def test_arbitrary_json_objects_parse_or_raise_a_validation_error(
    fields: dict[str, object], kind: str
) -> None:
    with contextlib.suppress(ValidationError):
        protocol.parse(json.dumps({**fields, "type": kind}).encode())


@settings(max_examples=50)
@given(st.lists(bodies, min_size=1, max_size=40))
def test_messages_survive_batching_and_parsing_exactly(texts: list[str]) -> None:
    sent = [
        Message(
            id=uuid4(),
            conversation_id=direct_conversation_id("alice", "bob"),
            sender="alice",
            recipient="bob",
            body=text,
            sent_at=datetime.now(UTC),
            state=MessageState.PENDING,
        )
        for text in texts
    ]
    received = []
    for payload, batch in protocol.message_batches(sent):
        assert len(payload) <= protocol.MAX_FRAME
        frame = protocol.parse(payload)
        assert isinstance(frame, protocol.Messages)
        assert [w.id for w in frame.messages] == [m.id for m in batch]
        received.extend(frame.messages)
    assert [(w.id, w.body, w.sent_at) for w in received] == [
        (m.id, m.body, m.sent_at) for m in sent
    ]


def test_hello_speaks_version_2_and_names_nobody_in_clear() -> None:
    frame = protocol.parse(protocol.hello())
    assert isinstance(frame, protocol.Hello)
    assert frame.version == protocol.PROTOCOL_VERSION == 2
    # The names travel encrypted, in the handshake: the clear frame must not leak who talks.
    assert (frame.from_, frame.to) == ("", "")
    assert json.loads(protocol.hello()) == {"type": "hello", "version": 2, "from": "", "to": ""}


def test_the_prologue_binds_the_version_into_the_handshake() -> None:
    assert protocol.PROLOGUE == b"chinwag peer protocol 2\n"


def test_a_version_1_hello_still_parses_so_it_can_be_told_to_upgrade() -> None:
    frame = protocol.parse(b'{"type":"hello","version":1,"from":"mallory","to":"bob"}')
    assert isinstance(frame, protocol.Hello)
    assert frame.version == 1
    assert (frame.from_, frame.to) == ("mallory", "bob")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"type":"hello","version":2}',
        b'{"type":"hello","version":2,"from":"","to":"","key":"AAAA"}',
        b'{"type":"hello","version":2,"from":"' + b"a" * 257 + b'","to":""}',
        b'{"type":"welcome","version":2}',
        b'{"type":"receipt","acked":["not-a-uuid"]}',
        b'{"type":"messages","messages":[]}',
    ],
)
def test_malformed_frames_are_refused(payload: bytes) -> None:
    with pytest.raises(ValidationError):
        protocol.parse(payload)


def test_welcome_receipt_and_error_parse_back_into_their_frames() -> None:
    welcome = protocol.parse(protocol.welcome("bob"))
    assert welcome == protocol.Welcome(type="welcome", version=2, user="bob")
    acked, refused = UUID(int=1), UUID(int=2)
    receipt = protocol.parse(protocol.receipt([acked], [(refused, "over_quota", "too many")]))
    assert isinstance(receipt, protocol.Receipt)
    assert receipt.acked == [acked]
    assert [(r.id, r.code, r.reason) for r in receipt.rejected] == [
        (refused, "over_quota", "too many")
    ]
    error = protocol.parse(protocol.error("identity_changed", "accept the new key first"))
    assert error == protocol.Error(
        type="error", code="identity_changed", message="accept the new key first"
    )


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "error", "code": "a\nb", "message": "x"},
        {"type": "error", "code": "x" * 65, "message": "x"},
        {"type": "error", "code": "busy", "message": "x" * 501},
        {
            "type": "receipt",
            "acked": [],
            "rejected": [{"id": str(UUID(int=1)), "code": "refused", "reason": "x" * 501}],
        },
    ],
)
def test_codes_are_words_and_reasons_are_bounded(frame: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        protocol.parse(json.dumps(frame).encode())
