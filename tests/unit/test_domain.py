from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chinwag.domain.conversation import Conversation, ConversationKind, direct_conversation_id
from chinwag.domain.errors import InvalidMessage, InvalidStateTransition, InvalidUsername
from chinwag.domain.message import (
    EARLIEST_TIME,
    LATEST_TIME,
    MAX_BODY_BYTES,
    Message,
    MessageState,
    validate_body,
    validate_time,
)
from chinwag.domain.user import (
    MAX_USERNAME_LENGTH,
    InvalidAddress,
    PeerAddress,
    User,
    normalize_username,
    validate_host,
)


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


# -- times of messages ------------------------------------------------------------------------

_MICROSECOND = timedelta(microseconds=1)
_WORST_WEST = timezone(-timedelta(hours=23, minutes=59))
_WORST_EAST = timezone(timedelta(hours=23, minutes=59))


def test_time_bounds_are_utc_and_in_order() -> None:
    assert datetime(2000, 1, 1, tzinfo=UTC) == EARLIEST_TIME
    assert datetime(2200, 1, 1, tzinfo=UTC) == LATEST_TIME
    assert EARLIEST_TIME.utcoffset() == LATEST_TIME.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "moment",
    [
        EARLIEST_TIME,
        LATEST_TIME - _MICROSECOND,
        datetime(2026, 1, 1, tzinfo=UTC),
        # Within the bounds only once converted to UTC.
        datetime(1999, 12, 31, 23, 0, tzinfo=timezone(-timedelta(hours=1))),
        datetime(2200, 1, 1, 23, 58, tzinfo=_WORST_EAST),
    ],
)
def test_times_within_the_bounds_are_kept_in_utc(moment: datetime) -> None:
    kept = validate_time(moment)
    assert kept == moment
    assert kept.tzinfo is UTC


@pytest.mark.parametrize(
    "moment",
    [
        EARLIEST_TIME - _MICROSECOND,
        LATEST_TIME,
        datetime(2000, 1, 1, tzinfo=timezone(timedelta(minutes=1))),  # 1999-12-31T23:59Z
        datetime(2199, 12, 31, 23, 0, tzinfo=timezone(-timedelta(hours=1))),  # 2200-01-01Z
        datetime(1969, 7, 20, 20, 17, 40, tzinfo=UTC),
        # These two cannot even be converted to UTC: astimezone() raises OverflowError.
        datetime.max.replace(tzinfo=_WORST_WEST),
        datetime.min.replace(tzinfo=_WORST_EAST),
    ],
)
def test_times_outside_the_bounds_are_refused(moment: datetime) -> None:
    with pytest.raises(InvalidMessage):
        validate_time(moment)


def test_naive_times_are_refused_by_the_rule_too() -> None:
    with pytest.raises(InvalidMessage):
        validate_time(datetime(2026, 1, 1))


@pytest.mark.parametrize("field", ["sent_at", "received_at"])
@pytest.mark.parametrize(
    "claim",
    [
        "9999-12-31T23:59:59-23:59",  # what a peer once sent
        "0001-01-01T00:00:00+23:59",
        "1999-12-31T23:59:59.999999Z",
        "2200-01-01T00:00:00Z",
    ],
)
def test_messages_refuse_times_outside_the_bounds(field: str, claim: str) -> None:
    fields = _message().model_dump()
    with pytest.raises(ValidationError) as caught:
        Message(**{**fields, field: claim})
    assert isinstance(caught.value.errors()[0]["ctx"]["error"], InvalidMessage)


def test_messages_keep_their_times_in_utc() -> None:
    fields = _message().model_dump()
    message = Message(
        **{
            **fields,
            "sent_at": "2026-01-01T05:30:00+05:30",
            "received_at": datetime(2025, 12, 31, 19, 0, 1, tzinfo=_WORST_WEST),
        }
    )
    assert message.sent_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert message.sent_at.tzinfo is UTC
    assert message.received_at == datetime(2026, 1, 1, 18, 59, 1, tzinfo=UTC)
    assert message.received_at is not None
    assert message.received_at.tzinfo is UTC


def test_valid_messages_are_unchanged_and_received_at_stays_optional() -> None:
    message = _message()
    assert message.received_at is None
    assert message.sent_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert Message.model_validate(message.model_dump()) == message
    assert Message.model_validate_json(message.model_dump_json()) == message
    received = message.model_copy(update={"received_at": datetime(2026, 1, 2, tzinfo=UTC)})
    assert Message.model_validate(received.model_dump()) == received


