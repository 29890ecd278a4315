"""The desktop app's connection doctor and paths (issue 9), with the recording view: the window's
contents as the checks answer, and the path next to each person."""

from __future__ import annotations

from chinwag.adapters.gui.presenter import ChatPresenter, Event
from chinwag.adapters.gui.view import DoctorRow, DoctorView, PersonRow
from chinwag.application.doctor import Cause
from chinwag.application.errors import RegistryUnavailable
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import Route
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.domain.message import MessageState
from chinwag.domain.user import PeerAddress
from tests.unit.test_presenter import FakeSession, ImmediateRunner, RecordingView, message
from tests.unit.test_presenter_window import Contacts

HERE = PeerAddress(host="10.0.0.1", port=7421)
ME_OK = SelfReport(
    RegistryStatus.CONNECTED,
    HERE,
    True,
    Cause.OK,
    "the registry reached you at 10.0.0.1:7421: people can connect to you directly; nothing to do",
)
BOB_RELAYED = PeerReport(
    "bob",
    Route.RELAYED,
    Cause.OK,
    "bob's port is not reachable from outside: messages to bob go through the relay; to "
    "connect directly, bob can forward port 7421",
    41.6,
)
CAROL_OFFLINE = PeerReport("carol", None, Cause.OFFLINE, "carol is offline; ask carol")


def app(
    session: FakeSession | None = None, runner: ImmediateRunner | None = None
) -> tuple[ChatPresenter, RecordingView, FakeSession]:
    session = session or Contacts(contacts=["bob", "carol"])
    session.doctor_self = ME_OK
    session.doctor_peers = {"bob": BOB_RELAYED, "carol": CAROL_OFFLINE}
    view = RecordingView()
    presenter = ChatPresenter(
        runner or ImmediateRunner(), lambda name, registry: session, "127.0.0.1:7420"
    )
    presenter.attach(view)
    presenter.start("alice")
    presenter.handle([Event("presence", online=frozenset({"alice", "bob"}))])
    return presenter, view, session


def people(view: RecordingView) -> list[PersonRow]:
    rows: list[PersonRow] = view.last("set_people")[0]
    return rows


def test_the_doctor_shows_checking_first_then_each_answer() -> None:
    runner = ImmediateRunner()
    presenter, view, session = app(runner=runner)
    runner.park = True
    presenter.doctor_requested()
    (checking,) = view.last("show_doctor")
    assert checking == DoctorView(
        "Checking your connection…",
        "",
        False,
        (DoctorRow("bob", "", "", "", False), DoctorRow("carol", "", "", "", False)),
        busy=True,
    )
    runner.park = False
    runner.release()
    assert session.diagnosed == ["", "bob", "carol"]
    (done,) = view.last("show_doctor")
    assert done == DoctorView(
        "Registry connected · listening on 10.0.0.1:7421 · reachable directly",
        "The registry reached you at 10.0.0.1:7421: people can connect to you directly; "
        "nothing to do.",
        True,
        (
            DoctorRow("bob", "relayed", "42 ms", BOB_RELAYED.reason + ".", True),
            DoctorRow("carol", "offline", "", "carol is offline; ask carol.", False),
        ),
        busy=False,
    )


def test_a_sub_millisecond_round_trip_and_a_wildcard_address_in_words() -> None:
    presenter, view, session = app()
    session.doctor_self = SelfReport(
        RegistryStatus.CONNECTED,
        PeerAddress(host="0.0.0.0", port=45625),
        True,
        Cause.OK,
        "the registry reached you at 198.51.100.7:45625; nothing to do",
    )
    session.doctor_peers["bob"] = PeerReport("bob", Route.DIRECT, Cause.OK, "bob direct", 0.3)
    presenter.doctor_requested()
    (shown,) = view.last("show_doctor")
    assert shown.summary == "Registry connected · listening on port 45625 · reachable directly"
    assert shown.people[0] == DoctorRow("bob", "direct", "under 1 ms", "bob direct.", True)


def test_without_the_registry_the_summary_says_reachability_is_unknown() -> None:
    presenter, view, session = app()
    session.doctor_self = SelfReport(
        RegistryStatus.RECONNECTING, HERE, False, Cause.REGISTRY_UNREACHABLE, "gone; check"
    )
    presenter.doctor_requested()
    (shown,) = view.last("show_doctor")
    assert shown.summary == (
        "Registry reconnecting · listening on 10.0.0.1:7421 · "
        "reachable directly: unknown while the registry is out of reach"
    )
    assert "not reachable" not in shown.summary


