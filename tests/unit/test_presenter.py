"""The desktop app's decisions, with a recording view, a fake session and an immediate runner."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.gui.presenter import PAGE, ChatPresenter, Event
from chinwag.adapters.gui.view import PersonRow, SearchResultRow, StatusLevel
from chinwag.application.errors import NameTaken, RegistryUnavailable, UnknownUser
from chinwag.application.ports.directory import RegistryStatus
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.message import Message, MessageState

T = TypeVar("T")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class ImmediateRunner:
    """Runs the work to completion at once and calls back at once, as if the network were
    instant; with ``park`` set, keeps the work until ``release`` (a slow network)."""

    def __init__(self) -> None:
        self.park = False
        self.parked: list[Callable[[], None]] = []

    def release(self) -> None:
        parked, self.parked = self.parked, []
        for resume in parked:
            resume()

    def run(
        self,
        work: Callable[[], Awaitable[T]],
        done: Callable[[T], None],
        failed: Callable[[Exception], None],
    ) -> None:
        async def call() -> T:
            return await work()

        if self.park:
            self.parked.append(lambda: self._now(call, done, failed))
            return
        self._now(call, done, failed)

    @staticmethod
    def _now(
        call: Callable[[], Coroutine[Any, Any, T]],
        done: Callable[[T], None],
        failed: Callable[[Exception], None],
    ) -> None:
        try:
            result = asyncio.run(call())
        except Exception as exc:
            failed(exc)
        else:
            done(result)


@dataclass
class RecordingView:
    """Remembers every call, in order, as (method, arguments)."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for method, args in self.calls if method == name]

    def last(self, name: str) -> tuple[Any, ...]:
        found = self.named(name)
        assert found, f"the view was never asked to {name}; calls: {[c[0] for c in self.calls]}"
        return found[-1]


def message(n: int, sender: str = "bob", recipient: str = "alice", **fields: Any) -> Message:
    values: dict[str, Any] = {
        "id": UUID(int=n),
        "conversation_id": direct_conversation_id(sender, recipient),
        "sender": sender,
        "recipient": recipient,
        "body": f"message {n}",
        "sent_at": T0 + timedelta(seconds=n),
        "state": MessageState.RECEIVED if recipient == "alice" else MessageState.PENDING,
    }
    return Message(**{**values, **fields})


@dataclass
class FakeSession:
    """A signed-in alice whose history with bob holds ``history`` (oldest first)."""

    history_with_bob: list[Message] = field(default_factory=list)
    refuse_sign_in: Exception | None = None
    refuse_send: Exception | None = None
    sent: list[tuple[str, str]] = field(default_factory=list)
    signed_out: bool = False

    async def sign_in(self) -> str:
        if self.refuse_sign_in is not None:
            raise self.refuse_sign_in
        return "alice"

    async def send(self, to: str, body: str) -> Message:
        if self.refuse_send is not None:
            raise self.refuse_send
        self.sent.append((to, body))
        return message(1000 + len(self.sent), "alice", to, body=body)

    async def history(self, peer: str, limit: int, before: UUID | None) -> list[Message]:
        messages = self.history_with_bob if peer == "bob" else []
        if before is not None:
            messages = messages[: [m.id for m in messages].index(before)]
        return messages[-limit:]

    async def search(self, text: str) -> list[Message]:
        return [m for m in reversed(self.history_with_bob) if text in m.body]

    async def conversations(self) -> list[str]:
        return ["bob"] if self.history_with_bob else []

    async def sign_out(self) -> None:
        self.signed_out = True


def signed_in(
    session: FakeSession | None = None, runner: ImmediateRunner | None = None
) -> tuple[ChatPresenter, RecordingView, FakeSession]:
    session = session or FakeSession()
    view = RecordingView()
    presenter = ChatPresenter(
        runner or ImmediateRunner(), lambda name, registry: session, "127.0.0.1:7420"
    )
    presenter.attach(view)
    presenter.start("Alice")
    return presenter, view, session


# -- signing in --------------------------------------------------------------------------------


def test_without_a_name_the_sign_in_dialog_asks_prefilled_with_the_registry() -> None:
    view = RecordingView()
    presenter = ChatPresenter(ImmediateRunner(), lambda n, r: FakeSession(), "10.0.0.2:7420")
    presenter.attach(view)
    presenter.start(None)
    assert view.calls == [("show_sign_in", ("", "10.0.0.2:7420"))]


