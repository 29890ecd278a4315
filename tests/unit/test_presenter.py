"""The desktop app's decisions, with a recording view, a fake session and an immediate runner."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest

from chinwag.adapters.gui.preferences import Preferences
from chinwag.adapters.gui.presenter import PAGE, ChatPresenter, Event
from chinwag.adapters.gui.view import (
    KeyChangeNotice,
    PersonRow,
    SafetyNumberView,
    SearchResultRow,
    StatusLevel,
)
from chinwag.application.errors import (
    FingerprintMismatch,
    NameTaken,
    RegistryUnavailable,
    SafetyNumberMismatch,
    UnknownContact,
    UnknownUser,
)
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.message_repository import Delivery
from chinwag.application.trust import SafetyNumber
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.application.use_cases.start_chat import StartedChat
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.errors import UnknownGroup
from chinwag.domain.group import Change
from chinwag.domain.group_log import GroupState
from chinwag.domain.identity import fingerprint
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import normalize_username

T = TypeVar("T")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
MY_KEY = bytes(range(32))
OLD_KEY = bytes([1] * 32)
NEW_KEY = bytes([2] * 32)
NUMBERS = {
    OLD_KEY: " ".join(f"{n:05d}" for n in range(10001, 10013)),
    NEW_KEY: " ".join(f"{n:05d}" for n in range(20001, 20013)),
}
"""The safety number with bob for each of his keys (12 groups of five digits)."""


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
    bottom_visible: bool = True
    """What :meth:`newest_visible` answers: the newest message is in view."""

    def newest_visible(self) -> bool:
        return self.bottom_visible

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
    bob_key: bytes = OLD_KEY
    bob_pending: bytes | None = None
    bob_verified: bool = False
    refuse_trust: Exception | None = None
    trusted: list[tuple[str, str]] = field(default_factory=list)
    numbers_typed: list[str] = field(default_factory=list)
    stored_unread: dict[str, Unread] = field(default_factory=dict)
    marked: list[tuple[str, UUID]] = field(default_factory=list)
    registered: set[str] = field(default_factory=lambda: {"bob", "carol", "dave"})
    online: set[str] = field(default_factory=lambda: {"bob"})
    added: list[str] = field(default_factory=list)
    preferences: Preferences = field(default_factory=Preferences)
    doctor_self: SelfReport | Exception | None = None
    """What the connection doctor says about alice (None: the test does not ask)."""
    doctor_peers: dict[str, PeerReport | Exception] = field(default_factory=dict)
    """What the connection doctor says about each person."""
    diagnosed: list[str] = field(default_factory=list)
    searched: list[tuple[str, int]] = field(default_factory=list)
    """What was asked of the registry's search of who is online (prefix, limit)."""
    refuse_find: Exception | None = None

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

    async def conversations(self) -> Sequence[str | UUID]:
        return ["bob"] if self.history_with_bob else []

    async def own_fingerprint(self) -> str:
        return fingerprint(MY_KEY)

    async def safety_number(self, peer: str) -> SafetyNumber:
        if peer != "bob":
            raise UnknownContact(f"you have no pinned key for {peer}: no message went either way")
        key = self.bob_pending or self.bob_key
        return SafetyNumber("bob", NUMBERS[key], key, self.bob_verified and not self.bob_pending)

    async def verify(self, peer: str, number: str) -> SafetyNumber:
        self.numbers_typed.append(number)
        expected = await self.safety_number(peer)
        if "".join(number.split()) != "".join(expected.number.split()):
            raise SafetyNumberMismatch(
                f"that is not the safety number with {peer}; nothing was changed"
            )
        self.bob_key, self.bob_pending, self.bob_verified = expected.key, None, True
        return await self.safety_number(peer)

    async def trust(self, peer: str, typed: str) -> None:
        if self.refuse_trust is not None:
            raise self.refuse_trust
        self.trusted.append((peer, typed))
        assert self.bob_pending is not None and typed == fingerprint(self.bob_pending)
        self.bob_key, self.bob_pending = self.bob_pending, None

    async def sign_out(self) -> None:
        self.signed_out = True

    async def unread(self) -> dict[str, Unread]:
        return dict(self.stored_unread)

    async def mark_read(self, peer: str, upto: UUID) -> None:
        self.marked.append((peer, upto))

    async def start_chat(self, name: str) -> StartedChat:
        peer = normalize_username(name)
        if peer not in self.registered:
            raise UnknownUser(f"nobody called {peer} is registered; check the spelling")
        self.added.append(peer)
        return StartedChat(peer, peer in self.online)

    async def find_online(self, prefix: str, limit: int) -> list[str]:
        """The registry's search: everybody online (alice too), not only whom she watches."""
        self.searched.append((prefix, limit))
        if self.refuse_find is not None:
            raise self.refuse_find
        online = self.online | {"alice"}
        return sorted(name for name in online if name.startswith(prefix.lower()))[:limit]

    async def load_preferences(self) -> Preferences:
        return self.preferences

    async def diagnose_self(self) -> SelfReport:
        self.diagnosed.append("")
        assert self.doctor_self is not None, "the test did not say what the doctor answers"
        if isinstance(self.doctor_self, Exception):
            raise self.doctor_self
        return self.doctor_self

    async def diagnose(self, peer: str) -> PeerReport:
        self.diagnosed.append(peer)
        answer = self.doctor_peers[peer]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def save_preferences(self, preferences: Preferences) -> None:
        self.preferences = preferences

    # Groups: none here (tests/unit/test_presenter_groups.py has a session with groups).

    async def groups(self) -> list[tuple[GroupState, bool]]:
        return []

    async def group_log(self, group: UUID) -> list[Change]:
        return []

    async def group_history(self, group: UUID, limit: int, before: UUID | None) -> list[Message]:
        return []

    async def deliveries(self, messages: Sequence[UUID]) -> dict[UUID, list[Delivery]]:
        return {}

    async def group_unread(self) -> dict[UUID, Unread]:
        return {}

    async def mark_group_read(self, group: UUID, upto: UUID) -> None:
        raise UnknownGroup("no groups here")

    async def post(self, group: UUID, body: str) -> Message:
        raise UnknownGroup("no groups here")

    async def create_group(self, name: str, members: Sequence[str]) -> GroupState:
        raise UnknownGroup("no groups here")

    async def add_member(self, group: UUID, member: str) -> GroupState:
        raise UnknownGroup("no groups here")

    async def remove_member(self, group: UUID, member: str) -> GroupState:
        raise UnknownGroup("no groups here")

    async def make_admin(self, group: UUID, member: str) -> GroupState:
        raise UnknownGroup("no groups here")

    async def rename_group(self, group: UUID, name: str) -> GroupState:
        raise UnknownGroup("no groups here")

    async def leave_group(self, group: UUID) -> None:
        raise UnknownGroup("no groups here")


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
    presenter.focus_changed(True)  # as the window says once it shows with the focus
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


