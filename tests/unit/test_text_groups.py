"""What the terminal client says about groups: their changes, a line each, and a group
message's delivery as one summary (a member's only when it failed)."""

from __future__ import annotations

import io
from uuid import UUID

from chinwag.adapters.console.text_output import TextOutput
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import PeerAddress
from tests.console_support import signed_in
from tests.unit.test_delivery_groups import group_message, group_state

EVERYONE = ("alice", "bob", "carol", "dave")


def at(m: Message, state: MessageState, reason: str | None = None) -> Message:
    return m.model_copy(update={"state": state, "reason": reason})


def test_group_changes_are_said_as_what_changed() -> None:
    stream, output = signed_in()
    output.group_changed(group_state(("alice", "bob")), False)
    output.group_changed(group_state(("alice", "bob", "carol"), version=1), False)
    output.group_changed(
        group_state(("alice", "bob", "carol"), frozenset({"alice", "bob"}), version=2), False
    )
    output.group_changed(
        group_state(("alice", "carol"), frozenset({"alice"}), "Pals", version=3), False
    )
    output.group_changed(group_state(("alice", "carol"), name="Pals", version=3), False)  # again
    output.group_changed(group_state(("carol",), frozenset({"carol"}), "Pals", version=4), True)
    assert stream.getvalue().splitlines() == [
        "* group Friends: members alice, bob; admins alice",
        "* carol was added to Friends",
        "* bob is now an admin of Friends",
        "* Friends is now called Pals",
        "* bob is no longer in Pals",
        "* group Pals: members alice, carol; admins alice",
        "* you are no longer in Pals",
    ]
    assert output.names() == ["bob", "carol"]  # for completion


def test_a_group_message_is_one_summary_line_and_a_members_failure_its_own() -> None:
    stream, output = signed_in()
    output.group_changed(group_state(EVERYONE), False)
    posted = group_message(1)
    output.message_state_changed(posted)  # pending: not news
    for member in ("bob", "carol", "dave"):
        output.delivery_state_changed(at(posted, MessageState.SENT), member)
    output.delivery_state_changed(at(posted, MessageState.DELIVERED), "bob")
    output.delivery_state_changed(at(posted, MessageState.QUEUED, "dave is offline"), "dave")
    output.message_state_changed(at(posted, MessageState.QUEUED, "dave is offline"))
    output.message_state_changed(at(posted, MessageState.QUEUED, "unreachable"))  # said once
    output.delivery_state_changed(at(posted, MessageState.FAILED, "refused"), "carol")
    output.delivery_state_changed(at(posted, MessageState.DELIVERED), "dave")
    output.message_state_changed(at(posted, MessageState.DELIVERED))
    assert stream.getvalue().splitlines()[1:] == [
        "        ⧗ waiting to reach everyone in Friends: 'group message 1' (not every member "
        "can be reached now); it goes out when each member is reachable",
        "        ✗ not delivered to carol in Friends: 'group message 1': refused",
        "        ✓ delivered to everyone in Friends: 'group message 1'",
    ]


def test_group_messages_name_their_group_and_do_not_change_the_conversation() -> None:
    stream, output = signed_in()
    talking_to: list[str] = []
    output.on_incoming(talking_to.append)
    received = at(group_message(1, sender="bob"), MessageState.RECEIVED)
    output.message_received(received)  # the group is not known yet: its id's start
    output.group_changed(group_state(EVERYONE), False)
    output.message_received(received)
    output.history("bob", [at(group_message(2), MessageState.DELIVERED)])
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith("] bob → group 00000000: group message 1")
    assert lines[2].endswith("] bob → Friends: group message 1")
    assert lines[3].endswith("] you → Friends: group message 2")
    assert talking_to == []  # plain lines keep going where they went


def test_the_list_of_groups_and_a_groups_history() -> None:
    stream, output = signed_in()
    output.groups([])
    output.groups([(group_state(("alice", "bob", "carol"), frozenset({"alice", "carol"})), False)])
    output.group_history(group_state().id, [])
    output.group_history(group_state().id, [at(group_message(1), MessageState.DELIVERED)])
    lines = stream.getvalue().splitlines()
    short = str(group_state().id)[:8]
    assert lines[:3] == [
        "* you are in no group",
        f"* Friends (id {short}): alice*, bob, carol*",
        "* no history in Friends",
    ]
    assert lines[3].endswith("] you → Friends: group message 1")


def test_the_list_of_groups_shows_the_start_of_each_id_that_slash_g_takes() -> None:
    stream, output = signed_in()
    mine = group_state(("alice", "bob"), name="Book club")
    left = group_state(("bob",), frozenset({"bob"}), "Old club").model_copy(
        update={"id": UUID("cafe0000-1111-4222-8333-777777777777")}
    )
    output.groups([(left, True), (mine, False)])
    assert stream.getvalue().splitlines() == [
        f"* Book club (id {str(mine.id)[:8]}): alice*, bob",
        "* Old club (id cafe0000; you left): bob*",
    ]


def test_a_withdrawn_message_is_one_line_naming_who_where_why_and_its_start() -> None:
    stream, output = signed_in()
    received = at(group_message(3, sender="carol"), MessageState.RECEIVED)
    output.message_withdrawn(received, "sent after carol was removed from Friends")  # unknown
    output.group_changed(group_state(EVERYONE), False)
    long = received.model_copy(update={"body": "a first line\nand a second one, much longer"})
    output.message_withdrawn(long, "sent after carol was removed from Friends")
    lines = stream.getvalue().splitlines()
    assert lines[0] == (
        "* carol's message in group 00000000 was withdrawn (sent after carol was removed "
        "from Friends): 'group message 3'"
    )
    assert lines[2] == (
        "* carol's message in Friends was withdrawn (sent after carol was removed from "
        "Friends): 'a first line and a second one,…'"
    )


def test_a_withdrawn_line_is_terminal_safe_and_comes_after_signing_in() -> None:
    stream = io.StringIO()
    output = TextOutput(stream, me="alice")
    evil = at(group_message(3, sender="carol"), MessageState.RECEIVED)
    evil = evil.model_copy(update={"body": "\x1b]52;c;cGF3bmVk\x07hi"})
    output.message_withdrawn(evil, "sent after carol left \x1b[2JFriends\nfake line")
    assert stream.getvalue() == ""
    output.ready("alice", PeerAddress(host="127.0.0.1", port=1), "fp")
    [line] = [line for line in stream.getvalue().splitlines() if "withdrawn" in line]
    assert line == (
        "* carol's message in group 00000000 was withdrawn (sent after carol left "
        "\\x1b[2JFriends\\nfake line): '\\x1b]52;c;cGF3bmVk\\x07hi'"
    )