def test_signing_in_shows_the_main_window_and_earlier_conversations() -> None:
    _, view, _ = signed_in(FakeSession(history_with_bob=[message(1)]))
    assert view.last("show_main") == ("alice",)
    assert view.last("set_people") == ([PersonRow("bob", online=False, unread=0)],)
    assert ("set_sign_in_busy", (True,)) in view.calls


@pytest.mark.parametrize(
    ("problem", "shown"),
    [
        (NameTaken("alice is already signed in elsewhere"), "already signed in"),
        (RegistryUnavailable("cannot reach the registry"), "Check the address and try again"),
    ],
)
def test_sign_in_failures_keep_the_dialog_open_to_retry(problem: Exception, shown: str) -> None:
    session = FakeSession(refuse_sign_in=problem)
    presenter, view, _ = signed_in(session)
    assert shown in view.last("show_sign_in_error")[0]
    assert view.last("set_sign_in_busy") == (False,)
    assert view.named("show_main") == []
    session.refuse_sign_in = None
    presenter.sign_in_requested("alice", "127.0.0.1:7420")  # retry
    assert view.last("show_main") == ("alice",)


def test_an_invalid_name_is_refused_before_any_network() -> None:
    view = RecordingView()
    made: list[str] = []

    def sessions(name: str, registry: str) -> FakeSession:
        made.append(name)
        return FakeSession()

    presenter = ChatPresenter(ImmediateRunner(), sessions, "127.0.0.1:7420")
    presenter.attach(view)
    presenter.sign_in_requested("a b", "127.0.0.1:7420")
    assert "not a valid username" in view.last("show_sign_in_error")[0]
    assert made == []


# -- presence, receiving, unread -----------------------------------------------------------------


def test_presence_updates_the_people_list_without_me() -> None:
    presenter, view, _ = signed_in()
    presenter.handle([Event("presence", online=frozenset({"alice", "bob", "carol"}))])
    assert view.last("set_people") == ([PersonRow("bob", True, 0), PersonRow("carol", True, 0)],)
    presenter.handle([Event("presence", online=frozenset({"alice", "carol"}))])
    assert view.last("set_people") == ([PersonRow("carol", True, 0)],)


def test_messages_for_a_closed_conversation_count_as_unread_until_opened() -> None:
    presenter, view, session = signed_in()
    presenter.handle([Event("presence", online=frozenset({"bob"}))])
    session.history_with_bob = [message(1), message(2)]
    presenter.handle([Event("message", message=m) for m in session.history_with_bob])
    assert view.last("set_people") == ([PersonRow("bob", True, 2)],)
    presenter.conversation_selected("bob")
    assert view.last("set_people") == ([PersonRow("bob", True, 0)],)
    peer, shown, more_before = view.last("open_conversation")
    assert (peer, [r.body for r in shown], more_before) == (
        "bob",
        ["message 1", "message 2"],
        False,
    )


def test_a_burst_for_the_open_conversation_reaches_the_view_in_one_call() -> None:
    presenter, view, _ = signed_in()
    presenter.conversation_selected("bob")
    burst = [message(n) for n in range(1, 501)]
    presenter.handle([Event("message", message=m) for m in burst])
    [(appended,)] = view.named("append_messages")
    assert [r.id for r in appended] == [m.id for m in burst]
    presenter.handle([Event("message", message=burst[0])])  # already shown: not again
    assert len(view.named("append_messages")) == 1


def test_messages_arriving_while_the_first_page_loads_are_not_lost_or_doubled() -> None:
    early = message(7)
    runner = ImmediateRunner()
    presenter, view, _ = signed_in(FakeSession(history_with_bob=[message(1), early]), runner)
    runner.park = True  # the first page is now "on the network"
    presenter.conversation_selected("bob")
    presenter.handle([Event("message", message=early), Event("message", message=message(8))])
    assert view.named("append_messages") == []
    runner.release()
    _, shown, _ = view.last("open_conversation")
    assert [r.id.int for r in shown] == [1, 7]
    assert [r.id.int for r in view.last("append_messages")[0]] == [8]