def test_presence_lights_the_dots_of_the_people_listed_and_lists_nobody_new() -> None:
    presenter, view, _ = signed_in(FakeSession(history_with_bob=[message(1)]))
    # carol is pushed (a group of alice's, or a small registry's everybody): not a contact.
    presenter.handle([Event("presence", online=frozenset({"alice", "bob", "carol"}))])
    assert view.last("set_people") == ([PersonRow("bob", True, 0)],)
    presenter.handle([Event("presence", online=frozenset({"alice", "carol"}))])
    # bob stays where he was, offline: presence changes the dot, never the rows.
    assert view.last("set_people") == ([PersonRow("bob", False, 0)],)


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


# -- identity: my key, key changes, verifying, accepting ------------------------------------------


def bob_changed_key(
    presenter: ChatPresenter, session: FakeSession, *, verified: bool = False
) -> None:
    """Bob shows a new key (the application pinned the old one and holds him)."""
    session.bob_pending, session.bob_verified = NEW_KEY, verified
    presenter.handle(
        [Event("identity_changed", name="bob", key=NEW_KEY, previous=OLD_KEY, verified=verified)]
    )


def test_my_own_key_is_shown_once_signed_in() -> None:
    _, view, _ = signed_in()
    assert view.last("show_own_key") == (fingerprint(MY_KEY),)


def test_a_key_change_marks_the_person_and_warns_over_their_conversation() -> None:
    presenter, view, session = signed_in(FakeSession(history_with_bob=[message(1)]))
    bob_changed_key(presenter, session)
    assert view.last("set_people") == ([PersonRow("bob", False, 0, key_changed=True)],)
    assert view.named("show_key_change") == []  # nothing open to warn over yet

    presenter.conversation_selected("bob")
    [notice] = view.last("show_key_change")
    assert notice == KeyChangeNotice(
        peer="bob",
        title="bob's key changed.",
        text=notice.text,
        previous=fingerprint(OLD_KEY),
        new=fingerprint(NEW_KEY),
        can_accept=True,
        loud=False,
    )
    assert notice.text.startswith(
        "Nothing is sent to or accepted from bob until you accept the new key."
    )

    presenter.conversation_selected("carol")
    assert view.last("show_key_change") == (None,)


