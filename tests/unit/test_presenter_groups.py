"""The desktop app's decisions about groups: the list, the header and its actions, the dialogs,
posting, per-member delivery marks, membership lines. A recording view, a fake session with
groups, an immediate runner; no Tk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from chinwag.adapters.gui.group_words import (
    MAX_LISTED,
    MemberDelivery,
    change_line,
    delivery_words,
    member_line,
    merge,
    notice_id,
    notice_rows,
    shorten,
)
from chinwag.adapters.gui.notifier import RecordingNotifier
from chinwag.adapters.gui.presenter import ChatPresenter, Event
from chinwag.adapters.gui.view import (
    GroupHeading,
    GroupRow,
    MemberRow,
    MessageRow,
    PersonRow,
    SearchResultRow,
)
from chinwag.application.errors import UserOffline
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.ports.message_repository import Delivery
from chinwag.domain.errors import NotAnAdmin
from chinwag.domain.group import Change, ChangeKind
from chinwag.domain.group_log import GroupState, replay
from chinwag.domain.message import GroupStamp, Message, MessageState
from tests.unit.test_presenter import T0, FakeSession, ImmediateRunner, RecordingView, message

# -- a group and its log, made with the domain's own rules (signatures are not checked here) --


def key(name: str) -> bytes:
    return name.encode().ljust(32, b".")


def create(
    name: str = "Trip", members: Sequence[str] = ("bob", "carol", "dave"), at: datetime = T0
) -> Change:
    return Change.create(
        author="alice", key=key("alice"), name=name, members={m: key(m) for m in members}, at=at
    )


def then(before: Change, kind: ChangeKind, author: str, minutes: int, **fields: Any) -> Change:
    if "member" in fields and kind is ChangeKind.ADD:
        fields["key"] = key(fields["member"])
    return Change(
        group=before.group,
        kind=kind,
        version=before.version + 1,
        prev=before.hash(),
        author=author,
        at=T0 + timedelta(minutes=minutes),
        **fields,
    )


def states(chain: list[Change]) -> GroupState:
    return replay(chain)[-1]


GENESIS = create()
GID = GENESIS.group


def posted(n: int, sender: str = "bob", group: UUID = GID, **fields: Any) -> Message:
    values: dict[str, Any] = {
        "id": UUID(int=n),
        "conversation_id": group,
        "group_id": group,
        "sender": sender,
        "stamp": GroupStamp(seq=n, version=0),
        "body": f"group message {n}",
        "sent_at": T0 + timedelta(minutes=n),
        "state": MessageState.PENDING if sender == "alice" else MessageState.RECEIVED,
    }
    return Message(**{**values, **fields})


@dataclass
class GroupSession(FakeSession):
    """A FakeSession whose alice is in the groups of ``logs`` (each its canonical chain)."""

    logs: dict[UUID, list[Change]] = field(default_factory=lambda: {GID: [GENESIS]})
    left: set[UUID] = field(default_factory=set)
    group_pages: dict[UUID, list[Message]] = field(default_factory=dict)
    delivered: dict[UUID, list[Delivery]] = field(default_factory=dict)
    unread_in_groups: dict[UUID, Unread] = field(default_factory=dict)
    chats: list[str | UUID] = field(default_factory=lambda: [GID])
    posts: list[tuple[UUID, str]] = field(default_factory=list)
    made: list[tuple[str, list[str]]] = field(default_factory=list)
    changes: list[tuple[str, UUID, str]] = field(default_factory=list)
    group_marks: list[tuple[UUID, UUID]] = field(default_factory=list)
    refuse: Exception | None = None
    """What every group change is refused with (None: they are done)."""

    async def conversations(self) -> list[str | UUID]:
        return list(self.chats)

    async def groups(self) -> list[tuple[GroupState, bool]]:
        return [(states(chain), gid in self.left) for gid, chain in self.logs.items()]

    async def group_log(self, group: UUID) -> list[Change]:
        return list(self.logs.get(group, []))

    async def group_history(self, group: UUID, limit: int, before: UUID | None) -> list[Message]:
        messages = self.group_pages.get(group, [])
        if before is not None:
            messages = messages[: [m.id for m in messages].index(before)]
        return messages[-limit:]

    async def deliveries(self, messages: Sequence[UUID]) -> dict[UUID, list[Delivery]]:
        return {m: self.delivered[m] for m in messages if m in self.delivered}

    async def group_unread(self) -> dict[UUID, Unread]:
        return dict(self.unread_in_groups)

    async def mark_group_read(self, group: UUID, upto: UUID) -> None:
        self.group_marks.append((group, upto))

    async def post(self, group: UUID, body: str) -> Message:
        self.posts.append((group, body))
        return posted(900 + len(self.posts), "alice", group, body=body)

    def _change(self, group: UUID, kind: ChangeKind, **fields: Any) -> GroupState:
        if self.refuse is not None:
            raise self.refuse
        chain = self.logs[group]
        chain.append(then(chain[-1], kind, "alice", 30 + len(chain), **fields))
        return states(chain)

    async def create_group(self, name: str, members: Sequence[str]) -> GroupState:
        if self.refuse is not None:
            raise self.refuse
        self.made.append((name, list(members)))
        genesis = create(name, members, T0 + timedelta(hours=1))
        self.logs[genesis.group] = [genesis]
        return states([genesis])

    async def add_member(self, group: UUID, member: str) -> GroupState:
        self.changes.append(("add", group, member))
        return self._change(group, ChangeKind.ADD, member=member)

    async def remove_member(self, group: UUID, member: str) -> GroupState:
        self.changes.append(("remove", group, member))
        return self._change(group, ChangeKind.REMOVE, member=member)

    async def make_admin(self, group: UUID, member: str) -> GroupState:
        self.changes.append(("admin", group, member))
        return self._change(group, ChangeKind.ADMIN, member=member)

    async def rename_group(self, group: UUID, name: str) -> GroupState:
        self.changes.append(("rename", group, name))
        return self._change(group, ChangeKind.RENAME, name=name)

    async def leave_group(self, group: UUID) -> None:
        self.changes.append(("leave", group, ""))
        if self.refuse is not None:
            raise self.refuse
        self.left.add(group)


@dataclass
class App:
    presenter: ChatPresenter
    view: RecordingView
    session: GroupSession
    notifier: RecordingNotifier


def app(session: GroupSession | None = None) -> App:
    session = session or GroupSession()
    view, notifier = RecordingView(), RecordingNotifier()
    presenter = ChatPresenter(
        ImmediateRunner(), lambda name, registry: session, "127.0.0.1:7420", notifier=notifier
    )
    presenter.attach(view)
    presenter.start("alice")
    presenter.focus_changed(True)
    return App(presenter, view, session, notifier)


def trip(unread: int = 0, members: int = 4, left: bool = False) -> GroupRow:
    return GroupRow(GID, "Trip", unread, members, left)


def opened(a: App) -> tuple[GroupHeading, list[MessageRow]]:
    heading, rows, _ = a.view.last("open_group")
    return heading, list(rows)


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


def test_the_stored_order_goes_before_people_online_meanwhile_and_after_news() -> None:
    runner, view, session = ImmediateRunner(), RecordingView(), GroupSession(chats=[GID, "bob"])
    presenter = ChatPresenter(runner, lambda name, registry: session, "127.0.0.1:7420")
    presenter.attach(view)
    runner.park = True
    presenter.start("alice")
    runner.release()  # signed in; the stored conversations are still on their way
    presenter.handle([Event("presence", online=frozenset({"carol", "bob"}))])
    presenter.handle([Event("message", message=message(1, "dave"))])
    runner.park = False
    runner.release()
    assert [getattr(r, "name", None) for r in view.last("set_people")[0]] == [
        "dave",
        "Trip",
        "bob",
        "carol",
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


# -- the words -------------------------------------------------------------------------------------


def test_every_kind_of_change_has_its_line_from_anybodys_point_of_view() -> None:
    add = then(GENESIS, ChangeKind.ADD, "alice", 1, member="erin")
    admin = then(add, ChangeKind.ADMIN, "alice", 2, member="bob")
    remove = then(admin, ChangeKind.REMOVE, "bob", 3, member="alice")
    leave = then(remove, ChangeKind.LEAVE, "carol", 4)
    rename = then(leave, ChangeKind.RENAME, "bob", 5, name="x" * 64)
    assert [change_line(c, "bob") for c in (GENESIS, add, admin, remove, leave, rename)] == [
        "alice created the group “Trip” with you, carol and dave",
        "alice added erin",
        "alice made you an admin",
        "You removed alice",
        "carol left the group",
        f"You renamed the group to “{'x' * 31}…”",
    ]
    assert change_line(then(GENESIS, ChangeKind.ADD, "alice", 1, member="bob"), "bob") == (
        "alice added you"
    )


def test_lines_are_one_per_change_and_merge_by_time() -> None:
    rows = notice_rows([GENESIS, GENESIS], "alice")
    assert rows[0].id == notice_id(GENESIS) == rows[1].id
    late = notice_rows([then(GENESIS, ChangeKind.LEAVE, "bob", 99)], "alice")
    assert [r.notice for r in merge([], late)] == [True]


def test_a_big_groups_missing_members_are_counted_past_a_few() -> None:
    deliveries = {f"m{n:03}": MemberDelivery(MessageState.SENT) for n in range(200)}
    tally, detail = delivery_words(deliveries, lambda name, reason: f"{name} waits")
    assert tally == "0/200"
    lines = detail.split("\n")
    assert len(lines) == MAX_LISTED + 2
    assert lines[-1] == f"and {200 - MAX_LISTED} more not delivered yet"
    assert delivery_words({}, lambda n, r: "") == (
        "",
        "Nobody else was in the group when you sent it",
    )
    assert delivery_words({"bob": MemberDelivery(MessageState.DELIVERED)}, lambda n, r: "") == (
        "",
        "Delivered to bob",
    )


def test_long_names_are_bounded_everywhere_they_show() -> None:
    assert shorten("a" * 64) == "a" * 31 + "…"
    assert shorten("two  words\u3000here") == "two words here"
    names = [f"someone-with-a-long-name-{n:02}" for n in range(40)]
    line = member_line(names, {names[0]}, "alice", left=False)
    assert line.startswith("40 members: someone-with-a-long-name-00 (admin)")
    assert len(line) <= 90