# -- sending and delivery states ----------------------------------------------------------------


def test_sending_clears_the_entry_and_states_update_the_mark() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    presenter.send_requested("hello bob")
    assert session.sent == [("bob", "hello bob")]
    assert view.named("clear_entry") == [()]
    mine = message(50, "alice", "bob", body="hello bob")
    presenter.handle([Event("state", message=mine)])
    [row] = view.last("append_messages")[0]
    assert (row.outgoing, row.state) == (True, MessageState.PENDING)
    presenter.handle([Event("state", message=mine.with_state(MessageState.SENT))])
    presenter.handle(
        [Event("state", message=mine.with_state(MessageState.FAILED, "bob is unreachable"))]
    )
    updated = view.last("update_message")[0]
    assert (updated.id, updated.state, updated.reason) == (
        mine.id,
        MessageState.FAILED,
        "bob is unreachable",
    )


def test_pending_and_sent_in_one_batch_show_one_row_in_its_latest_state() -> None:
    presenter, view, _ = signed_in()
    presenter.conversation_selected("bob")
    mine = message(50, "alice", "bob")
    presenter.handle(
        [
            Event("state", message=mine),
            Event("state", message=mine.with_state(MessageState.SENT)),
        ]
    )
    [[row]] = view.last("append_messages")
    assert row.state is MessageState.SENT
    assert view.named("update_message") == []


def test_a_refused_send_keeps_the_text_and_says_why() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    session.refuse_send = UnknownUser("bob is not online")
    presenter.send_requested("hello?")
    assert view.last("show_error") == ("bob is not online",)
    assert view.last("restore_entry") == ("hello?",)


def test_sending_with_no_conversation_open_asks_to_pick_someone() -> None:
    presenter, view, session = signed_in()
    presenter.send_requested("hello")
    assert session.sent == []
    assert "Pick somebody" in view.last("show_error")[0]


# -- paging ---------------------------------------------------------------------------------------


def test_scrolling_up_loads_older_pages_until_the_start() -> None:
    history = [message(n) for n in range(1, 2 * PAGE + 11)]
    presenter, view, _ = signed_in(FakeSession(history_with_bob=history))
    presenter.conversation_selected("bob")
    _, first, more = view.last("open_conversation")
    assert [r.id.int for r in first] == list(range(PAGE + 11, 2 * PAGE + 11))
    assert more is True
    presenter.older_requested()
    older, more = view.last("prepend_messages")
    assert [r.id.int for r in older] == list(range(11, PAGE + 11))
    assert more is True
    presenter.older_requested()
    older, more = view.last("prepend_messages")
    assert [r.id.int for r in older] == list(range(1, 11))
    assert more is False
    presenter.older_requested()  # nothing more: no further request
    assert len(view.named("prepend_messages")) == 2


# -- search ---------------------------------------------------------------------------------------


def test_search_lists_results_and_opening_one_pages_back_to_it() -> None:
    history = [message(n) for n in range(1, 3 * PAGE)]
    history[3] = message(4, body="the lunch plan")
    presenter, view, _ = signed_in(FakeSession(history_with_bob=history))
    presenter.search_requested("lunch")
    text, results = view.last("show_search_results")
    assert text == "lunch"
    assert [(r.peer, r.body) for r in results] == [("bob", "the lunch plan")]
    presenter.search_result_selected(results[0])
    _, shown, more = view.last("open_conversation")
    assert UUID(int=4) in {r.id for r in shown}
    assert more is False
    assert view.last("focus_message") == (UUID(int=4),)


def test_search_results_name_the_other_participant_of_my_own_messages() -> None:
    mine = message(9, "alice", "bob", body="lunch at noon?")
    presenter, view, _ = signed_in(FakeSession(history_with_bob=[mine]))
    presenter.search_requested("lunch")
    [result] = view.last("show_search_results")[1]
    assert result == SearchResultRow(mine.id, "bob", "alice", "lunch at noon?", mine.sent_at)


# -- status and closing ----------------------------------------------------------------------------