def test_a_change_in_the_open_conversation_shows_the_banner_at_once() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    assert view.last("show_key_change") == (None,)
    bob_changed_key(presenter, session)
    [notice] = view.last("show_key_change")
    assert notice is not None
    assert (notice.peer, notice.new) == ("bob", fingerprint(NEW_KEY))


def test_a_verified_contacts_change_is_loud_and_only_offers_verify() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    bob_changed_key(presenter, session, verified=True)
    [notice] = view.last("show_key_change")
    assert notice.loud
    assert not notice.can_accept
    assert "you had verified bob" in notice.title
    assert "until you verify the new key" in notice.text

    presenter.accept_key_requested("bob")  # not offered; if asked anyway, it means verify
    assert session.trusted == []
    assert view.last("show_verify")[0].peer == "bob"


def test_accepting_the_new_key_trusts_its_fingerprint_and_the_warning_goes() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    bob_changed_key(presenter, session)
    presenter.accept_key_requested("bob")
    assert session.trusted == [("bob", fingerprint(NEW_KEY))]
    assert view.last("show_key_change") == (None,)
    assert view.last("set_people") == ([PersonRow("bob", False, 0, key_changed=False)],)

    # The application says so too; the messages that waited go out (their marks follow).
    calls = len(view.named("show_key_change"))
    presenter.handle([Event("identity_trusted", name="bob", key=NEW_KEY)])
    assert view.last("show_key_change") == (None,)
    assert len(view.named("show_key_change")) == calls + 1
    presenter.accept_key_requested("bob")  # nothing waits any more: nothing to accept
    assert len(session.trusted) == 1


def test_a_key_accepted_elsewhere_removes_the_warning() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    bob_changed_key(presenter, session)
    presenter.handle([Event("identity_trusted", name="bob", key=NEW_KEY)])
    assert view.last("show_key_change") == (None,)
    assert view.last("set_people") == ([PersonRow("bob", False, 0)],)


def test_a_refused_accept_is_shown_in_the_status_bar() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    bob_changed_key(presenter, session)
    session.refuse_trust = FingerprintMismatch("that is not bob's new key")
    presenter.accept_key_requested("bob")
    assert view.last("show_error") == ("that is not bob's new key",)
    assert view.last("show_key_change")[0] is not None  # still waiting for an answer


def test_messages_held_for_a_key_change_say_so_on_hover() -> None:
    held = message(5, "alice", "bob", state=MessageState.QUEUED, reason="identity_changed")
    offline = message(6, "alice", "bob", state=MessageState.QUEUED)
    presenter, view, session = signed_in(FakeSession(history_with_bob=[held, offline]))
    presenter.conversation_selected("bob")
    _, rows, _ = view.last("open_conversation")
    assert [r.reason for r in rows] == [
        "a key changed: nothing moves until the new key is accepted",
        "bob is not online; it goes out when they are back",
    ]

    bob_changed_key(presenter, session)
    updated = {row.id: row.reason for (row,) in view.named("update_message")}
    key_changed = "bob's key changed: nothing is sent to bob until you accept the new key"
    assert updated == {held.id: key_changed, offline.id: key_changed}

    presenter.accept_key_requested("bob")
    presenter.handle([Event("state", message=held.with_state(MessageState.DELIVERED))])
    row = view.last("update_message")[0]
    assert (row.id, row.state, row.reason) == (held.id, MessageState.DELIVERED, None)


def test_a_message_queued_after_the_change_says_why_at_once() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    bob_changed_key(presenter, session, verified=True)
    mine = message(7, "alice", "bob", state=MessageState.QUEUED, reason="identity_changed")
    presenter.handle([Event("state", message=mine)])
    [[row]] = view.last("append_messages")
    assert row.reason == "bob's key changed: nothing is sent to bob until you verify the new key"


def test_the_verify_dialog_shows_the_number_in_three_lines_and_the_key() -> None:
    presenter, view, _ = signed_in()
    presenter.conversation_selected("bob")
    presenter.verify_requested("bob")
    assert view.last("show_verify") == (
        SafetyNumberView(
            peer="bob",
            lines=(
                "10001 10002 10003 10004",
                "10005 10006 10007 10008",
                "10009 10010 10011 10012",
            ),
            fingerprint=fingerprint(OLD_KEY),
            verified=False,
            note="",
        ),
    )


