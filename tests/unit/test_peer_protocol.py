"""The peer protocol's frames: whatever bytes arrive, parsing either works or says why."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chinwag.adapters.transport import protocol
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.message import Message, MessageState

bodies = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=300,
).filter(lambda body: body.strip() != "")


@given(st.binary(max_size=400))
def test_arbitrary_bytes_parse_or_raise_a_validation_error(data: bytes) -> None:
    with contextlib.suppress(ValidationError):
        protocol.parse(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3),
    max_leaves=6,
)
frame_types = st.sampled_from(["hello", "welcome", "messages", "receipt", "error", "other"])


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
