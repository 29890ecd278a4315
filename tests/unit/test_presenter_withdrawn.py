"""The desktop app when a received group message is withdrawn (the group's log says it does not
count): it leaves the open conversation, the unread counts stay right, and the status bar says
so. A recording view, a fake session with groups, an immediate runner; no Tk."""

from __future__ import annotations

from chinwag.adapters.gui.presenter import ChatPresenter, Event
from chinwag.adapters.gui.view import SearchResultRow, StatusLevel
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.ports.directory import RegistryStatus
from chinwag.domain.message import Message
from tests.unit.presenter_groups_support import GID, App, GroupSession, app, opened, posted, trip
from tests.unit.test_presenter import ImmediateRunner, RecordingView

REASON = "sent after carol was removed from Trip"


def withdrawn(message: Message) -> Event:
    return Event("withdrawn", message=message, text=REASON)


def discard(session: GroupSession, message: Message) -> None:
    """What the application does before it tells: the history no longer has the message."""
    session.group_pages[GID] = [m for m in session.group_pages.get(GID, []) if m.id != message.id]


def bodies(a: App) -> list[str]:
    _, rows = opened(a)
    return [r.body for r in rows if not r.notice]


# -- the open conversation -------------------------------------------------------------------------


def test_a_shown_message_that_is_withdrawn_leaves_the_open_group_and_the_bar_says_why() -> None:
    history = [posted(1, "bob"), posted(2, "carol"), posted(3, "bob")]
    session = GroupSession(group_pages={GID: history})
    a = app(session)
    a.presenter.conversation_selected(GID)
    assert bodies(a) == ["group message 1", "group message 2", "group message 3"]
    discard(session, history[1])
    a.presenter.handle([withdrawn(history[1])])
    assert bodies(a) == ["group message 1", "group message 3"]  # read again, without it
    assert a.view.last("set_status") == (
        f"carol's message in “Trip” was withdrawn: {REASON}",
        StatusLevel.OK,
    )


def test_a_message_withdrawn_in_the_batch_it_arrived_in_is_never_shown_nor_counted() -> None:
    a = app()
    a.presenter.conversation_selected(GID)
    a.presenter.focus_changed(False)  # what arrives now would be unread
    late = posted(4, "carol")
    a.presenter.handle([Event("message", message=late), withdrawn(late)])
    assert a.view.named("append_messages") == []
    assert a.view.last("set_people") == ([trip()],)
    assert len(a.view.named("open_group")) == 1  # nothing to read again


def test_a_page_read_before_the_withdrawal_does_not_bring_it_back() -> None:
    history = [posted(1, "bob"), posted(2, "carol")]
    runner, view = ImmediateRunner(), RecordingView()
    session = GroupSession(group_pages={GID: history})
    presenter = ChatPresenter(runner, lambda name, registry: session, "127.0.0.1:7420")
    presenter.attach(view)
    presenter.start("alice")
    runner.park = True
    presenter.conversation_selected(GID)
    runner.park = False
    presenter.handle([withdrawn(history[1])])  # the page was read; its outcome comes after
    runner.release()
    _, rows, _ = view.last("open_group")
    assert [r.body for r in rows if not r.notice] == ["group message 1"]


def test_paging_back_leaves_withdrawn_messages_out_and_goes_on_from_one_still_kept() -> None:
    history = [posted(n, "bob") for n in range(1, 121)]
    session = GroupSession(group_pages={GID: history})
    a = app(session)
    a.presenter.conversation_selected(GID)  # messages 71 to 120
    a.presenter.handle([withdrawn(history[69])])  # message 70: on the next page, not shown
    a.presenter.older_requested()  # read with it (the fake keeps it): left out
    older, _ = a.view.last("prepend_messages")
    assert [r.body for r in older][-2:] == ["group message 68", "group message 69"]
    assert a.presenter._pane.open is not None
    assert a.presenter._pane.open.oldest == history[20].id


# -- unread counts ---------------------------------------------------------------------------------