def test_registry_status_goes_to_the_status_bar() -> None:
    presenter, view, _ = signed_in()
    presenter.handle([Event("registry", status=RegistryStatus.RECONNECTING, text="lost it")])
    text, level = view.last("set_status")
    assert text == "Lost it"
    assert level is StatusLevel.WARNING
    presenter.handle([Event("registry", status=RegistryStatus.CONNECTED, text="")])
    assert view.last("set_status")[1] is StatusLevel.OK


def test_closing_signs_out_then_closes_the_window() -> None:
    presenter, view, session = signed_in()
    presenter.close_requested()
    assert session.signed_out
    assert view.calls[-1] == ("close", ())


# -- what the review found: late states, failures, double sends, closing mid-way ---------------


def test_a_state_for_a_message_on_a_page_not_loaded_yet_waits_for_that_page() -> None:
    mine = [message(n, "alice", "bob") for n in range(1, PAGE + 11)]
    presenter, view, _ = signed_in(FakeSession(history_with_bob=mine))
    presenter.conversation_selected("bob")
    oldest = mine[0]  # on the older page, not shown yet
    presenter.handle([Event("state", message=oldest.with_state(MessageState.FAILED, "gone"))])
    assert view.named("append_messages") == []
    assert view.named("update_message") == []
    presenter.older_requested()
    older, _ = view.last("prepend_messages")
    first = next(r for r in older if r.id == oldest.id)
    assert (first.state, first.reason) == (MessageState.FAILED, "gone")


def test_a_state_that_arrives_while_the_page_loads_beats_the_page() -> None:
    mine = message(1, "alice", "bob")  # stored as pending
    runner = ImmediateRunner()
    presenter, view, _ = signed_in(FakeSession(history_with_bob=[mine]), runner)
    runner.park = True
    presenter.conversation_selected("bob")
    presenter.handle([Event("state", message=mine.with_state(MessageState.DELIVERED))])
    runner.release()
    _, [row], _ = view.last("open_conversation")
    assert row.state is MessageState.DELIVERED
    assert view.named("append_messages") == []


class FlakyHistory(FakeSession):
    failures: int = 1

    async def history(self, peer: str, limit: int, before: UUID | None) -> list[Message]:
        if self.failures:
            self.failures -= 1
            raise OSError("database is locked")
        return await super().history(peer, limit, before)


def test_a_failed_page_leaves_the_conversation_usable() -> None:
    presenter, view, _ = signed_in(FlakyHistory(history_with_bob=[message(1)]))
    presenter.conversation_selected("bob")
    assert "database is locked" in view.last("show_error")[0]
    assert view.last("open_conversation") == ("bob", [], True)
    presenter.handle([Event("message", message=message(2))])
    assert [r.id.int for r in view.last("append_messages")[0]] == [2]
    presenter.older_requested()  # scrolling up tries again
    older, more = view.last("prepend_messages")
    assert ([r.id.int for r in older], more) == ([1], False)


def test_the_entry_empties_at_once_so_a_second_enter_cannot_send_twice() -> None:
    runner = ImmediateRunner()
    presenter, view, session = signed_in(runner=runner)
    presenter.conversation_selected("bob")
    runner.park = True  # the send is on its way
    presenter.send_requested("only once")
    assert view.named("clear_entry") == [()]
    runner.release()
    assert session.sent == [("bob", "only once")]


def test_closing_while_signing_in_signs_out_when_sign_in_is_done() -> None:
    runner = ImmediateRunner()
    runner.park = True
    session = FakeSession()
    view = RecordingView()
    presenter = ChatPresenter(runner, lambda n, r: session, "127.0.0.1:7420")
    presenter.attach(view)
    presenter.start("alice")
    presenter.close_requested()
    assert view.named("close") == []
    runner.park = False
    runner.release()
    assert session.signed_out
    assert view.calls[-1] == ("close", ())
    assert view.named("show_main") == []


def test_after_closing_nothing_reaches_the_view() -> None:
    runner = ImmediateRunner()
    presenter, view, _ = signed_in(runner=runner)
    runner.park = True  # signing out takes a while
    presenter.close_requested()
    calls = len(view.calls)
    presenter.handle([Event("message", message=message(1))])
    presenter.conversation_selected("bob")
    presenter.search_requested("x")
    presenter.send_requested("x")
    assert len(view.calls) == calls
    runner.release()
    assert view.calls[-1] == ("close", ())
