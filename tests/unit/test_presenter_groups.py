"""The desktop app's decisions about groups: the list, opening a group (its header, its history
with the membership lines), changes as they come, leaving and being removed. A recording view,
a fake session with groups, an immediate runner; no Tk."""

from __future__ import annotations

from uuid import UUID

from chinwag.adapters.gui.presenter import ChatPresenter, Event
from chinwag.adapters.gui.view import MemberRow, PersonRow
from chinwag.application.ports.conversation_repository import Unread
from chinwag.domain.group import ChangeKind
from tests.unit.presenter_groups_support import (
    GENESIS,
    GID,
    GroupSession,
    app,
    opened,
    posted,
    states,
    then,
    trip,
)
from tests.unit.test_presenter import ImmediateRunner, RecordingView, message

# -- the list --------------------------------------------------------------------------------------


def test_groups_are_listed_among_people_in_the_order_of_their_conversations() -> None:
    session = GroupSession(
        chats=["bob", GID, "carol"], unread_in_groups={GID: Unread(2, UUID(int=5))}
    )
    a = app(session)
    assert a.view.last("set_people") == (
        [PersonRow("bob", False, 0), trip(unread=2), PersonRow("carol", False, 0)],
    )
    assert a.view.last("set_title") == ("(2) chinwag — alice",)


def test_a_message_in_a_closed_group_counts_moves_it_up_and_notifies_with_its_name() -> None:
    a = app(GroupSession(chats=["bob", GID]))
    a.presenter.focus_changed(False)
    a.presenter.handle([Event("message", message=posted(1, "carol"))])
    assert a.view.last("set_people") == ([trip(unread=1), PersonRow("bob", False, 0)],)
    [note] = a.notifier.shown
    assert (note.title, note.body) == ("Trip", "carol: group message 1")
    note.clicked()
    heading, _ = opened(a)
    assert heading.id == GID


def test_the_stored_order_goes_before_people_listed_meanwhile_and_after_news() -> None:
    runner, view, session = ImmediateRunner(), RecordingView(), GroupSession(chats=[GID, "bob"])
    presenter = ChatPresenter(runner, lambda name, registry: session, "127.0.0.1:7420")
    presenter.attach(view)
    runner.park = True
    presenter.start("alice")
    runner.release()  # signed in; the stored conversations are still on their way
    presenter.handle([Event("presence", online=frozenset({"carol", "bob"}))])  # lists nobody
    presenter.handle([Event("message_request", name="erin")])
    presenter.handle([Event("message", message=message(1, "dave"))])
    runner.park = False
    runner.release()
    assert [getattr(r, "name", None) for r in view.last("set_people")[0]] == [
        "dave",
        "Trip",
        "bob",
        "erin",
    ]


def test_being_added_to_a_group_lists_it_first() -> None:
    a = app(GroupSession(chats=["bob"], logs={}))
    assert a.view.last("set_people") == ([PersonRow("bob", False, 0)],)
    a.presenter.handle([Event("group", group=states([GENESIS]))])
    assert a.view.last("set_people") == ([trip(), PersonRow("bob", False, 0)],)


def test_a_message_of_a_group_not_known_yet_waits_for_the_group_to_be_listed() -> None:
    a = app(GroupSession(chats=[], logs={}))
    a.presenter.focus_changed(False)
    a.presenter.handle([Event("message", message=posted(1, "carol"))])
    assert a.view.last("set_people") == ([],)
    a.notifier.click()  # its notification opens it all the same
    heading, _ = opened(a)
    assert (heading.id, heading.name, heading.members) == (GID, "A group", ())
    a.presenter.handle([Event("group", group=states([GENESIS]))])
    assert a.view.last("set_people") == ([trip(unread=1)],)
    assert a.view.last("show_group")[0].name == "Trip"


def test_next_conversation_goes_through_groups_too() -> None:
    a = app(GroupSession(chats=["bob", GID]))
    a.presenter.next_conversation_requested(1)
    assert a.view.last("open_conversation")[0] == "bob"
    a.presenter.next_conversation_requested(1)
    heading, _ = opened(a)
    assert heading.id == GID


# -- opening a group: its header, its history with the membership lines ----------------------------


def test_opening_a_group_heads_it_with_its_members_and_what_an_admin_may_do() -> None:
    a = app()
    a.presenter.handle([Event("presence", online=frozenset({"bob"}))])
    a.presenter.conversation_selected(GID)
    heading, _ = opened(a)
    assert heading.name == "Trip"
    assert heading.summary == "4 members: you (admin), bob, carol and dave"
    assert heading.admin and not heading.left
    assert heading.members == (
        MemberRow("alice", admin=True, online=True, me=True),
        MemberRow("bob", admin=False, online=True, can_remove=True, can_make_admin=True),
        MemberRow("carol", admin=False, online=False, can_remove=True, can_make_admin=True),
        MemberRow("dave", admin=False, online=False, can_remove=True, can_make_admin=True),
    )


