"""What a newcomer tripped over in the desktop app (issue 8): a people list that reordered as
people came and went (a click went to the wrong person), a status bar whose notes hid a lost
registry, and a message-request note that stayed after the reply."""

from __future__ import annotations

from chinwag.adapters.gui.presenter import ChatPresenter, Event
from chinwag.adapters.gui.view import PersonRow, StatusLevel
from chinwag.application.ports.directory import RegistryStatus
from tests.unit.test_presenter import ImmediateRunner, RecordingView
from tests.unit.test_presenter_window import Contacts, app, received


def names(rows: list[PersonRow]) -> list[str]:
    return [r.name for r in rows]


def test_presence_changes_the_dot_never_the_position() -> None:
    a = app(Contacts(contacts=["bob", "carol", "dave"]))
    a.presenter.handle([Event("presence", online=frozenset({"bob", "carol", "dave"}))])
    assert names(a.view.last("set_people")[0]) == ["bob", "carol", "dave"]
    a.presenter.handle([Event("presence", online=frozenset({"bob", "dave"}))])
    (rows,) = a.view.last("set_people")
    assert names(rows) == ["bob", "carol", "dave"]
    assert [r.online for r in rows] == [True, False, True]
    a.presenter.handle([Event("presence", online=frozenset({"bob", "carol", "dave"}))])
    assert names(a.view.last("set_people")[0]) == ["bob", "carol", "dave"]


def test_the_latest_conversation_goes_on_top_and_state_changes_do_not_move_it() -> None:
    a = app(Contacts(contacts=["bob", "carol", "dave"]))
    a.presenter.handle(received(1, sender="dave"))
    assert names(a.view.last("set_people")[0]) == ["dave", "bob", "carol"]
    a.presenter.handle(received(2, sender="carol"))
    assert names(a.view.last("set_people")[0]) == ["carol", "dave", "bob"]
    # A delivery report for dave's old message does not bring him back up.
    old = received(1, sender="dave")[0]
    assert old.message is not None
    a.presenter.handle([Event("state", message=old.message)])
    assert names(a.view.last("set_people")[0]) == ["carol", "dave", "bob"]
    # Next/previous follow what is shown.
    a.presenter.next_conversation_requested(1)
    assert a.view.last("open_conversation")[0] == "carol"


def test_somebody_online_is_listed_only_once_there_is_a_chat_with_them() -> None:
    # A registry pushes more than the contacts (group members; everybody while it is small):
    # the list is the people the user talks to, whoever is online (issue 12).
    a = app(Contacts(contacts=["dave"]))
    a.presenter.handle([Event("presence", online=frozenset({"alice", "zoe", "bob"}))])
    assert names(a.view.last("set_people")[0]) == ["dave"]
    a.presenter.new_chat_requested("bob")
    assert names(a.view.last("set_people")[0]) == ["bob", "dave"]
    assert a.view.last("set_people")[0][0].online


def test_a_lost_registry_stays_in_the_status_bar_over_an_offline_note() -> None:
    a = app(Contacts(contacts=["carol"]))
    a.session.online = set()
    a.presenter.handle(
        [Event("registry", status=RegistryStatus.RECONNECTING, text="lost the registry…")]
    )
    a.presenter.new_chat_requested("carol")
    assert a.view.last("set_status") == ("Lost the registry…", StatusLevel.WARNING)
    a.presenter.handle([Event("message_request", name="erin")])
    assert a.view.last("set_status") == ("Lost the registry…", StatusLevel.WARNING)
    # Back to normal: notes show again.
    a.presenter.handle([Event("registry", status=RegistryStatus.CONNECTED)])
    a.presenter.new_chat_requested("carol")
    assert "carol is offline" in a.view.last("set_status")[0]


def test_the_request_note_is_short_and_goes_once_the_user_writes_back() -> None:
    a = app(Contacts(contacts=["dave"]))
    a.presenter.handle([Event("registry", status=RegistryStatus.CONNECTED)])
    a.presenter.handle([Event("message_request", name="bob")])
    assert a.view.last("set_status") == (
        "✉ Message request from bob: reply to accept",
        StatusLevel.OK,
    )
    a.presenter.conversation_selected("bob")
    a.presenter.send_requested("hi bob")
    assert a.view.last("set_status") == ("Connected to the registry", StatusLevel.OK)


def test_presence_told_while_signing_in_never_lists_you_among_your_contacts() -> None:
    # The network reports presence (you included) before sign-in has said who you are: you
    # once stayed in your own list for the whole run, as an offline contact.
    view, session, runner = RecordingView(), Contacts(contacts=["bob"]), ImmediateRunner()
    presenter = ChatPresenter(runner, lambda name, registry: session, "127.0.0.1:7420")
    presenter.attach(view)
    runner.park = True  # sign-in is under way
    presenter.start("alice")
    presenter.handle([Event("presence", online=frozenset({"alice", "bob"}))])
    runner.park = False
    runner.release()
    assert "alice" not in names(view.last("set_people")[0])
    presenter.handle([Event("presence", online=frozenset({"bob"}))])
    assert names(view.last("set_people")[0]) == ["bob"]