def test_the_doctors_answers_put_the_path_next_to_people_online() -> None:
    presenter, view, _ = app()
    assert [p.path for p in people(view)] == ["", ""]
    presenter.doctor_requested()
    assert people(view) == [PersonRow("bob", True, 0, path="relayed"), PersonRow("carol", False, 0)]


def test_delivered_messages_tell_the_path_and_a_queue_for_no_route_removes_it() -> None:
    presenter, view, _ = app()
    sent = message(1, "alice", "bob", state=MessageState.DELIVERED)
    presenter.handle([Event("state", message=sent, route=Route.DIRECT)])
    assert people(view)[0] == PersonRow("bob", True, 0, path="direct")
    waiting = message(2, "alice", "bob", state=MessageState.QUEUED, reason="relay_refused")
    presenter.handle([Event("state", message=waiting)])
    assert people(view)[0].path == ""


def test_a_state_without_a_route_leaves_the_path_as_it_was() -> None:
    presenter, view, _ = app()
    presenter.handle(
        [
            Event(
                "state",
                message=message(1, "alice", "bob", state=MessageState.DELIVERED),
                route=Route.RELAYED,
            )
        ]
    )
    shown = len(view.named("set_people"))
    presenter.handle([Event("state", message=message(2, "alice", "bob", state=MessageState.SENT))])
    assert len(view.named("set_people")) == shown  # nothing changed: not redrawn
    assert people(view)[0].path == "relayed"


def test_somebody_who_leaves_loses_the_path_until_it_is_learnt_again() -> None:
    presenter, view, _ = app()
    presenter.handle(
        [
            Event(
                "state",
                message=message(1, "alice", "bob", state=MessageState.DELIVERED),
                route=Route.RELAYED,
            )
        ]
    )
    presenter.handle([Event("presence", online=frozenset({"alice"}))])
    assert people(view)[0] == PersonRow("bob", False, 0)
    presenter.handle([Event("presence", online=frozenset({"alice", "bob"}))])
    assert people(view)[0] == PersonRow("bob", True, 0)  # he may come back another way


def test_failures_are_shown_in_the_window_not_raised() -> None:
    presenter, view, session = app()
    session.doctor_self = RegistryUnavailable("the registry is out of reach")
    session.doctor_peers["carol"] = RuntimeError("boom")
    presenter.doctor_requested()
    (shown,) = view.last("show_doctor")
    assert (shown.summary, shown.reason, shown.ok, shown.busy) == (
        "Your connection could not be checked",
        "the registry is out of reach.",
        False,
        False,
    )
    assert shown.people[1] == DoctorRow("carol", "none", "", "Could not check: boom.", False)


def test_check_again_waits_for_the_checks_under_way_then_runs_them_all_again() -> None:
    runner = ImmediateRunner()
    presenter, _, session = app(runner=runner)
    runner.park = True
    presenter.doctor_requested()
    presenter.doctor_requested()  # "Check again" while checking: nothing more
    assert len(runner.parked) == 3
    runner.park = False
    runner.release()
    presenter.doctor_requested()
    assert session.diagnosed == ["", "bob", "carol"] * 2


def test_answers_after_the_window_closed_update_paths_but_not_the_window() -> None:
    runner = ImmediateRunner()
    presenter, view, _ = app(runner=runner)
    runner.park = True
    presenter.doctor_requested()
    shows = len(view.named("show_doctor"))
    presenter.doctor_closed()
    runner.park = False
    runner.release()
    assert len(view.named("show_doctor")) == shows
    assert people(view)[0].path == "relayed"


def test_answers_of_an_older_round_do_not_overwrite_the_new_one() -> None:
    runner = ImmediateRunner()
    presenter, view, session = app(runner=runner)
    runner.park = True
    presenter.doctor_requested()
    first_round, runner.parked = runner.parked, []
    presenter.doctor_closed()
    presenter.doctor_requested()  # closed and opened again: a new round
    session.doctor_peers["bob"] = PeerReport("bob", Route.DIRECT, Cause.OK, "bob direct", 1.0)
    runner.park = False
    runner.release()
    session.doctor_peers["bob"] = BOB_RELAYED
    for resume in first_round:  # the first round answers last, with an older path
        resume()
    (shown,) = view.last("show_doctor")
    assert shown.people[0] == DoctorRow("bob", "direct", "1 ms", "bob direct.", True)
    assert people(view)[0].path == "direct"


def test_nothing_is_checked_while_signing_in_or_closing() -> None:
    presenter, view, session = app()
    presenter.close_requested()
    presenter.doctor_requested()
    assert session.diagnosed == []
    assert view.named("show_doctor") == []