# -- hosts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::", "::"),
        ("localhost", "localhost"),
        ("Bob.Example", "bob.example"),
        ("bob.example.", "bob.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("a-b.c-d", "a-b.c-d"),
        ("4chan.org", "4chan.org"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
        (".".join(["a" * 63] * 3 + ["b" * 61]), ".".join(["a" * 63] * 3 + ["b" * 61])),
        ("memory", "memory"),
    ],
)
def test_hosts_are_normalised(text: str, expected: str) -> None:
    assert validate_host(text) == expected
    assert validate_host(expected) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        ".",
        "a..b",
        ".example",
        "bob.example..",
        " bob.example",
        "bob example",
        "bob.example\n",
        "bob.example\nINFO forged log line",
        "\x1b[31mred",
        "bob/../etc",
        "bob:4000",
        "[::1]",
        "fe80::1%eth0",
        "fe80::1%\n",
        "-bob.example",
        "bob-.example",
        "a" * 64 + ".example",
        ".".join(["a" * 63] * 3 + ["b" * 62]),  # 254 characters
        "bücher.example",  # IDNs travel as their xn-- form
        "under_score.example",
        "1.2.3",  # the resolver would read these as IPv4 addresses
        "127.1",
        "0x7f.0.0.1",
        "0x7f",
        "2130706433",
        "01.02.03.04",
        "256.1.1.1",
        "1.2.3.4.",
        "::1::",
        "\u212abob",  # Kelvin sign: a K only to case-insensitive Unicode matching
    ],
)
def test_other_hosts_are_refused(text: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        validate_host(text)
    assert caught.value.code == "invalid_address"


def test_refusals_show_the_host_escaped() -> None:
    with pytest.raises(InvalidAddress) as caught:
        validate_host("evil\nINFO signed in as alice \x1b[2J")
    message = str(caught.value)
    assert "\n" not in message
    assert "\x1b" not in message
    assert "'evil\\nINFO signed in as alice \\x1b[2J'" in message


def test_refusals_of_long_hosts_are_short() -> None:
    with pytest.raises(InvalidAddress) as caught:
        validate_host("x " * 10_000)
    assert len(str(caught.value)) < 300


_HOSTNAMES = st.from_regex(
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?(\.[A-Za-z]{1,8}){0,3}\.?", fullmatch=True
)


@given(
    st.one_of(
        st.text(),
        st.text(alphabet=st.sampled_from("abz09-.:%[]/_ \n\x1b\u212a\u0131")),
        _HOSTNAMES,
        st.ip_addresses().map(str),
        st.ip_addresses(v=6).map(lambda a: a.exploded.upper()),
    )
)
def test_validate_host_refuses_only_with_invalid_address(text: str) -> None:
    try:
        host = validate_host(text)
    except InvalidAddress as refusal:
        reason = str(refusal)
    else:
        assert host
        assert host.isascii()
        assert not any(unicodedata.category(ch)[0] in "CZ" for ch in host)
        assert validate_host(host) == host
        return
    assert not any(unicodedata.category(ch) == "Cc" for ch in reason)


@given(st.ip_addresses())
def test_every_ip_address_is_accepted_in_its_compressed_form(address: object) -> None:
    assert validate_host(str(address)) == str(address)


def test_peer_addresses_validate_their_host() -> None:
    assert PeerAddress(host="Bob.Example.", port=1) == PeerAddress(host="bob.example", port=1)
    assert PeerAddress(host="0:0::1", port=4000).host == "::1"
    assert str(PeerAddress(host="::1", port=4000)) == "[::1]:4000"
    assert str(PeerAddress(host="127.0.0.1", port=0)) == "127.0.0.1:0"
    with pytest.raises(ValidationError) as caught:
        PeerAddress(host="evil\nhost", port=1)
    assert isinstance(caught.value.errors()[0]["ctx"]["error"], InvalidAddress)
    for host in ["", "fe80::1%eth0", "a b"]:
        with pytest.raises(ValidationError):
            PeerAddress(host=host, port=1)


@pytest.mark.parametrize("body", ["\u200b", "\u3164", "\u2800 ", "\U000e0041\U000e0042", "\u0301"])
def test_a_body_of_only_invisible_characters_is_empty(body: str) -> None:
    with pytest.raises(InvalidMessage):
        validate_body(body)
