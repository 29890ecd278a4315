"""The presenter: every decision of the desktop app, and no Tk.

It turns what the person does (reported by the view) into use-case calls, and what the network
reports (application events, drained from a queue on the Tk thread) into view calls. Work on the
network runs through a :class:`Runner`, whose callbacks come back on the Tk thread, so the
presenter itself is single-threaded and can be tested with a recording view and a runner that
runs everything at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar
from uuid import UUID

from chinwag.adapters.gui.view import (
    ChatView,
    MessageRow,
    PersonRow,
    SearchResultRow,
    StatusLevel,
)
from chinwag.application.ports.directory import RegistryStatus
from chinwag.domain.errors import DomainError
from chinwag.domain.message import Message, MessageState
from chinwag.domain.user import normalize_username

log = logging.getLogger(__name__)

T = TypeVar("T")

PAGE = 50
"""Messages loaded at a time when a conversation opens or the person scrolls up."""
MAX_PAGES_TO_FIND = 40
"""How far back opening a search result pages to find its message."""


class ChatSession(Protocol):
    """One signed-in (or signing-in) user, as the presenter uses it. Methods run on the
    network's loop, through the :class:`Runner`."""

    async def sign_in(self) -> str:
        """Sign in; the user's name as the registry spells it. A session whose sign-in fails
        releases what it opened and is not used again."""
        ...

    async def send(self, to: str, body: str) -> Message: ...
    async def history(self, peer: str, limit: int, before: UUID | None) -> list[Message]: ...
    async def search(self, text: str) -> list[Message]: ...
    async def conversations(self) -> list[str]: ...
    async def sign_out(self) -> None: ...


SessionFactory = Callable[[str, str], ChatSession]
"""Makes the session of a username at a registry address; raises ``DomainError`` (or
``ValueError``) with a readable message when either cannot be used."""


class Runner(Protocol):
    """Runs network work off the Tk thread and calls back on it, in order."""

    def run(
        self,
        work: Callable[[], Awaitable[T]],
        done: Callable[[T], None],
        failed: Callable[[Exception], None],
    ) -> None: ...


@dataclass(frozen=True)
class Event:
    """An application event, as queued by the network thread for the presenter."""

    kind: str
    """``message``, ``state``, ``presence``, ``registry`` or ``error``."""
    message: Message | None = None
    online: frozenset[str] = frozenset()
    status: RegistryStatus | None = None
    text: str = ""


@dataclass
class _Conversation:
    """The open conversation: what the pane shows and how to page further back."""

    peer: str
    shown: set[UUID] = field(default_factory=set)
    oldest: UUID | None = None
    more_before: bool = False
    loading: bool = True
    loading_older: bool = False
    held: list[MessageRow] = field(default_factory=list)
    """Rows that arrived while the first page was loading."""


