from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chinwag.domain.conversation import Conversation, ConversationKind, direct_conversation_id
from chinwag.domain.errors import InvalidMessage, InvalidStateTransition, InvalidUsername
from chinwag.domain.message import MAX_BODY_BYTES, Message, MessageState, validate_body
from chinwag.domain.user import MAX_USERNAME_LENGTH, User, normalize_username


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice", "alice"),
        ("Alice", "alice"),
        ("ＡＬＩＣＥ", "alice"),  # full-width letters are mapped
        ("  bob ", "bob"),
        ("bob.smith-99_x", "bob.smith-99_x"),
        ("Алиса", "алиса"),
        ("אבי", "אבי"),
        ("東京たろう", "東京たろう"),
    ],
)
def test_valid_usernames_are_normalised(raw: str, expected: str) -> None:
    assert normalize_username(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "a b",
        "alice\u202e",  # right-to-left override
        "ali\u200bce",  # zero-width space
        "alice\x00",
        "bo\nb",
        "😀",
        "x" * (MAX_USERNAME_LENGTH + 1),
        "аlice",  # Cyrillic а posing as Latin a
        "pаypal",
    ],
)
def test_invalid_usernames_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidUsername) as caught:
        normalize_username(raw)
    assert str(caught.value)


@given(st.text(max_size=40))
def test_normalisation_is_idempotent_or_refuses(raw: str) -> None:
    try:
        name = normalize_username(raw)
    except InvalidUsername:
        return
    assert normalize_username(name) == name
    assert 1 <= len(name) <= MAX_USERNAME_LENGTH
    assert all(ch.isprintable() and not ch.isspace() for ch in name)


def test_user_model_normalises_and_is_frozen() -> None:
    user = User(name="Bob")
    assert user.name == "bob"
    with pytest.raises(ValidationError):
        User(name="b b")
    with pytest.raises(ValidationError):
        user.name = "eve"  # type: ignore[misc]


def test_direct_conversation_id_is_symmetric_and_spelling_independent() -> None:
    assert direct_conversation_id("alice", "bob") == direct_conversation_id("BOB", "Alice")
    assert direct_conversation_id("alice", "bob") != direct_conversation_id("alice", "carol")
    conversation = Conversation.direct("Bob", "alice")
    assert conversation.participants == ("alice", "bob")
    assert conversation.other_than("alice") == "bob"


def test_a_direct_conversation_needs_two_people_and_the_derived_id() -> None:
    with pytest.raises(ValidationError):
        Conversation(
            id=direct_conversation_id("a", "b"), kind=ConversationKind.DIRECT, participants=("a",)
        )
    with pytest.raises(ValidationError):
        Conversation(id=UUID(int=1), kind=ConversationKind.DIRECT, participants=("a", "b"))


@pytest.mark.parametrize("body", ["hi", "😀🎉", "שלום עולם", "line one\nline two", "x" * 10_000])
def test_bodies_are_kept_exactly(body: str) -> None:
    assert validate_body(body) == body


@pytest.mark.parametrize(
    "body", ["", "  \n\t ", "a\x00b", "\ud800", "é" * (MAX_BODY_BYTES // 2 + 1)]
)
def test_bad_bodies_are_refused(body: str) -> None:
    with pytest.raises(InvalidMessage):
        validate_body(body)


def _message(state: MessageState = MessageState.PENDING) -> Message:
    return Message(
        id=UUID(int=7),
        conversation_id=direct_conversation_id("alice", "bob"),
        sender="alice",
        recipient="bob",
        body="hello",
        sent_at=datetime(2026, 1, 1, tzinfo=UTC),
        state=state,
    )


def test_delivery_states_move_forward_only() -> None:
    message = _message()
    sent = message.with_state(MessageState.SENT)
    delivered = sent.with_state(MessageState.DELIVERED)
    assert delivered.state is MessageState.DELIVERED
    with pytest.raises(InvalidStateTransition):
        delivered.with_state(MessageState.PENDING)
    failed = message.with_state(MessageState.FAILED, "offline")
    assert failed.reason == "offline"
    with pytest.raises(InvalidStateTransition):
        _message(MessageState.RECEIVED).with_state(MessageState.SENT)


def test_messages_refuse_naive_times_and_extra_fields() -> None:
    fields = _message().model_dump()
    with pytest.raises(ValidationError):
        Message(**{**fields, "sent_at": datetime(2026, 1, 1)})
    with pytest.raises(ValidationError):
        Message(**{**fields, "colour": "red"})