def test_an_unread_message_that_arrived_this_run_no_longer_counts_once_withdrawn() -> None:
    a = app(GroupSession(chats=["bob", GID]))
    a.presenter.focus_changed(False)
    first, second = posted(1, "carol"), posted(2, "bob")
    a.presenter.handle([Event("message", message=first), Event("message", message=second)])
    assert a.view.last("set_people")[0][0] == trip(unread=2)
    assert a.view.last("set_title") == ("(2) chinwag — alice",)
    a.presenter.handle([withdrawn(first)])
    assert a.view.last("set_people")[0][0] == trip(unread=1)
    assert a.view.last("set_title") == ("(1) chinwag — alice",)
    assert a.presenter.first_unread(GID) == second.id  # the divider goes above it now
    a.presenter.handle([withdrawn(second)])
    assert a.view.last("set_people")[0][0] == trip()
    assert a.presenter.first_unread(GID) is None


def test_an_unread_message_of_the_stored_history_is_counted_again_once_withdrawn() -> None:
    stored = [posted(5, "carol"), posted(6, "bob"), posted(7, "bob")]
    session = GroupSession(
        group_pages={GID: stored}, unread_in_groups={GID: Unread(3, stored[0].id)}
    )
    a = app(session)
    assert a.view.last("set_people") == ([trip(unread=3)],)
    discard(session, stored[0])
    session.unread_in_groups = {GID: Unread(2, stored[1].id)}  # as the history counts now
    a.presenter.handle([withdrawn(stored[0])])
    assert a.view.last("set_people") == ([trip(unread=2)],)
    assert a.presenter.first_unread(GID) == stored[1].id


def test_a_recount_never_counts_more_than_was_left_unread() -> None:
    stored = [posted(5, "carol"), posted(6, "bob")]
    session = GroupSession(
        group_pages={GID: stored}, unread_in_groups={GID: Unread(2, stored[0].id)}
    )
    a = app(session)
    a.presenter.conversation_selected(GID)  # seen: nothing is unread
    assert a.view.last("set_people") == ([trip()],)
    a.presenter.handle([withdrawn(stored[0])])  # the history would still count 1 (stale)
    assert a.view.last("set_people") == ([trip()],)
    assert a.view.last("set_title") == ("chinwag — alice",)


def test_a_withdrawal_while_the_counts_load_is_counted_again_once_they_came() -> None:
    stored = [posted(5, "carol"), posted(6, "bob")]
    runner, view = ImmediateRunner(), RecordingView()
    session = GroupSession(
        group_pages={GID: stored}, unread_in_groups={GID: Unread(2, stored[0].id)}
    )
    presenter = ChatPresenter(runner, lambda name, registry: session, "127.0.0.1:7420")
    presenter.attach(view)
    runner.park = True
    presenter.start("alice")
    runner.release()  # signed in: the counts are read (before the withdrawal, here)
    presenter.handle([withdrawn(stored[0])])
    session.unread_in_groups = {GID: Unread(1, stored[1].id)}
    runner.park = False
    runner.release()  # the counts came: read again
    assert view.last("set_people") == ([trip(unread=1)],)
    assert presenter.first_unread(GID) == stored[1].id


# -- elsewhere -------------------------------------------------------------------------------------


def test_several_withdrawals_at_once_are_one_note_that_counts_them() -> None:
    a = app()
    a.presenter.handle([withdrawn(posted(1, "carol")), withdrawn(posted(2, "carol"))])
    assert a.view.last("set_status") == (
        f"2 received messages were withdrawn, the last in “Trip”: {REASON}",
        StatusLevel.OK,
    )


def test_the_note_never_hides_that_the_registry_is_lost() -> None:
    a = app()
    a.presenter.handle([Event("registry", status=RegistryStatus.RECONNECTING, text="lost")])
    a.presenter.handle([withdrawn(posted(1, "carol"))])
    assert a.view.last("set_status") == ("Lost", StatusLevel.WARNING)


def test_a_search_result_that_was_withdrawn_says_so_when_opened() -> None:
    gone = posted(2, "carol")
    session = GroupSession(group_pages={GID: [posted(1, "bob")]})
    a = app(session)
    a.presenter.handle([withdrawn(gone)])
    result = SearchResultRow(gone.id, "Trip", "carol", gone.body, gone.sent_at, group=GID)
    a.presenter.search_result_selected(result)
    assert "withdrawn" in a.view.last("show_error")[0]


def test_a_withdrawn_event_of_a_direct_message_changes_nothing() -> None:
    a = app()
    calls = len(a.view.calls)
    direct = posted(1, "carol").model_copy(update={"group_id": None, "recipient": "alice"})
    a.presenter.handle([withdrawn(direct)])
    assert a.view.calls[calls:] == []