class ChatPresenter:
    """Drives a :class:`ChatView`; implements its :class:`ViewListener`."""

    def __init__(self, runner: Runner, sessions: SessionFactory, registry: str) -> None:
        self._runner = runner
        self._sessions = sessions
        self._registry = registry
        self._view: ChatView | None = None
        self._session: ChatSession | None = None
        self._me = ""
        self._attempted = ""
        self._online: frozenset[str] = frozenset()
        self._known: dict[str, None] = {}  # people with a conversation, most recent first
        self._unread: dict[str, int] = {}
        self._open: _Conversation | None = None
        self._closing = False

    @property
    def view(self) -> ChatView:
        assert self._view is not None, "attach a view first"
        return self._view

    def attach(self, view: ChatView) -> None:
        self._view = view

    def start(self, username: str | None) -> None:
        """Sign ``username`` in at once, or ask who to sign in as."""
        if username:
            self.sign_in_requested(username, self._registry)
        else:
            self.view.show_sign_in("", self._registry)

    # -- signing in -----------------------------------------------------------------------------

    def sign_in_requested(self, username: str, registry: str) -> None:
        if self._session is not None:
            return  # already signing in
        self._registry = registry.strip()
        try:
            name = normalize_username(username)
            session = self._sessions(name, self._registry)
        except ValueError as exc:  # DomainError is a ValueError too
            self.view.show_sign_in(username, self._registry)
            self.view.show_sign_in_error(str(exc))
            return
        self._session = session
        self._attempted = username
        self.view.set_sign_in_busy(True)
        self._runner.run(session.sign_in, self._signed_in, self._sign_in_failed)

    def _signed_in(self, user: str) -> None:
        self._me = user
        self.view.show_main(user)
        self.view.set_status(f"Signed in as {user}", StatusLevel.OK)
        self._runner.run(
            self._require_session().conversations, self._conversations_loaded, self._failed
        )

    def _sign_in_failed(self, exc: Exception) -> None:
        self._session = None
        self.view.set_sign_in_busy(False)
        text = str(exc) if isinstance(exc, ValueError) else f"could not sign in: {exc}"
        if getattr(exc, "code", "") == "registry_unavailable":
            text += ". Check the address and try again."
        self.view.show_sign_in(self._attempted, self._registry)
        self.view.show_sign_in_error(text)

    def _conversations_loaded(self, peers: list[str]) -> None:
        for peer in peers:
            self._known.setdefault(peer, None)
        self._refresh_people()

    # -- what the person does -------------------------------------------------------------------

    def conversation_selected(self, peer: str) -> None:
        if self._open is not None and self._open.peer == peer:
            return
        conversation = self._switch_to(peer)
        session = self._require_session()
        self._runner.run(
            lambda: session.history(peer, PAGE, None),
            lambda page: self._first_page(conversation, page),
            self._failed,
        )

    def _switch_to(self, peer: str) -> _Conversation:
        """Make ``peer``'s conversation the open one (its first page still to load)."""
        conversation = self._open = _Conversation(peer)
        self._unread.pop(peer, None)
        self._refresh_people()
        return conversation

    def _first_page(
        self, conversation: _Conversation, page: list[Message], more_before: bool | None = None
    ) -> None:
        if self._open is not conversation:
            return  # the person moved on meanwhile
        rows = [self._row(m) for m in page]
        conversation.loading = False
        conversation.shown = {r.id for r in rows}
        conversation.oldest = rows[0].id if rows else None
        conversation.more_before = len(rows) == PAGE if more_before is None else more_before
        self.view.open_conversation(conversation.peer, rows, conversation.more_before)
        late = [r for r in conversation.held if r.id not in conversation.shown]
        conversation.held.clear()
        if late:
            conversation.shown.update(r.id for r in late)
            self.view.append_messages(late)

    def older_requested(self) -> None:
        conversation = self._open
        if (
            conversation is None
            or conversation.loading
            or conversation.loading_older
            or not conversation.more_before
        ):
            return
        conversation.loading_older = True
        session = self._require_session()
        self._runner.run(
            lambda: session.history(conversation.peer, PAGE, conversation.oldest),
            lambda page: self._older_page(conversation, page),
            self._failed,
        )

    def _older_page(self, conversation: _Conversation, page: list[Message]) -> None:
        conversation.loading_older = False
        if self._open is not conversation:
            return
        rows = [self._row(m) for m in page if m.id not in conversation.shown]
        conversation.more_before = len(page) == PAGE
        if page:
            conversation.oldest = page[0].id
        conversation.shown.update(r.id for r in rows)
        self.view.prepend_messages(rows, conversation.more_before)

    def send_requested(self, text: str) -> None:
        conversation = self._open
        if conversation is None:
            self.view.show_error("Pick somebody to talk to first.")
            return
        if not text.strip():
            return
        session = self._require_session()
        self._runner.run(
            lambda: session.send(conversation.peer, text),
            lambda _: self.view.clear_entry(),
            self._failed,
        )

    def search_requested(self, text: str) -> None:
        if not text.strip():
            return
        session = self._require_session()
        self._runner.run(
            lambda: session.search(text),
            lambda found: self.view.show_search_results(text, [self._result(m) for m in found]),
            self._failed,
        )

    def search_result_selected(self, result: SearchResultRow) -> None:
        """Open the conversation and page back until the message is shown, then point at it."""
        conversation = self._switch_to(result.peer)
        session = self._require_session()

        async def load_until_found() -> tuple[list[Message], bool]:
            messages: list[Message] = []
            before: UUID | None = None
            for _ in range(MAX_PAGES_TO_FIND):
                page = await session.history(result.peer, PAGE, before)
                messages[:0] = page
                if len(page) < PAGE:
                    return messages, False
                if any(m.id == result.message_id for m in page):
                    break
                before = page[0].id
            return messages, True

        def found(loaded: tuple[list[Message], bool]) -> None:
            if self._open is not conversation:
                return
            self._first_page(conversation, *loaded)
            if result.message_id in conversation.shown:
                self.view.focus_message(result.message_id)
            else:
                self.view.show_error("That message is too far back to open.")

        self._runner.run(load_until_found, found, self._failed)

    def close_requested(self) -> None:
        if self._closing:
            return
        self._closing = True
        session, self._session = self._session, None
        if session is None:
            self.view.close()
            return
        self.view.set_status("Signing out…", StatusLevel.OK)
        self._runner.run(session.sign_out, lambda _: self.view.close(), lambda _: self.view.close())

    # -- what the network reports ---------------------------------------------------------------

    def handle(self, events: Sequence[Event]) -> None:
        """Show a batch of events: new rows of the open conversation go to the view in one call,
        the side list is redrawn at most once."""
        appended: dict[UUID, MessageRow] = {}
        people_changed = False
        for event in events:
            if event.kind in ("message", "state"):
                assert event.message is not None
                people_changed |= self._message_event(event.message, appended)
            elif event.kind == "presence":
                self._online = event.online
                people_changed = True
            elif event.kind == "registry":
                assert event.status is not None
                self._registry_status(event.status, event.text)
            elif event.kind == "error":
                self.view.show_error(event.text)
        if appended:
            self.view.append_messages(list(appended.values()))
        if people_changed:
            self._refresh_people()

    def _message_event(self, message: Message, appended: dict[UUID, MessageRow]) -> bool:
        """Route one message event; True if the side list changed."""
        outgoing = message.sender == self._me
        peer = message.recipient if outgoing else message.sender
        new_person = peer not in self._known
        if next(iter(self._known), None) != peer:
            self._known = {peer: None, **self._known}  # most recent first
        conversation = self._open
        if conversation is None or conversation.peer != peer:
            if not outgoing and message.state is MessageState.RECEIVED:
                self._unread[peer] = self._unread.get(peer, 0) + 1
                return True
            return new_person
        row = self._row(message)
        if conversation.loading:
            conversation.held = [r for r in conversation.held if r.id != row.id] + [row]
        elif row.id in appended or row.id not in conversation.shown:
            appended[row.id] = row
            conversation.shown.add(row.id)
        else:
            self.view.update_message(row)
        return new_person

    def _registry_status(self, status: RegistryStatus, detail: str) -> None:
        if status is RegistryStatus.CONNECTED:
            self.view.set_status("Connected to the registry", StatusLevel.OK)
        elif status is RegistryStatus.RECONNECTING:
            self.view.set_status(f"Reconnecting to the registry… ({detail})", StatusLevel.WARNING)
        else:
            self.view.set_status(f"Disconnected: {detail}", StatusLevel.ERROR)

    # -- helpers ----------------------------------------------------------------------------------

    def _refresh_people(self) -> None:
        others = self._online - {self._me}
        names = list(dict.fromkeys([*sorted(others), *self._known]))
        self.view.set_people(
            [PersonRow(name, name in others, self._unread.get(name, 0)) for name in names]
        )

    def _row(self, message: Message) -> MessageRow:
        return MessageRow(
            id=message.id,
            sender=message.sender,
            body=message.body,
            sent_at=message.sent_at,
            outgoing=message.sender == self._me,
            state=message.state,
            reason=message.reason,
        )

    def _result(self, message: Message) -> SearchResultRow:
        peer = message.recipient if message.sender == self._me else message.sender
        return SearchResultRow(message.id, peer, message.sender, message.body, message.sent_at)

    def _require_session(self) -> ChatSession:
        assert self._session is not None, "not signed in"
        return self._session

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, DomainError):
            self.view.show_error(str(exc))
        else:
            log.error("unexpected failure", exc_info=exc)
            self.view.show_error(f"Something went wrong: {exc}")
