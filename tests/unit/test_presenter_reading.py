"""When the desktop app counts a message unread and when it marks it read: counts loaded at
sign-in while messages keep arriving, messages the person has scrolled away from, and a window
that never had the focus."""

from __future__ import annotations

from uuid import UUID

from chinwag.adapters.gui.notifier import RecordingNotifier
from chinwag.adapters.gui.presenter import ChatPresenter, Event
from chinwag.adapters.gui.view import PersonRow, StatusLevel
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.ports.directory import RegistryStatus
from tests.unit.test_presenter import ImmediateRunner, RecordingView, message
from tests.unit.test_presenter_window import Contacts, app, received


def slow_start(session: Contacts) -> tuple[ChatPresenter, RecordingView, ImmediateRunner]:
    """Signed in, with the contacts and unread counts still loading (a slow database)."""
    runner, view = ImmediateRunner(), RecordingView()
    presenter = ChatPresenter(runner, lambda name, registry: session, "127.0.0.1:7420")
    presenter.attach(view)
    runner.park = True
    presenter.start("alice")
    runner.release()  # signed in; what it asks next waits
    assert view.named("show_main") and runner.parked
    return presenter, view, runner


def test_messages_arriving_while_the_counts_load_add_up_and_the_divider_is_the_oldest() -> None:
    # 5 stored unread (1-5) before signing in; 6-8 arrive while the counts load.
    history = [message(n) for n in range(1, 9)]
    session = Contacts(
        history_with_bob=history, contacts=["bob"], stored_unread={"bob": Unread(5, UUID(int=1))}
    )
    presenter, view, runner = slow_start(session)
    presenter.focus_changed(False)
    presenter.handle(received(6, 7, 8))
    runner.park = False
    runner.release()
    assert view.last("set_people") == ([PersonRow("bob", False, 8)],)
    assert view.last("set_title") == ("(8) chinwag — alice",)
    presenter.focus_changed(True)
    presenter.conversation_selected("bob")
    assert view.last("set_divider") == (UUID(int=1),)  # not 6: the stored ones are older


def test_a_conversation_seen_while_the_counts_load_is_not_counted_again() -> None:
    history = [message(n) for n in range(1, 6)]
    session = Contacts(
        history_with_bob=history, contacts=["bob"], stored_unread={"bob": Unread(5, UUID(int=1))}
    )
    presenter, view, runner = slow_start(session)
    presenter.focus_changed(True)
    runner.park = False
    presenter.conversation_selected("bob")  # seen up to 5 before the counts came
    assert session.marked == [("bob", UUID(int=5))]
    runner.release()
    assert view.last("set_people") == ([PersonRow("bob", False, 0)],)
    assert view.last("set_title") == ("chinwag — alice",)


# -- what the person sees -------------------------------------------------------------------------


def test_messages_below_the_view_are_unread_until_the_person_scrolls_down() -> None:
    a = app(Contacts(history_with_bob=[message(1)], contacts=["bob"]))
    a.presenter.conversation_selected("bob")
    marked = list(a.session.marked)
    a.view.bottom_visible = False  # scrolled up: the view shows the "new messages" hint
    a.presenter.handle(received(2, 3))
    assert a.session.marked == marked
    assert a.view.last("set_divider") == (UUID(int=2),)
    assert a.view.last("set_title") == ("(2) chinwag — alice",)
    assert a.view.last("set_people") == ([PersonRow("bob", False, 2)],)

    a.presenter.handle(received(4))
    assert a.view.named("set_divider")[-1] == (UUID(int=2),)  # where the news began
    assert a.view.last("set_title") == ("(3) chinwag — alice",)

    a.view.bottom_visible = True
    a.presenter.bottom_reached()
    assert a.session.marked[-1] == ("bob", UUID(int=4))
    assert a.view.last("set_title") == ("chinwag — alice",)


def test_reaching_the_bottom_in_the_background_marks_nothing() -> None:
    a = app(Contacts(history_with_bob=[message(1)], contacts=["bob"]))
    a.presenter.conversation_selected("bob")
    a.presenter.focus_changed(False)
    a.presenter.handle(received(2))
    marked = list(a.session.marked)
    a.presenter.bottom_reached()
    assert a.session.marked == marked
    a.view.bottom_visible = False
    a.presenter.focus_changed(True)  # back, but scrolled away from the news
    assert a.session.marked == marked
    assert a.view.last("set_title") == ("(1) chinwag — alice",)


def test_opening_with_the_newest_out_of_view_leaves_it_unread() -> None:
    history = [message(n) for n in range(1, 41)]
    session = Contacts(
        history_with_bob=history, contacts=["bob"], stored_unread={"bob": Unread(30, UUID(int=11))}
    )
    a = app(session)
    a.view.bottom_visible = False  # the divider went to the top; the newest is further down
    a.presenter.conversation_selected("bob")
    assert a.view.last("set_divider") == (UUID(int=11),)
    assert session.marked == []
    assert a.view.last("set_title") == ("(30) chinwag — alice",)
    a.view.bottom_visible = True
    a.presenter.bottom_reached()
    assert session.marked == [("bob", UUID(int=40))]


# -- the focus at start ---------------------------------------------------------------------------


def test_until_the_window_says_it_has_the_focus_nothing_is_taken_as_seen() -> None:
    session = Contacts(history_with_bob=[message(1)], contacts=["bob"])
    view, notifier = RecordingView(), RecordingNotifier()
    presenter = ChatPresenter(
        ImmediateRunner(), lambda name, registry: session, "127.0.0.1:7420", notifier=notifier
    )
    presenter.attach(view)
    presenter.start("alice")
    presenter.conversation_selected("bob")
    presenter.handle(received(2))
    assert session.marked == []
    assert view.last("set_title") == ("(1) chinwag — alice",)
    assert [(n.title, n.body) for n in notifier.shown] == [("bob", "message 2")]
    presenter.focus_changed(True)
    assert session.marked == [("bob", UUID(int=2))]


# -- the status bar -------------------------------------------------------------------------------


def test_an_offline_note_gives_way_when_they_come_online() -> None:
    a = app(Contacts(contacts=["carol"]))
    a.presenter.handle([Event("registry", status=RegistryStatus.CONNECTED)])
    a.session.online = set()
    a.presenter.new_chat_requested("bob")
    assert "bob is offline" in a.view.last("set_status")[0]
    a.presenter.handle([Event("presence", online=frozenset({"carol"}))])
    assert "bob is offline" in a.view.last("set_status")[0]  # still true
    a.presenter.handle([Event("presence", online=frozenset({"bob", "carol"}))])
    assert a.view.last("set_status") == ("Connected to the registry", StatusLevel.OK)
