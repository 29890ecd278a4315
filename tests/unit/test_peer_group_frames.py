"""The peer protocol's group parts: group messages in ``messages`` frames, ``group_have`` and
``group_changes``. What a sender writes parses back exactly; what is malformed is refused with a
word on what is wrong."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chinwag.adapters.transport import protocol
from chinwag.adapters.wire.group_change import change_from_wire, change_to_json, change_to_wire
from chinwag.application.ports.peer_transport import GroupHave
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.group import MAX_MEMBERS, Change
from chinwag.domain.message import MAX_SEQ, Message, MessageState
from tests.group_frames_support import create, group_message, log, widest_name

GROUP = UUID("8d2f5b8e-4f7a-8c3b-9a51-0f6e2d1c3b4a")
HEAD = bytes(range(32))


def outgoing(body: str) -> Message:
    return Message(
        id=uuid4(),
        conversation_id=direct_conversation_id("alice", "bob"),
        sender="alice",
        recipient="bob",
        body=body,
        sent_at=datetime.now(UTC),
        state=MessageState.PENDING,
    )


def messages_frame(*wire: dict[str, Any]) -> bytes:
    return json.dumps({"type": "messages", "messages": list(wire)}).encode()


def items(frame: bytes) -> list[dict[str, Any]]:
    parsed: dict[str, Any] = json.loads(frame)
    result: list[dict[str, Any]] = parsed["messages"]
    return result


# -- group messages in the messages frame ------------------------------------------------------


def test_a_group_message_is_encoded_as_it_is_even_after_its_genuine_copy() -> None:
    """A group message's item is made once for all its members, but never stands for another
    message with the same id: a copy with another body is sent as it is (and refused there)."""
    genuine = group_message(group=GROUP, seq=7, version=3)
    altered = genuine.model_copy(update={"body": "altered"})
    for message in (genuine, altered, genuine):
        [(payload, _)] = protocol.message_batches([message])
        assert items(payload)[0]["body"] == message.body
    sent = genuine.with_state(MessageState.SENT)  # another state: the same item
    [(again, _)] = protocol.message_batches([sent])
    assert items(again)[0]["body"] == genuine.body


def test_a_group_message_travels_with_its_group_and_stamp_and_no_to() -> None:
    message = group_message(group=GROUP, seq=7, version=3)
    [(payload, batch)] = protocol.message_batches([message])
    assert batch == [message]
    assert message.stamp is not None
    [item] = items(payload)
    assert item == {
        "id": str(message.id),
        "from": "alice",
        "group": str(GROUP),
        "seq": 7,
        "version": 3,
        "sig": base64.b64encode(message.stamp.signature).decode(),
        "body": "hello group",
        "sent_at": message.sent_at.isoformat(),
    }
    frame = protocol.parse(payload)
    assert isinstance(frame, protocol.Messages)
    [wire] = frame.messages
    assert (wire.to, wire.group, wire.seq, wire.version, wire.sig) == (
        None,
        GROUP,
        7,
        3,
        message.stamp.signature,
    )
    assert (wire.from_, wire.body, wire.sent_at) == ("alice", "hello group", message.sent_at)


def test_direct_and_group_messages_share_a_batch_each_in_its_own_shape() -> None:
    direct, group = outgoing("one to one"), group_message(group=GROUP)
    [(payload, _)] = protocol.message_batches([direct, group])
    first, second = items(payload)
    assert first["to"] == "bob" and "group" not in first and "sig" not in first
    assert "to" not in second and second["group"] == str(GROUP)
    frame = protocol.parse(payload)
    assert isinstance(frame, protocol.Messages)
    assert [w.group for w in frame.messages] == [None, GROUP]


def test_a_null_to_is_as_good_as_none() -> None:
    [(payload, _)] = protocol.message_batches([group_message(group=GROUP)])
    [item] = items(payload)
    frame = protocol.parse(messages_frame({**item, "to": None}))
    assert isinstance(frame, protocol.Messages)
    assert frame.messages[0].group == GROUP


def _group_item(**changes: Any) -> dict[str, Any]:
    [(payload, _)] = protocol.message_batches([group_message(group=GROUP)])
    [item] = items(payload)
    item.update(changes)
    return {key: value for key, value in item.items() if value is not ...}


def _direct_item(**changes: Any) -> dict[str, Any]:
    [(payload, _)] = protocol.message_batches([outgoing("hi")])
    [item] = items(payload)
    item.update(changes)
    return {key: value for key, value in item.items() if value is not ...}


@pytest.mark.parametrize(
    ("item", "says"),
    [
        (_group_item(to="bob"), "a message to a person (with 'to') carries no group, seq"),
        (_direct_item(seq=1), "a message to a person (with 'to') carries no seq"),
        (_direct_item(sig="AAAA"), "carries no sig"),
        (_group_item(sig=...), "this one lacks 'sig'"),
        (_group_item(seq=..., version=...), "this one lacks 'seq', 'version'"),
        (_direct_item(to=...), "this one has neither"),
        (_direct_item(to=None), "this one has neither"),
        (_group_item(seq=0), "seq"),
        (_group_item(seq=MAX_SEQ + 1), "seq"),
        (_group_item(seq="1"), "seq"),
        (_group_item(seq=1.0), "seq"),
        (_group_item(version=-1), "version"),
        (_group_item(version=True), "version"),
        (_group_item(group="not-a-group"), "group"),
        (_group_item(sig="not base64!"), "a signature is base64"),
        (_group_item(sig="AAA"), "a signature is base64"),
        (_group_item(sig=base64.b64encode(bytes(65)).decode()), "at most 64 bytes"),
        (_group_item(sig=base64.b64encode(bytes(66)).decode()), "at most 64 bytes"),
        (_group_item(sig=12), "sig"),
    ],
)
def test_a_malformed_group_item_is_refused_saying_what_is_wrong(
    item: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError, match=f"(?s){_re(says)}"):
        protocol.parse(messages_frame(item))


def _re(text: str) -> str:
    return re.escape(text)


def test_an_empty_signature_is_the_applications_to_refuse_not_the_wires() -> None:
    frame = protocol.parse(messages_frame(_group_item(sig="")))
    assert isinstance(frame, protocol.Messages)
    assert frame.messages[0].sig == b""


# -- group_have -------------------------------------------------------------------------------


def test_a_have_round_trips_in_its_documented_shape() -> None:
    have = GroupHave(GROUP, 12, HEAD, {"alice": 40, "bob": 0}, reply=True)
    payload = protocol.group_have(have)
    assert json.loads(payload) == {
        "type": "group_have",
        "group": str(GROUP),
        "version": 12,
        "head": HEAD.hex(),
        "authors": {"alice": 40, "bob": 0},
        "reply": True,
    }
    frame = protocol.parse(payload)
    assert isinstance(frame, protocol.GroupHaveFrame)
    assert frame.to_have() == have


def test_a_have_of_a_full_group_fits_in_a_frame() -> None:
    authors = {widest_name(i): MAX_SEQ for i in range(MAX_MEMBERS)}
    payload = protocol.group_have(GroupHave(GROUP, 2**53 - 1, HEAD, authors))
    assert len(payload) < protocol.MAX_FRAME // 16
    frame = protocol.parse(payload)
    assert isinstance(frame, protocol.GroupHaveFrame)
    assert frame.to_have().authors == authors


def _have(**changes: Any) -> bytes:
    fields: dict[str, Any] = json.loads(protocol.group_have(GroupHave(GROUP, 1, HEAD, {"a": 1})))
    fields.update(changes)
    return json.dumps({k: v for k, v in fields.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (_have(head=HEAD.hex()[:-2]), "a head is 64 lowercase hex digits"),
        (_have(head=HEAD.hex().upper()), "a head is 64 lowercase hex digits"),
        (_have(head=HEAD.hex() + "00"), "a head is 64 lowercase hex digits"),
        (_have(head=...), "head"),
        (_have(group=...), "group"),
        (_have(version=-1), "version"),
        (_have(version=2**53), "version"),
        (_have(version="1"), "version"),
        (_have(authors={f"m{i}": 1 for i in range(MAX_MEMBERS + 1)}), "authors"),
        (_have(authors={"x" * 257: 1}), "authors"),
        (_have(authors={"a": -1}), "authors.a"),
        (_have(authors={"a": MAX_SEQ + 1}), "authors.a"),
        (_have(authors=["a"]), "authors"),
        (_have(reply="true"), "reply"),
        (_have(reply=1), "reply"),
        (_have(extra=1), "extra"),
    ],
)
def test_a_malformed_have_is_refused(payload: bytes, says: str) -> None:
    with pytest.raises(ValidationError, match=f"(?s){_re(says)}"):
        protocol.parse(payload)


def test_reply_may_be_left_out() -> None:
    frame = protocol.parse(_have(reply=...))
    assert isinstance(frame, protocol.GroupHaveFrame)
    assert frame.reply is False


# -- group_changes ------------------------------------------------------------------------------


def _parsed_changes(frames: list[bytes]) -> list[Change]:
    changes: list[Change] = []
    for payload in frames:
        assert len(payload) <= protocol.MAX_FRAME
        frame = protocol.parse(payload)
        assert isinstance(frame, protocol.GroupChangesFrame)
        assert 1 <= len(frame.changes) <= protocol.MAX_CHANGES
        changes.extend(frame.changes)
    return changes


def test_a_change_on_the_wire_is_its_signed_json_and_its_signature() -> None:
    change = create(3)
    item = json.loads(change_to_wire(change))
    signature = item.pop("sig")
    assert base64.b64decode(signature) == change.signature
    assert item == json.loads(change_to_json(change))
    rebuilt = change_from_wire(json.loads(change_to_wire(change)))
    assert rebuilt == change
    assert rebuilt.hash() == change.hash()


def test_a_whole_log_of_a_full_group_fits_in_one_frame_exactly() -> None:
    changes = log(MAX_MEMBERS, adds=20)
    frames = protocol.change_batches(changes)
    assert len(frames) == 1
    assert len(frames[0]) <= protocol.BATCH_BYTES
    parsed = _parsed_changes(frames)
    assert parsed == changes
    assert [c.hash() for c in parsed] == [c.hash() for c in changes]
    assert [c.signed_bytes() for c in parsed] == [c.signed_bytes() for c in changes]


def test_a_log_bigger_than_a_frame_goes_in_several() -> None:
    changes = log(MAX_MEMBERS, adds=2500)
    frames = protocol.change_batches(changes)
    assert len(frames) > 1
    assert all(len(payload) <= protocol.BATCH_BYTES + 1024 for payload in frames)
    assert _parsed_changes(frames) == changes


def test_many_small_changes_are_cut_at_the_count_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "BATCH_BYTES", protocol.MAX_FRAME // 2)
    changes = log(2, adds=protocol.MAX_CHANGES + 5, wide=False)
    frames = protocol.change_batches(changes)
    assert [len(json.loads(f)["changes"]) for f in frames] == [protocol.MAX_CHANGES, 6]
    assert _parsed_changes(frames) == changes


def test_no_changes_make_no_frame() -> None:
    assert protocol.change_batches([]) == []


def _changes(*items: Any) -> bytes:
    return json.dumps({"type": "group_changes", "changes": list(items)}).encode()


def _change(change: Change | None = None, **edits: Any) -> dict[str, Any]:
    item: dict[str, Any] = json.loads(change_to_wire(change or create(3)))
    item.update(edits)
    return {key: value for key, value in item.items() if value is not ...}


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (_changes(), "changes"),
        (_changes(*[_change()] * (protocol.MAX_CHANGES + 1)), "changes"),
        (_changes("a change"), "a change is a JSON object"),
        (_changes(_change(sig=...)), "a change carries its signature as 'sig'"),
        (_changes(_change(sig="@@@@")), "a signature is base64"),
        (_changes(_change(sig=base64.b64encode(bytes(65)).decode())), "at most 64 bytes"),
        (_changes(_change(type="chinwag.group.change/2")), "not a chinwag.group.change/1"),
        (_changes(_change(group=...)), "missing 'group'"),
        (_changes(_change(group=12)), "not a chinwag.group.change/1 change"),
        (_changes(_change(prev="zz")), "not a chinwag.group.change/1 change"),
        (_changes(_change(at="yesterday")), "not a chinwag.group.change/1 change"),
        (_changes(_change(kind="crown")), "kind"),
        (_changes(_change(version=1)), "a create is version 0"),
        (_changes(_change(member="bob")), "a create change carries"),
        (_changes(_change(members=[{"name": "bob"}])), "missing 'key'"),
        (_changes(_change(members="bob")), "not a chinwag.group.change/1 change"),
        (_changes(_change(author="")), "author"),
        (_changes(_change(signature="AAAA")), "not a chinwag.group.change/1 change"),
        (_changes(_change(surprise=1)), "surprise"),
    ],
)
def test_a_malformed_change_is_refused_saying_what_is_wrong(payload: bytes, says: str) -> None:
    with pytest.raises(ValidationError, match=f"(?s){_re(says)}"):
        protocol.parse(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children)
    ),
    max_leaves=8,
)


@settings(max_examples=300)
@given(
    st.sampled_from(["group_have", "group_changes", "messages"]),
    st.dictionaries(
        st.sampled_from(
            ["group", "version", "head", "authors", "reply", "changes", "messages", "x"]
        ),
        json_values,
        max_size=6,
    ),
)
def test_arbitrary_group_frames_parse_or_raise_a_validation_error(
    kind: str, fields: dict[str, object]
) -> None:
    with contextlib.suppress(ValidationError):
        protocol.parse(json.dumps({**fields, "type": kind}).encode())


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "type",
                "kind",
                "version",
                "group",
                "prev",
                "author",
                "at",
                "member",
                "key",
                "name",
                "members",
                "sig",
                "signature",
            ]
        ),
        json_values,
        max_size=8,
    )
)
def test_arbitrary_change_objects_parse_or_raise_a_validation_error(
    edits: dict[str, object],
) -> None:
    with contextlib.suppress(ValidationError):
        protocol.parse(_changes({**_change(), **edits}))


def test_an_unknown_group_has_a_random_id_and_still_parses() -> None:
    """The wire does not know which groups exist: that is the application's."""
    frame = protocol.parse(_have(group=str(uuid4())))
    assert isinstance(frame, protocol.GroupHaveFrame)
