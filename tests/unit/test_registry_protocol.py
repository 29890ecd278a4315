"""The registry's wire DTOs: what parses, what is refused, and that nothing else can happen."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chinwag.adapters.registry.protocol import (
    PROLOGUE,
    PROTOCOL_VERSION,
    REQUEST_ADAPTER,
    SERVER_MESSAGE_ADAPTER,
    Error,
    Found,
    ListOnline,
    Lookup,
    Ping,
    Presence,
    PresenceChanged,
    Register,
    Registered,
    Unregister,
    Welcome,
    dump,
    probe_rid,
)

rids = st.none() | st.integers(min_value=0, max_value=2**63 - 1)
texts = st.text(max_size=40)
keys = st.binary(min_size=32, max_size=32).map(lambda key: base64.b64encode(key).decode("ascii"))

requests = st.one_of(
    st.builds(
        Register,
        rid=rids,
        version=st.integers(),
        user=st.text(max_size=256),
        port=st.integers(1, 65535),
        host=st.none() | st.text(min_size=1, max_size=255),
    ),
    st.builds(Unregister, rid=rids),
    st.builds(ListOnline, rid=rids),
    st.builds(Lookup, rid=rids, user=st.text(max_size=256)),
    st.builds(Ping, rid=rids),
)

server_messages = st.one_of(
    st.builds(
        Welcome,
        version=st.integers(),
        heartbeat_interval=st.floats(0.1, 100),
        idle_timeout=st.floats(0.1, 100),
        max_frame=st.integers(1, 2**31),
    ),
    st.builds(Registered, rid=rids, user=texts, host=texts, port=st.integers(1, 65535)),
    st.builds(Presence, online=st.lists(texts)),
    st.builds(PresenceChanged, joined=st.lists(texts), left=st.lists(texts)),
    st.builds(Found, rid=rids, user=texts, host=texts, port=st.integers(1, 65535), key=keys),
    st.builds(Error, rid=rids, code=texts, message=texts),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(requests)
def test_every_valid_request_round_trips(request: Any) -> None:
    assert REQUEST_ADAPTER.validate_json(dump(request)) == request


@given(server_messages)
def test_every_server_message_round_trips(message: Any) -> None:
    assert SERVER_MESSAGE_ADAPTER.validate_json(dump(message)) == message


@given(st.binary(max_size=512))
def test_arbitrary_bytes_parse_or_raise_a_validation_error_only(payload: bytes) -> None:
    with contextlib.suppress(ValidationError):
        REQUEST_ADAPTER.validate_json(payload)
    probe_rid(payload)  # never raises


@given(
    st.dictionaries(
        st.sampled_from(["type", "rid", "user", "port", "host", "session", "key", "version", "x"]),
        json_values | st.sampled_from(["register", "lookup", "list", "ping", "unregister"]),
    )
)
def test_arbitrary_json_objects_parse_or_raise_a_validation_error_only(obj: dict[str, Any]) -> None:
    with contextlib.suppress(ValidationError):
        REQUEST_ADAPTER.validate_json(json.dumps(obj).encode())


def test_a_register_request_parses_into_its_model() -> None:
    payload = b'{"type":"register","rid":7,"version":2,"user":"Alice","port":5000}'
    request = REQUEST_ADAPTER.validate_json(payload)
    assert request == Register(rid=7, version=PROTOCOL_VERSION, user="Alice", port=5000)
    assert request.host is None


def test_version_2_is_spoken_and_bound_into_the_handshake() -> None:
    # Both ends mix the prologue into the Noise handshake: changing it is a protocol change.
    assert PROTOCOL_VERSION == 2
    assert PROLOGUE == b"chinwag registry protocol 2\n"


def test_a_found_answer_carries_the_key_the_name_is_bound_to() -> None:
    key = bytes(range(32))
    payload = dump(
        Found(
            rid=3,
            user="bob",
            host="127.0.0.1",
            port=4000,
            key=base64.b64encode(key).decode("ascii"),
        )
    )
    found = SERVER_MESSAGE_ADAPTER.validate_json(payload)
    assert isinstance(found, Found)
    assert base64.b64decode(found.key, validate=True) == key
    assert json.loads(payload)["key"] == base64.b64encode(key).decode("ascii")


def test_a_found_answer_without_a_key_is_refused() -> None:
    # A registry that cannot say whose the name is must not be read as saying "anybody's".
    with pytest.raises(ValidationError):
        SERVER_MESSAGE_ADAPTER.validate_json(
            b'{"type":"found","user":"bob","host":"127.0.0.1","port":4000}'
        )


def test_answers_leave_out_a_missing_rid() -> None:
    assert json.loads(dump(Error(code="bad_request", message="no"))) == {
        "type": "error",
        "code": "bad_request",
        "message": "no",
    }


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        b'"lookup"',
        b"{}",
        b'{"type":"nope"}',
        b'{"type":"lookup","rid":1}',
        b'{"type":"lookup","rid":1,"user":"a","extra":1}',
        b'{"type":"lookup","rid":"1","user":"a"}',
        b'{"type":"lookup","rid":true,"user":"a"}',
        b'{"type":"lookup","rid":-1,"user":"a"}',
        b'{"type":"lookup","rid":1.5,"user":"a"}',
        b'{"type":"lookup","rid":9223372036854775808,"user":"a"}',
        b'{"type":"lookup","user":' + b'"' + b"a" * 257 + b'"}',
        b'{"type":"register","version":2,"user":"a","port":"5000"}',
        b'{"type":"register","version":2,"user":"a","port":0}',
        b'{"type":"register","version":2,"user":"a","port":65536}',
        b'{"type":"register","version":2,"user":"a","port":1,"host":""}',
        b'{"type":"register","version":2,"port":1}',
        b'{"type":"register","user":"a","port":1}',
        # Version 1 claimed a name with a session token; version 2 has none (the handshake
        # proves the key the name is bound to), so a token is an unknown field.
        b'{"type":"register","version":1,"user":"a","port":1,"session":"s"}',
        b'{"type":"register","version":2,"user":"a","port":1,"session":"s"}',
        # Nor can a client claim a key in words: only the handshake says which key it holds.
        b'{"type":"register","version":2,"user":"a","port":1,"key":"AAAA"}',
        b"[" * 10_000,
        b'{"type":"ping","rid":' + b"9" * 10_000 + b"}",
    ],
)
def test_malformed_requests_are_refused_with_a_validation_error(payload: bytes) -> None:
    with pytest.raises(ValidationError):
        REQUEST_ADAPTER.validate_json(payload)


def test_the_rid_of_a_refused_request_can_still_be_echoed() -> None:
    assert probe_rid(b'{"type":"lookup","rid":12,"user":"a","extra":1}') == 12
    assert probe_rid(b'{"type":"nope","rid":3}') == 3
    assert probe_rid(b'{"type":"lookup","rid":"12"}') is None
    assert probe_rid(b"[1, 2]") is None


def test_server_messages_ignore_fields_added_later() -> None:
    message = SERVER_MESSAGE_ADAPTER.validate_json(b'{"type":"pong","rid":4,"load":0.5}')
    assert message.type == "pong"
    assert message.rid == 4
