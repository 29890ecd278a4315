"""``chinwag-cli --json`` events of groups (issue 10's JSON Contract): ``status`` per member and
per group message, ``group``, and ``message`` of a group message."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
from typing import Any

from chinwag.adapters.console.json_commands import make_ref
from chinwag.adapters.console.json_io import ThreadWriter
from chinwag.adapters.console.json_output import JsonOutput
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.unit.test_delivery_groups import GROUP, group_message, group_state
from tests.unit.test_json_console import events_of, message, read_all, ready

GID = str(GROUP)


def output() -> tuple[io.StringIO, JsonOutput]:
    stream = io.StringIO()
    out = JsonOutput(stream)
    ready(out)
    stream.seek(0)
    stream.truncate()
    return stream, out


def at(m: Message, state: MessageState, reason: str | None = None) -> Message:
    return m.model_copy(update={"state": state, "reason": reason})


def test_a_group_message_has_status_events_per_member_and_of_its_own() -> None:
    stream, out = output()
    posted = group_message(1)
    pid = str(posted.id)
    out.message_state_changed(posted)  # stored: its summary is pending
    out.delivery_state_changed(at(posted, MessageState.SENT), "bob", Route.DIRECT)
    out.delivery_state_changed(at(posted, MessageState.SENT), "carol")
    out.delivery_state_changed(at(posted, MessageState.PENDING), "bob")  # bob's connection broke
    out.delivery_state_changed(at(posted, MessageState.SENT), "bob", Route.RELAYED)  # said once
    out.delivery_state_changed(at(posted, MessageState.DELIVERED), "bob", Route.RELAYED)
    out.delivery_state_changed(at(posted, MessageState.QUEUED, "dave is offline"), "dave")
    out.delivery_state_changed(at(posted, MessageState.QUEUED, "dave is offline"), "dave")
    out.delivery_state_changed(at(posted, MessageState.FAILED, "refused"), "carol")
    out.message_state_changed(at(posted, MessageState.QUEUED, "dave is offline"))
    out.delivery_state_changed(at(posted, MessageState.DELIVERED), "dave", Route.DIRECT)
    out.message_state_changed(at(posted, MessageState.FAILED, "refused"))
    assert events_of(stream) == [
        status(pid, None, "pending"),
        status(pid, "bob", "sent", path="direct"),
        status(pid, "carol", "sent"),
        status(pid, "bob", "pending"),
        status(pid, "bob", "delivered", path="relayed"),
        status(pid, "dave", "queued", reason="dave is offline"),
        status(pid, "carol", "failed", reason="refused"),
        status(pid, None, "queued", reason="dave is offline"),
        status(pid, "dave", "delivered", path="direct"),
        status(pid, None, "failed", reason="refused"),
    ]


def status(pid: str, to: str | None, state: str, **more: str) -> dict[str, Any]:
    """A status event of a group message: its summary's (``to`` None) or a member's."""
    fields: dict[str, Any] = {"event": "status", "id": pid, "group": GID}
    if to is not None:
        fields["to"] = to
    return fields | {"state": state} | more


def test_a_direct_messages_status_is_unchanged() -> None:
    stream, out = output()
    out.message_state_changed(at(message(1), MessageState.DELIVERED), Route.DIRECT)
    assert events_of(stream) == [
        {
            "event": "status",
            "id": str(message(1).id),
            "to": "bob",
            "state": "delivered",
            "path": "direct",
        }
    ]


def test_every_status_of_a_group_send_carries_its_ref_until_the_message_settles() -> None:
    stream, out = output()
    posted = group_message(1)
    out.begin_sends()
    out.message_state_changed(posted)  # before the send is bound: waits for its ref
    out.end_sends([(posted.id, make_ref("g1"))])
    out.delivery_state_changed(at(posted, MessageState.DELIVERED), "bob")
    out.delivery_state_changed(at(posted, MessageState.DELIVERED), "carol")  # not the last
    out.message_state_changed(at(posted, MessageState.DELIVERED))  # settled: the ref goes
    out.delivery_state_changed(at(posted, MessageState.DELIVERED), "dave")  # late: no ref
    printed = [(e.get("to", "-"), e["state"], e.get("ref", "-")) for e in events_of(stream)]
    assert printed == [
        ("-", "pending", "g1"),
        ("bob", "delivered", "g1"),
        ("carol", "delivered", "g1"),
        ("-", "delivered", "g1"),
        ("dave", "delivered", "-"),
    ]


def test_a_group_event_lists_members_by_seniority_and_admins_sorted() -> None:
    stream, out = output()
    state = group_state(("carol", "alice", "bob"), frozenset({"carol", "alice"}), version=3)
    out.group_changed(state, False)
    with out.answering(make_ref("leave")):
        out.group_changed(group_state(("carol", "bob"), frozenset({"carol"}), version=4), True)
    expected: list[dict[str, Any]] = [
        {
            "event": "group",
            "id": GID,
            "name": "Friends",
            "members": ["carol", "alice", "bob"],
            "admins": ["alice", "carol"],
            "version": 3,
        },
        {
            "event": "group",
            "id": GID,
            "name": "Friends",
            "members": ["carol", "bob"],
            "admins": ["carol"],
            "version": 4,
            "left": True,
            "ref": "leave",
        },
    ]
    assert events_of(stream) == expected


def test_a_group_event_during_sign_in_comes_after_ready() -> None:
    stream = io.StringIO()
    out = JsonOutput(stream)
    out.group_changed(group_state(), False)
    assert stream.getvalue() == ""
    out.ready("alice", PeerAddress(host="127.0.0.1", port=1), "fp")
    assert [e["event"] for e in events_of(stream)] == ["ready", "group"]


def test_a_received_group_message_names_its_group_and_nobody_as_to() -> None:
    stream, out = output()
    received = at(group_message(1, sender="bob"), MessageState.RECEIVED)
    out.message_received(received)
    out.history("bob", [received])
    [event, history] = events_of(stream)
    assert event == {
        "event": "message",
        "id": str(received.id),
        "group": GID,
        "from": "bob",
        "to": None,
        "body": "group message 1",
        "sent_at": received.sent_at.isoformat(),
        "state": "received",
    }
    assert history["messages"] == [{k: v for k, v in event.items() if k != "event"}]


def test_a_groups_history_and_the_list_of_groups_answer_with_their_ref() -> None:
    stream, out = output()
    received = at(group_message(1, sender="bob"), MessageState.RECEIVED)
    with out.answering(make_ref(7)):
        out.group_history(GROUP, [received])
        out.groups([(group_state(), False)])
    history, groups = events_of(stream)
    assert (history["event"], history["group"], history["ref"]) == ("history", GID, 7)
    assert [m["id"] for m in history["messages"]] == [str(received.id)]
    assert groups == {
        "event": "groups",
        "groups": [
            {
                "id": GID,
                "name": "Friends",
                "members": ["alice", "bob", "carol", "dave"],
                "admins": ["alice"],
                "version": 0,
            }
        ],
        "ref": 7,
    }


# -- withdrawn: a received group message taken out of the history -----------------------------

REASON = "sent after carol was removed from Friends"


def test_a_withdrawn_message_is_one_event_with_its_id_group_author_and_reason() -> None:
    stream, out = output()
    received = at(group_message(3, sender="carol"), MessageState.RECEIVED)
    with out.answering(make_ref(9)):  # not an answer, whatever command runs meanwhile
        out.message_withdrawn(received, REASON)
    assert events_of(stream) == [
        {
            "event": "withdrawn",
            "id": str(received.id),
            "group": GID,
            "from": "carol",
            "reason": REASON,
        }
    ]


def test_a_withdrawn_event_during_sign_in_comes_after_ready_and_the_message() -> None:
    stream = io.StringIO()
    out = JsonOutput(stream)
    received = at(group_message(3, sender="carol"), MessageState.RECEIVED)
    out.message_received(received)
    out.message_withdrawn(received, REASON)
    assert stream.getvalue() == ""
    out.ready("alice", PeerAddress(host="127.0.0.1", port=1), "fp")
    assert [e["event"] for e in events_of(stream)] == ["ready", "message", "withdrawn"]


def test_withdrawn_events_are_never_dropped_when_the_reader_lags() -> None:
    async def scenario() -> list[dict[str, Any]]:
        read_end, write_end = os.pipe()  # a pipe holds 64 KiB; nobody reads it at first
        writer = ThreadWriter(write_end)
        out = JsonOutput(writer=writer, limits=(1_000, 100_000, 200_000))
        ready(out)
        received = at(group_message(3, sender="carol"), MessageState.RECEIVED)
        for _ in range(3_000):  # far past the pipe and the hard limit: messages are dropped
            out.message_received(received)
            await asyncio.sleep(0)
        for n in range(3):
            out.message_withdrawn(at(group_message(10 + n, "carol"), MessageState.RECEIVED), REASON)
            await asyncio.sleep(0)
        got = bytearray()
        stop = threading.Event()
        stop.set()
        reader = threading.Thread(target=read_all, args=(read_end, got, stop), daemon=True)
        reader.start()
        async with asyncio.timeout(10):
            while b'"overflow"' not in got:  # noqa: ASYNC110  (filled by a thread)
                await asyncio.sleep(0.01)
        await out.close()
        os.close(write_end)
        reader.join(5)
        return [json.loads(line) for line in got.decode().splitlines()]

    events = asyncio.run(scenario())
    kinds = [e["event"] for e in events]
    overflow = events[kinds.index("overflow")]
    assert overflow["dropped"] == overflow["messages"] == 3_000 - kinds.count("message") > 0
    assert [e["id"] for e in events if e["event"] == "withdrawn"] == [
        str(group_message(10 + n).id) for n in range(3)
    ]
