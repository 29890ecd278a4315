"""The desktop app's group actions: posting and each member's delivery mark, reading, the
"New group" dialog and the header's admin actions, search results in groups. A recording view,
a fake session with groups, an immediate runner; no Tk."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chinwag.adapters.gui.presenter import Event
from chinwag.adapters.gui.view import GroupRow, PersonRow, SearchResultRow
from chinwag.application.errors import UserOffline
from chinwag.application.ports.message_repository import Delivery
from chinwag.domain.errors import NotAnAdmin
from chinwag.domain.message import Message, MessageState
from tests.unit.presenter_groups_support import GID, GroupSession, app, opened, posted
from tests.unit.test_presenter import message

# -- posting and per-member delivery ---------------------------------------------------------------


def test_posting_to_the_open_group_and_each_members_delivery_shows_on_the_mark() -> None:
    a = app()
    a.presenter.conversation_selected(GID)
    a.presenter.send_requested("hello all")
    assert a.session.posts == [(GID, "hello all")]
    mine = posted(50, "alice", body="hello all")
    a.presenter.handle([Event("state", message=mine)])
    [row] = a.view.last("append_messages")[0]
    assert (row.state, row.tally) == (MessageState.PENDING, "0/3")
    assert row.detail is not None and row.detail.startswith("Delivered to 0 of 3")
    delivered = mine.model_copy(update={"state": MessageState.DELIVERED})
    a.presenter.handle([Event("delivery", message=delivered, name="bob")])
    row = a.view.last("update_message")[0]
    assert row.tally == "1/3"
    queued = mine.model_copy(update={"state": MessageState.QUEUED})
    a.presenter.handle(
        [
            Event("delivery", message=delivered, name="carol"),
            Event("delivery", message=queued, name="dave"),
            Event("state", message=queued),
        ]
    )
    row = a.view.last("update_message")[0]
    assert (row.state, row.tally) == (MessageState.QUEUED, "2/3")
    assert row.detail == (
        "Delivered to 2 of 3\n⟳ dave is not online; it goes out when they are back"
    )
    a.presenter.handle(
        [
            Event("delivery", message=delivered, name="dave"),
            Event("state", message=delivered),
        ]
    )
    row = a.view.last("update_message")[0]
    assert (row.state, row.tally, row.detail) == (
        MessageState.DELIVERED,
        "",
        "Delivered to everyone",
    )


def test_the_history_brings_each_members_delivery_of_our_messages() -> None:
    mine = posted(2, "alice", state=MessageState.SENT)
    session = GroupSession(
        group_pages={GID: [posted(1, "bob"), mine]},
        delivered={
            mine.id: [
                Delivery(mine.id, "bob", MessageState.DELIVERED),
                Delivery(mine.id, "carol", MessageState.SENT),
                Delivery(mine.id, "dave", MessageState.FAILED, "dave was removed"),
            ]
        },
    )
    a = app(session)
    a.presenter.conversation_selected(GID)
    _, rows = opened(a)
    row = rows[-1]
    assert row.tally == "1/3"
    assert row.detail == (
        "Delivered to 1 of 3\n⚠ dave: not delivered: dave was removed\n"
        "✓ carol: sent, not acknowledged yet"
    )


def test_a_received_group_message_in_the_open_group_is_seen_and_marked_read() -> None:
    a = app()
    a.presenter.conversation_selected(GID)
    incoming = posted(3, "carol")
    a.presenter.handle([Event("message", message=incoming)])
    [row] = a.view.last("append_messages")[0]
    assert (row.sender, row.outgoing) == ("carol", False)
    assert a.session.group_marks == [(GID, incoming.id)]
    assert a.notifier.shown == []


# -- the dialogs and the header's actions ----------------------------------------------------------


def test_a_new_group_is_created_listed_and_opened() -> None:
    a = app(GroupSession(chats=["bob"], logs={}))
    a.presenter.new_group_requested("  Book club ", ["Bob", "carol", "alice", "bob", " "])
    assert a.session.made == [("Book club", ["bob", "carol"])]
    assert a.view.last("close_group_dialog") == ()
    heading, rows = opened(a)
    assert heading.name == "Book club"
    assert [r.body for r in rows] == ["You created the group “Book club” with bob and carol"]
    rows_listed = a.view.last("set_people")[0]
    assert [type(r) for r in rows_listed] == [GroupRow, PersonRow]


@pytest.mark.parametrize(
    ("name", "members", "said"),
    [
        ("", ["bob"], "A group name cannot be empty"),
        ("x" * 65, ["bob"], "at most 64 characters"),
        ("Trip", ["bob", "no one"], "not a valid username"),
    ],
)
def test_a_new_group_that_cannot_be_made_says_why_in_the_dialog(
    name: str, members: list[str], said: str
) -> None:
    a = app()
    a.presenter.new_group_requested(name, members)
    assert said in a.view.last("show_group_dialog_error")[0]
    assert a.session.made == []
    assert a.view.named("close_group_dialog") == []


def test_a_refusal_of_the_application_stays_in_the_dialog() -> None:
    a = app(GroupSession(refuse=UserOffline("cannot add erin: they have never been online")))
    a.presenter.new_group_requested("Trip 2", ["erin"])
    assert a.view.last("show_group_dialog_error") == (
        "Cannot add erin: they have never been online",
    )
    assert a.view.last("set_group_dialog_busy") == (False,)
    assert a.view.named("close_group_dialog") == []


def test_adding_several_people_adds_each_and_closes_the_dialog() -> None:
    a = app()
    a.presenter.conversation_selected(GID)
    a.presenter.group_add_requested(GID, ["erin", "Frank"])
    assert a.session.changes == [("add", GID, "erin"), ("add", GID, "frank")]
    assert a.view.last("close_group_dialog") == ()
    assert [m.name for m in a.view.last("show_group")[0].members][-2:] == ["erin", "frank"]
    a.presenter.group_add_requested(GID, [])
    assert a.view.last("show_group_dialog_error") == ("Pick or type somebody to add.",)


def test_rename_remove_and_make_admin_go_to_the_application() -> None:
    a = app()
    a.presenter.conversation_selected(GID)
    a.presenter.group_rename_requested(GID, "Lisbon")
    a.presenter.group_admin_requested(GID, "bob")
    a.presenter.group_remove_requested(GID, "dave")
    assert a.session.changes == [
        ("rename", GID, "Lisbon"),
        ("admin", GID, "bob"),
        ("remove", GID, "dave"),
    ]
    heading = a.view.last("show_group")[0]
    assert heading.name == "Lisbon"
    assert [m.name for m in heading.members] == ["alice", "bob", "carol"]
    assert [m.name for m in heading.members if m.admin] == ["alice", "bob"]
    a.presenter.group_rename_requested(GID, "\u202eevil")
    assert "bidi" in a.view.last("show_group_dialog_error")[0]


def test_a_refused_header_action_is_said_in_the_status_bar() -> None:
    a = app(GroupSession(refuse=NotAnAdmin("you are not an admin of 'Trip'")))
    a.presenter.group_remove_requested(GID, "bob")
    assert a.view.last("show_error") == ("you are not an admin of 'Trip'",)


# -- search ----------------------------------------------------------------------------------------


def test_a_search_result_in_a_group_names_it_and_opens_it() -> None:
    found = posted(2, "carol", body="the lunch plan")

    @dataclass
    class Searching(GroupSession):
        async def search(self, text: str) -> list[Message]:
            return [found, message(1, body="lunch with bob")]

    a = app(Searching(group_pages={GID: [posted(1, "bob"), found]}))
    a.presenter.search_requested("lunch")
    results: list[SearchResultRow] = a.view.last("show_search_results")[1]
    assert [(r.peer, r.group) for r in results] == [("Trip", GID), ("bob", None)]
    a.presenter.search_result_selected(results[0])
    heading, _ = opened(a)
    assert heading.id == GID
    assert a.view.last("focus_message") == (found.id,)