def test_a_member_who_is_not_an_admin_is_offered_no_admin_action() -> None:
    chain = [GENESIS]
    chain.append(then(chain[-1], ChangeKind.ADMIN, "alice", 1, member="bob"))
    chain.append(then(chain[-1], ChangeKind.LEAVE, "alice", 2))
    chain.append(then(chain[-1], ChangeKind.ADD, "bob", 3, member="alice"))
    a = app(GroupSession(logs={GID: chain}))
    a.presenter.conversation_selected(GID)
    heading, _ = opened(a)
    assert not heading.admin
    assert not any(m.can_remove or m.can_make_admin for m in heading.members)
    assert [m.name for m in heading.members if m.admin] == ["bob"]


def test_membership_changes_are_lines_among_the_messages_by_time() -> None:
    chain = [GENESIS]
    chain.append(then(chain[-1], ChangeKind.ADD, "alice", 2, member="erin"))
    chain.append(then(chain[-1], ChangeKind.RENAME, "alice", 4, name="Lisbon trip"))
    history = [posted(1, "bob"), posted(3, "carol"), posted(5, "erin")]
    a = app(GroupSession(logs={GID: chain}, group_pages={GID: history}))
    a.presenter.conversation_selected(GID)
    heading, rows = opened(a)
    assert heading.name == "Lisbon trip"
    assert [(r.notice, r.body) for r in rows] == [
        (True, "You created the group “Trip” with bob, carol and dave"),
        (False, "group message 1"),
        (True, "You added erin"),
        (False, "group message 3"),
        (True, "You renamed the group to “Lisbon trip”"),
        (False, "group message 5"),
    ]
    assert a.presenter._pane.newest == history[-1].id  # the read marker goes on a message


def test_a_page_shows_the_lines_of_its_time_and_older_pages_bring_theirs() -> None:
    chain = [GENESIS, then(GENESIS, ChangeKind.ADD, "alice", 100, member="erin")]
    history = [posted(n, "bob") for n in range(1, 121)]
    a = app(GroupSession(logs={GID: chain}, group_pages={GID: history}))
    a.presenter.conversation_selected(GID)
    _, rows = opened(a)
    assert [r.body for r in rows if r.notice] == ["You added erin"]
    a.presenter.older_requested()  # messages 21 to 70
    a.presenter.older_requested()  # messages 1 to 20, the start: the create's line too
    (older, _more) = a.view.last("prepend_messages")
    assert [r.body for r in older][:2] == [
        "You created the group “Trip” with bob, carol and dave",
        "group message 1",
    ]


def test_a_change_while_the_group_is_open_updates_its_header_and_adds_a_line() -> None:
    session = GroupSession()
    a = app(session)
    a.presenter.conversation_selected(GID)
    chain = session.logs[GID]
    chain.append(then(chain[-1], ChangeKind.ADD, "alice", 10, member="erin"))
    a.presenter.handle([Event("group", group=states(chain))])
    heading = a.view.last("show_group")[0]
    assert "erin" in [m.name for m in heading.members]
    [(line,)] = [(r.body,) for r in a.view.last("append_messages")[0]]
    assert line == "You added erin"
    assert a.view.last("set_people") == ([trip(members=5)],)


def test_a_stale_group_event_is_ignored() -> None:
    session = GroupSession()
    chain = session.logs[GID]
    chain.append(then(chain[-1], ChangeKind.ADD, "alice", 10, member="erin"))
    a = app(session)
    calls = len(a.view.calls)
    a.presenter.handle([Event("group", group=states([GENESIS]))])
    assert a.view.calls[calls:] == []


def test_after_leaving_nothing_can_be_posted_and_the_list_says_so() -> None:
    a = app()
    a.presenter.conversation_selected(GID)
    a.presenter.group_leave_requested(GID)
    assert ("leave", GID, "") in a.session.changes
    assert a.view.last("close_group_dialog") == ()
    assert a.view.last("set_people") == ([trip(left=True)],)
    heading = a.view.last("show_group")[0]
    assert heading.left and not heading.admin
    assert heading.summary.startswith("You are no longer in this group")
    a.presenter.send_requested("still there?")
    assert a.session.posts == []
    assert "no longer in “Trip”" in a.view.last("show_error")[0]
    assert a.view.named("clear_entry") == []


def test_being_removed_is_told_by_a_group_event() -> None:
    session = GroupSession()
    chain = session.logs[GID]
    chain.append(then(chain[-1], ChangeKind.ADMIN, "alice", 1, member="bob"))
    a = app(session)
    chain.append(then(chain[-1], ChangeKind.REMOVE, "bob", 2, member="alice"))
    a.presenter.handle([Event("group", group=states(chain), left=True)])
    assert a.view.last("set_people") == ([trip(members=3, left=True)],)