def test_while_a_change_waits_the_dialog_shows_the_new_keys_number_and_says_so() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    bob_changed_key(presenter, session, verified=True)
    presenter.verify_requested("bob")
    [dialog] = view.last("show_verify")
    assert dialog.fingerprint == fingerprint(NEW_KEY)
    assert dialog.lines[0] == "20001 20002 20003 20004"
    assert not dialog.verified
    assert "key changed" in dialog.note


def test_a_wrong_number_is_an_error_in_the_dialog_and_changes_nothing() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    bob_changed_key(presenter, session, verified=True)
    presenter.verify_requested("bob")
    calls = len(view.calls)
    presenter.mark_verified_requested("bob", "10001 10002 10003 10004")
    assert session.numbers_typed == ["10001 10002 10003 10004"]
    assert view.calls[calls:] == [
        ("set_verify_busy", (True,)),
        ("set_verify_busy", (False,)),
        ("show_verify_error", ("That is not the safety number with bob; nothing was changed",)),
    ]
    assert session.bob_pending == NEW_KEY


def test_the_right_number_marks_verified_and_accepts_the_waiting_key() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    bob_changed_key(presenter, session, verified=True)
    presenter.verify_requested("bob")
    presenter.mark_verified_requested("bob", NUMBERS[NEW_KEY].replace(" ", ""))
    [dialog] = view.last("show_verify")
    assert (dialog.verified, dialog.fingerprint, dialog.note) == (
        True,
        fingerprint(NEW_KEY),
        "",
    )
    assert view.last("show_key_change") == (None,)
    assert view.last("set_people") == ([PersonRow("bob", False, 0)],)
    assert view.named("show_verify_error") == []


def test_an_empty_number_is_asked_for_without_calling_verify() -> None:
    presenter, view, session = signed_in()
    presenter.verify_requested("bob")
    presenter.mark_verified_requested("bob", "   ")
    assert session.numbers_typed == []
    assert "Type the number bob reads out" in view.last("show_verify_error")[0]


def test_verifying_somebody_never_talked_to_says_why_in_the_status_bar() -> None:
    presenter, view, _ = signed_in()
    presenter.conversation_selected("carol")
    presenter.verify_requested("carol")
    assert view.named("show_verify") == []
    assert "no pinned key for carol" in view.last("show_error")[0]


def test_a_change_while_the_dialog_is_open_shows_the_new_number() -> None:
    presenter, view, session = signed_in()
    presenter.conversation_selected("bob")
    presenter.verify_requested("bob")
    bob_changed_key(presenter, session)
    [dialog] = view.last("show_verify")
    assert dialog.fingerprint == fingerprint(NEW_KEY)
    presenter.verify_closed("bob")
    shown = len(view.named("show_verify"))
    presenter.handle([Event("identity_trusted", name="bob", key=NEW_KEY)])
    assert len(view.named("show_verify")) == shown  # closed: not opened again


def test_marking_a_dialog_no_longer_asked_for_still_ends_its_busy_state() -> None:
    presenter, view, _ = signed_in()
    presenter.verify_requested("bob")
    presenter.verify_requested("carol")  # never talked to: refused, said in the status bar
    presenter.mark_verified_requested("bob", NUMBERS[OLD_KEY])  # from bob's dialog, still up
    assert view.last("set_verify_busy") == (False,)
    assert "no pinned key for carol" in view.last("show_error")[0]


def test_after_closing_key_outcomes_do_not_reach_the_view() -> None:
    runner = ImmediateRunner()
    presenter, view, session = signed_in(runner=runner)
    presenter.conversation_selected("bob")
    bob_changed_key(presenter, session)
    presenter.verify_requested("bob")
    runner.park = True
    presenter.accept_key_requested("bob")
    presenter.mark_verified_requested("bob", "12345")
    presenter.verify_requested("bob")
    presenter.close_requested()
    runner.park = False
    runner.release()
    assert view.calls[-1] == ("close", ())
    assert view.calls[-2] == ("set_status", ("Signing out…", StatusLevel.OK))


def test_a_message_request_is_marked_until_the_user_writes_back() -> None:
    presenter, view, _ = signed_in()
    presenter.handle([Event("message_request", name="carol")])
    assert PersonRow("carol", False, 0, request=True) in view.last("set_people")[0]
    text, _level = view.last("set_status")
    assert "carol" in text
    assert "message request" in text.lower()

    presenter.conversation_selected("carol")
    presenter.send_requested("hi carol")
    assert PersonRow("carol", False, 0) in view.last("set_people")[0]
