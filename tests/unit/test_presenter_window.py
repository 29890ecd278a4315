"""The desktop app's window-level decisions: unread counts and the divider, the title, read
markers, notifications and their setting, new chat by name, next/previous conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from chinwag.adapters.gui.notifier import RecordingNotifier
from chinwag.adapters.gui.preferences import Preferences
from chinwag.adapters.gui.presenter import ChatPresenter, Event
from chinwag.adapters.gui.presenter_notify import BURST_GAP, MAX_BODY, preview
from chinwag.adapters.gui.presenter_pane import MAX_FIRST_PAGE
from chinwag.adapters.gui.view import PersonRow
from chinwag.application.ports.conversation_repository import Unread
from tests.unit.test_presenter import FakeSession, ImmediateRunner, RecordingView, message


@dataclass
class Contacts(FakeSession):
    """A FakeSession whose history lists ``contacts`` (conversations and people added)."""

    contacts: list[str] = field(default_factory=list)

    async def conversations(self) -> list[str]:
        return list(self.contacts)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class App:
    presenter: ChatPresenter
    view: RecordingView
    session: Contacts
    notifier: RecordingNotifier
    clock: Clock


def app(session: Contacts | None = None, *, notifications: bool = True) -> App:
    session = session or Contacts()
    view, notifier, clock = RecordingView(), RecordingNotifier(), Clock()
    presenter = ChatPresenter(
        ImmediateRunner(),
        lambda name, registry: session,
        "127.0.0.1:7420",
        notifier=notifier,
        notifications=notifications,
        clock=clock,
    )
    presenter.attach(view)
    presenter.start("alice")
    presenter.focus_changed(True)  # as the window says once it shows with the focus
    return App(presenter, view, session, notifier, clock)


def received(*numbers: int, sender: str = "bob") -> list[Event]:
    return [Event("message", message=message(n, sender)) for n in numbers]


# -- contacts, unread counts and the title --------------------------------------------------------


def test_contacts_and_unread_counts_stored_before_are_listed_at_sign_in() -> None:
    session = Contacts(contacts=["bob", "dave"], stored_unread={"bob": Unread(3, UUID(int=7))})
    a = app(session)
    assert a.view.last("set_people") == ([PersonRow("bob", False, 3), PersonRow("dave", False, 0)],)
    assert a.view.last("set_title") == ("(3) chinwag — alice",)


def test_opening_puts_the_divider_above_the_first_unread_and_marks_it_read() -> None:
    history = [message(n) for n in range(1, 11)]
    session = Contacts(
        history_with_bob=history, contacts=["bob"], stored_unread={"bob": Unread(4, UUID(int=7))}
    )
    a = app(session)
    a.presenter.conversation_selected("bob")
    assert a.view.last("set_divider") == (UUID(int=7),)
    assert session.marked == [("bob", UUID(int=10))]
    assert a.view.last("set_people") == ([PersonRow("bob", False, 0)],)
    assert a.view.last("set_title") == ("chinwag — alice",)
    names = [name for name, _ in a.view.calls]
    assert names.index("open_conversation") < names.index("set_divider")


def test_with_more_unread_than_a_page_the_divider_goes_above_the_oldest_shown() -> None:
    history = [message(n) for n in range(1, 801)]
    session = Contacts(
        history_with_bob=history,
        contacts=["bob"],
        stored_unread={"bob": Unread(700, UUID(int=101))},
    )
    a = app(session)
    a.presenter.conversation_selected("bob")
    _, shown, more = a.view.last("open_conversation")
    assert len(shown) == MAX_FIRST_PAGE
    assert more is True
    assert a.view.last("set_divider") == (shown[0].id,)


def test_a_conversation_with_nothing_unread_opens_without_a_divider() -> None:
    a = app(Contacts(history_with_bob=[message(1)], contacts=["bob"]))
    a.presenter.conversation_selected("bob")
    assert a.view.last("set_divider") == (None,)


def test_messages_for_another_conversation_count_in_the_list_and_the_title() -> None:
    a = app(Contacts(history_with_bob=[message(1), message(2)], contacts=["bob", "carol"]))
    a.presenter.conversation_selected("carol")
    a.presenter.handle(received(1, 2))
    assert PersonRow("bob", False, 2) in a.view.last("set_people")[0]
    assert a.view.last("set_title") == ("(2) chinwag — alice",)
    assert a.session.marked == []
    a.presenter.conversation_selected("bob")
    assert a.view.last("set_title") == ("chinwag — alice",)
    assert a.session.marked == [("bob", UUID(int=2))]


def test_messages_seen_as_they_arrive_are_marked_read_and_never_counted() -> None:
    a = app(Contacts(contacts=["bob"]))
    a.presenter.conversation_selected("bob")
    a.presenter.handle(received(1, 2))
    assert a.session.marked[-1] == ("bob", UUID(int=2))
    assert a.view.last("set_people") == ([PersonRow("bob", False, 0)],)
    assert a.notifier.shown == []


def test_in_the_background_the_open_conversation_counts_and_gets_a_divider() -> None:
    a = app(Contacts(contacts=["bob"]))
    a.presenter.conversation_selected("bob")
    a.presenter.focus_changed(False)
    marked = len(a.session.marked)
    a.presenter.handle(received(1, 2))
    a.presenter.handle(received(3))
    assert a.view.named("set_divider")[-1] == (UUID(int=1),)
    assert a.view.last("set_title") == ("(3) chinwag — alice",)
    assert len(a.session.marked) == marked  # nobody saw them yet
    dividers = len(a.view.named("set_divider"))

    a.presenter.focus_changed(True)
    assert a.session.marked[-1] == ("bob", UUID(int=3))
    assert a.view.last("set_title") == ("chinwag — alice",)
    assert len(a.view.named("set_divider")) == dividers  # it stays where the news began


# -- notifications -------------------------------------------------------------------------------


def test_no_notification_while_the_window_has_focus() -> None:
    a = app(Contacts(contacts=["bob", "carol"]))
    a.presenter.handle(received(1, sender="carol"))
    assert a.notifier.shown == []


def test_a_burst_in_the_background_notifies_once_per_conversation() -> None:
    a = app(Contacts(contacts=["bob", "carol"]))
    a.presenter.focus_changed(False)
    for start in range(1, 5001, 1000):  # as the pump hands it over: 1,000 a tick
        a.presenter.handle(received(*range(start, start + 1000)))
        a.clock.now += 1
    a.presenter.handle(received(9001, sender="carol"))
    assert [(n.title, n.body) for n in a.notifier.shown] == [
        ("bob", "message 1"),
        ("carol", "message 9001"),
    ]


def test_after_a_quiet_gap_or_a_look_at_the_window_a_conversation_notifies_again() -> None:
    a = app(Contacts(contacts=["bob"]))
    a.presenter.focus_changed(False)
    a.presenter.handle(received(1))
    a.clock.now += BURST_GAP - 1
    a.presenter.handle(received(2))
    assert len(a.notifier.shown) == 1
    a.clock.now += BURST_GAP
    a.presenter.handle(received(3))
    assert len(a.notifier.shown) == 2
    a.presenter.focus_changed(True)
    a.presenter.focus_changed(False)
    a.presenter.handle(received(4))
    assert [n.body for n in a.notifier.shown] == ["message 1", "message 3", "message 4"]


def test_my_own_messages_and_states_never_notify() -> None:
    a = app(Contacts(contacts=["bob"]))
    a.presenter.focus_changed(False)
    mine = message(1, "alice", "bob")
    a.presenter.handle([Event("state", message=mine)])
    assert a.notifier.shown == []


def test_a_long_message_is_cut_to_one_line_in_its_notification() -> None:
    assert preview("line one\n\n  line   two") == "line one line two"
    long = preview("word " * 1000)
    assert len(long) <= MAX_BODY
    assert long.endswith("…")


def test_clicking_a_notification_raises_the_window_on_that_conversation() -> None:
    a = app(Contacts(history_with_bob=[message(1), message(2)], contacts=["bob"]))
    a.presenter.focus_changed(False)
    a.presenter.handle(received(2))
    a.notifier.click()
    assert a.view.named("raise_window") == [()]
    assert a.view.last("open_conversation")[0] == "bob"
    assert a.view.last("set_divider") == (UUID(int=2),)


def test_notifications_turned_off_stay_off_and_the_setting_is_kept() -> None:
    a = app(Contacts(contacts=["bob"]))
    assert a.view.last("set_notifications") == (True,)
    a.presenter.notifications_toggled(False)
    assert a.session.preferences == Preferences(notifications=False)
    assert a.view.last("set_notifications") == (False,)
    a.presenter.focus_changed(False)
    a.presenter.handle(received(1))
    assert a.notifier.shown == []

    again = app(Contacts(contacts=["bob"], preferences=Preferences(notifications=False)))
    assert again.view.last("set_notifications") == (False,)
    again.presenter.focus_changed(False)
    again.presenter.handle(received(1))
    assert again.notifier.shown == []


def test_the_no_notifications_flag_turns_them_off_for_this_run_only() -> None:
    a = app(Contacts(contacts=["bob"]), notifications=False)
    assert a.view.last("set_notifications") == (False,)
    a.presenter.focus_changed(False)
    a.presenter.handle(received(1))
    assert a.notifier.shown == []
    assert a.session.preferences == Preferences(notifications=True)  # nothing stored
    a.presenter.notifications_toggled(True)  # the menu still turns them on
    a.presenter.handle(received(2))
    assert len(a.notifier.shown) == 1


# -- new chat by name ----------------------------------------------------------------------------


def test_a_new_chat_with_somebody_offline_opens_and_lists_them() -> None:
    a = app(Contacts(contacts=["bob"]))
    a.presenter.new_chat_requested("Dave")
    assert a.session.added == ["dave"]
    assert a.view.named("set_new_chat_busy") == [(True,)]
    assert a.view.named("close_new_chat") == [()]
    assert a.view.last("open_conversation") == ("dave", [], False)
    assert [p.name for p in a.view.last("set_people")[0]] == ["dave", "bob"]
    assert "dave is offline" in a.view.last("set_status")[0]
    a.presenter.send_requested("hi dave")
    assert a.session.sent == [("dave", "hi dave")]


def test_a_new_chat_with_an_unknown_name_says_so_in_the_dialog() -> None:
    a = app(Contacts(contacts=["bob"]))
    a.presenter.new_chat_requested("zed")
    assert a.view.last("show_new_chat_error") == (
        "Nobody called zed is registered; check the spelling",
    )
    assert a.view.last("set_new_chat_busy") == (False,)
    assert a.view.named("close_new_chat") == []
    assert a.view.named("open_conversation") == []


def test_a_new_chat_with_no_name_asks_for_one() -> None:
    a = app()
    a.presenter.new_chat_requested("  ")
    assert "Type the name" in a.view.last("show_new_chat_error")[0]
    assert a.session.added == []


def test_a_new_chat_with_somebody_online_opens_without_the_offline_note() -> None:
    a = app()
    a.presenter.new_chat_requested("bob")
    assert a.view.last("open_conversation")[0] == "bob"
    assert "offline" not in a.view.last("set_status")[0]


# -- next and previous conversation ----------------------------------------------------------------


def test_next_and_previous_conversation_follow_the_list_and_go_round() -> None:
    a = app(Contacts(contacts=["bob", "carol", "dave"]))

    def opened() -> str:
        return str(a.view.last("open_conversation")[0])

    a.presenter.next_conversation_requested(1)
    assert opened() == "bob"
    a.presenter.next_conversation_requested(1)
    assert opened() == "carol"
    a.presenter.next_conversation_requested(-1)
    a.presenter.next_conversation_requested(-1)
    assert opened() == "dave"
    a.presenter.next_conversation_requested(1)
    assert opened() == "bob"


def test_next_conversation_with_nobody_listed_does_nothing() -> None:
    a = app()
    a.presenter.next_conversation_requested(1)
    assert a.view.named("open_conversation") == []


def test_read_markers_are_written_one_at_a_time_the_latest_replacing_waiting_ones() -> None:
    runner = ImmediateRunner()
    session = Contacts(contacts=["bob"])
    view = RecordingView()
    presenter = ChatPresenter(runner, lambda name, registry: session, "127.0.0.1:7420")
    presenter.attach(view)
    presenter.start("alice")
    presenter.focus_changed(True)
    presenter.conversation_selected("bob")
    runner.park = True  # the database is slow
    for n in range(1, 4):
        presenter.handle(received(n))
    runner.park = False
    runner.release()
    assert session.marked == [("bob", UUID(int=1)), ("bob", UUID(int=3))]
