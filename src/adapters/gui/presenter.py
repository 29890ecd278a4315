"""The presenter: every decision of the desktop app, and no Tk.

It turns what the person does (reported by the view) into use-case calls, and what the network
reports (application events, drained from a queue on the Tk thread) into view calls. Work on the
network runs through a :class:`Runner`, whose callbacks come back on the Tk thread, so the
presenter itself is single-threaded and can be tested with a recording view and a runner that
runs everything at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID

from chinwag.adapters.gui.identity import IdentityPresenter
from chinwag.adapters.gui.rows import Conversation, Rows
from chinwag.adapters.gui.session import ChatSession, Event, Runner, SessionFactory
from chinwag.adapters.gui.view import (
    ChatView,
    MessageRow,
    PersonRow,
    SearchResultRow,
    StatusLevel,
)
from chinwag.application.ports.directory import RegistryStatus
from chinwag.domain.errors import DomainError
from chinwag.domain.message import Message
from chinwag.domain.user import normalize_username

__all__ = ["PAGE", "ChatPresenter", "ChatSession", "Event", "Runner", "SessionFactory"]

log = logging.getLogger(__name__)

PAGE = 50
"""Messages loaded at a time when a conversation opens or the person scrolls up."""
MAX_PAGES_TO_FIND = 40
"""How far back opening a search result pages to find its message."""


class ChatPresenter:
    """Drives a :class:`ChatView`; implements its :class:`ViewListener`.

    Once closing, it ignores what the person does and what the network reports: the window is
    about to go, and nothing may touch it after :meth:`ChatView.close`.
    """

    def __init__(self, runner: Runner, sessions: SessionFactory, registry: str) -> None:
        self._runner = runner
        self._sessions = sessions
        self._registry = registry
        self._view: ChatView | None = None
        self._session: ChatSession | None = None
        self._signing_in = False
        self._me = ""
        self._attempted = ""
        self._online: frozenset[str] = frozenset()
        self._known: dict[str, None] = {}  # people with a conversation, most recent first
        self._requests: set[str] = set()  # wrote first, not answered yet (this run)
        self._unread: dict[str, int] = {}
        self._open: Conversation | None = None
        self._keys = IdentityPresenter(self, runner)
        self._rows = Rows(self._keys)
        self.closing = False
        self.closed = False

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
        if self._session is not None or self.closing:
            return  # already signing in (or signed in), or leaving
        self._registry = registry.strip()
        try:
            name = normalize_username(username)
            session = self._sessions(name, self._registry)
        except ValueError as exc:  # DomainError is a ValueError too
            self.view.show_sign_in(username, self._registry)
            self.view.show_sign_in_error(str(exc))
            return
        self._session = session
        self._signing_in = True
        self._attempted = username
        self.view.set_sign_in_busy(True)
        self._runner.run(session.sign_in, self._signed_in, self._sign_in_failed)

    def _signed_in(self, user: str) -> None:
        self._signing_in = False
        self._me = self._rows.me = user
        if self.closing:  # the window was closed while signing in: leave at once
            self._sign_out_and_close()
            return
        self.view.show_main(user)
        self.view.set_status(f"Signed in as {user}", StatusLevel.OK)
        self._keys.signed_in()
        self._runner.run(
            self._require_session().conversations, self._conversations_loaded, self._failed
        )

    def _sign_in_failed(self, exc: Exception) -> None:
        self._signing_in = False
        self._session = None
        if self.closing:
            self._close_view()
            return
        self.view.set_sign_in_busy(False)
        text = str(exc) if isinstance(exc, ValueError) else f"could not sign in: {exc}"
        if getattr(exc, "code", "") == "registry_unavailable":
            text += ". Check the address and try again."
        self.view.show_sign_in(self._attempted, self._registry)
        self.view.show_sign_in_error(text)

    def _conversations_loaded(self, peers: list[str]) -> None:
        if self.closing:
            return
        for peer in peers:
            self._known.setdefault(peer, None)
        self._refresh_people()

    # -- what the person does -------------------------------------------------------------------

    def conversation_selected(self, peer: str) -> None:
        session = self._usable_session()
        if session is None or (self._open is not None and self._open.peer == peer):
            return
        conversation = self._switch_to(peer)
        self._runner.run(
            lambda: session.history(peer, PAGE, None),
            lambda page: self._first_page(conversation, page),
            lambda exc: self._first_page_failed(conversation, exc),
        )

    def _switch_to(self, peer: str) -> Conversation:
        """Make ``peer``'s conversation the open one (its first page still to load)."""
        conversation = self._open = Conversation(peer)
        self._rows.forget()
        self._unread.pop(peer, None)
        self._refresh_people()
        return conversation

    def _first_page(
        self, conversation: Conversation, page: list[Message], more_before: bool | None = None
    ) -> None:
        if self._open is not conversation or self.closing:
            return  # the person moved on meanwhile
        # What events said since the page was read is newer than the page.
        rows = [self._latest(conversation, m) for m in page]
        conversation.loading = False
        conversation.show(rows)
        conversation.oldest = page[0].id if page else None
        conversation.more_before = len(page) == PAGE if more_before is None else more_before
        self.view.open_conversation(conversation.peer, rows, conversation.more_before)
        self.view.show_key_change(self._keys.notice(conversation.peer))
        late = list(conversation.held.values())
        conversation.held.clear()
        if late:
            conversation.show(late)
            self.view.append_messages(late)

    def _latest(self, conversation: Conversation, message: Message) -> MessageRow:
        """A stored message as the pane should show it: in the latest state events gave it."""
        newer = conversation.newer.pop(message.id, None) or conversation.held.pop(message.id, None)
        return newer or self._row(message)

    def _first_page_failed(self, conversation: Conversation, exc: Exception) -> None:
        """Show what there is, and let scrolling up try again, so nothing stays stuck."""
        self._failed(exc)
        self._first_page(conversation, [], more_before=True)

    def older_requested(self) -> None:
        conversation = self._open
        session = self._usable_session()
        if (
            session is None
            or conversation is None
            or conversation.loading
            or conversation.loading_older
            or not conversation.more_before
        ):
            return
        conversation.loading_older = True
        self._runner.run(
            lambda: session.history(conversation.peer, PAGE, conversation.oldest),
            lambda page: self._older_page(conversation, page),
            lambda exc: self._older_page_failed(conversation, exc),
        )

    def _older_page(self, conversation: Conversation, page: list[Message]) -> None:
        conversation.loading_older = False
        if self._open is not conversation or self.closing:
            return
        rows = [self._latest(conversation, m) for m in page if m.id not in conversation.shown]
        conversation.more_before = len(page) == PAGE
        if page:
            conversation.oldest = page[0].id
        conversation.show(rows)
        self.view.prepend_messages(rows, conversation.more_before)

    def _older_page_failed(self, conversation: Conversation, exc: Exception) -> None:
        conversation.loading_older = False
        self._failed(exc)
        if self._open is conversation and not self.closing:
            self.view.prepend_messages([], conversation.more_before)  # may ask again

    def send_requested(self, text: str) -> None:
        conversation = self._open
        session = self._usable_session()
        if session is None or not text.strip():
            return
        if conversation is None:
            self.view.show_error("Pick somebody to talk to first.")
            return
        # The entry empties now, so a second Enter cannot send the text again; a refusal puts
        # the text back.
        self.view.clear_entry()

        def refused(exc: Exception) -> None:
            self._failed(exc)
            if not self.closing:
                self.view.restore_entry(text)

        def sent(_: object) -> None:
            if conversation.peer in self._requests:  # writing back answers the request
                self._requests.discard(conversation.peer)
                self._refresh_people()

        self._runner.run(lambda: session.send(conversation.peer, text), sent, refused)

    def search_requested(self, text: str) -> None:
        session = self._usable_session()
        if session is None or not text.strip():
            return
        self._runner.run(
            lambda: session.search(text),
            lambda found: self._search_results(text, found),
            self._failed,
        )

    def _search_results(self, text: str, found: list[Message]) -> None:
        if not self.closing:
            self.view.show_search_results(text, [self._rows.result(m) for m in found])

    def search_result_selected(self, result: SearchResultRow) -> None:
        """Open the conversation and page back until the message is shown, then point at it."""
        session = self._usable_session()
        if session is None:
            return
        conversation = self._switch_to(result.peer)

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
            if self._open is not conversation or self.closing:
                return
            self._first_page(conversation, *loaded)
            if result.message_id in conversation.shown:
                self.view.focus_message(result.message_id)
            else:
                self.view.show_error("That message is too far back to open.")

        self._runner.run(
            load_until_found, found, lambda exc: self._first_page_failed(conversation, exc)
        )

    def close_requested(self) -> None:
        if self.closing:
            return
        self.closing = True
        if self._signing_in:
            self.view.set_status("Closing after signing in…", StatusLevel.OK)
            return  # the sign-in outcome closes the window
        self._sign_out_and_close()

    def _sign_out_and_close(self) -> None:
        session, self._session = self._session, None
        if session is None:
            self._close_view()
            return
        self.view.set_status("Signing out…", StatusLevel.OK)
        self._runner.run(
            session.sign_out, lambda _: self._close_view(), lambda _: self._close_view()
        )

    def _close_view(self) -> None:
        self.closed = True
        self.view.close()

    # -- what the network reports ---------------------------------------------------------------

    def handle(self, events: Sequence[Event]) -> None:
        """Show a batch of events: new rows of the open conversation go to the view in one call,
        the side list is redrawn at most once."""
        if self.closing:
            return
        appended: dict[UUID, MessageRow] = {}
        people_changed = False
        keys_changed: set[str] = set()
        for event in events:
            if event.kind in ("message", "state"):
                assert event.message is not None
                people_changed |= self._message_event(event, event.message, appended)
            elif event.kind == "presence":
                self._online = event.online
                people_changed = True
            elif event.kind == "registry":
                assert event.status is not None
                self._registry_status(event.status, event.text)
            elif event.kind == "error":
                self.view.show_error(event.text)
            elif event.kind == "identity_changed":
                self._keys.changed(event.name, event.key, event.previous, event.verified)
                self._known.setdefault(event.name, None)
                keys_changed.add(event.name)
            elif event.kind == "identity_trusted":
                self._keys.trusted(event.name, event.key)
                keys_changed.add(event.name)
            elif event.kind == "message_request":
                self._requests.add(event.name)
                self._known.setdefault(event.name, None)
                people_changed = True
                self.view.set_status(
                    f"✉ {event.name}, whom you have not written to, sent you a message request: "
                    "write back to accept it.",
                    StatusLevel.OK,
                )
        if appended:
            self.view.append_messages(list(appended.values()))
        for name in keys_changed:
            self._show_key_change(name)
        if people_changed or keys_changed:
            self._refresh_people()

    def _message_event(
        self, event: Event, message: Message, appended: dict[UUID, MessageRow]
    ) -> bool:
        """Route one message event; True if the side list changed."""
        outgoing = message.sender == self._me
        peer = message.recipient if outgoing else message.sender
        new_person = peer not in self._known
        if next(iter(self._known), None) != peer:
            self._known = {peer: None, **self._known}  # most recent first
        conversation = self._open
        if conversation is None or conversation.peer != peer:
            if event.kind == "message":
                self._unread[peer] = self._unread.get(peer, 0) + 1
                return True
            return new_person
        row = self._row(message)
        # New to the pane: a message that arrived, or one of ours sent no earlier than the newest
        # of ours shown; a state of an older message of ours belongs to a page still to load.
        new = event.kind == "message" or (
            conversation.newest is None or message.sent_at >= conversation.newest
        )
        if conversation.loading:
            if new or row.id in conversation.held:
                conversation.held[row.id] = row
            else:
                conversation.newer[row.id] = row
        elif row.id in appended:
            appended[row.id] = row
        elif row.id in conversation.shown:
            self.view.update_message(row)
        elif new:
            appended[row.id] = row
            conversation.show([row])
        else:
            conversation.newer[row.id] = row  # on an older page: shown when it loads
        return new_person

    def _registry_status(self, status: RegistryStatus, detail: str) -> None:
        if status is RegistryStatus.CONNECTED:
            self.view.set_status("Connected to the registry", StatusLevel.OK)
        elif status is RegistryStatus.RECONNECTING:
            self.view.set_status(_sentence(detail), StatusLevel.WARNING)
        else:
            self.view.set_status(f"Disconnected: {detail}", StatusLevel.ERROR)

    # -- helpers ----------------------------------------------------------------------------------

    def _refresh_people(self) -> None:
        others = self._online - {self._me}
        names = list(dict.fromkeys([*sorted(others), *self._known]))
        changed = self._keys.changes
        self.view.set_people(
            [
                PersonRow(
                    name,
                    name in others,
                    self._unread.get(name, 0),
                    name in changed,
                    name in self._requests,
                )
                for name in names
            ]
        )

    def _row(self, message: Message) -> MessageRow:
        return self._rows.row(message)

    def _show_key_change(self, name: str) -> None:
        """Show what is known of ``name``'s key: the banner over their conversation (if open)
        and why their waiting messages wait."""
        conversation = self._open
        if conversation is None or conversation.peer != name:
            return
        self.view.show_key_change(self._keys.notice(name))
        for row in self._rows.rewaited(name, conversation.shown):
            self.view.update_message(row)

    # -- what the identity part needs (its Host) --------------------------------------------------

    def usable_session(self) -> ChatSession | None:
        return self._usable_session()

    def failed(self, exc: Exception) -> None:
        self._failed(exc)

    def key_change_settled(self, name: str) -> None:
        self._show_key_change(name)
        self._refresh_people()

    # -- key changes and verifying (ViewListener) -------------------------------------------------

    def verify_requested(self, peer: str) -> None:
        self._keys.verify_requested(peer)

    def mark_verified_requested(self, peer: str, number: str) -> None:
        self._keys.mark_verified_requested(peer, number)

    def verify_closed(self, peer: str) -> None:
        self._keys.verify_closed(peer)

    def accept_key_requested(self, peer: str) -> None:
        self._keys.accept_key_requested(peer)

    def _require_session(self) -> ChatSession:
        assert self._session is not None, "not signed in"
        return self._session

    def _usable_session(self) -> ChatSession | None:
        """The signed-in session, or None while signing in, closing or signed out."""
        if self.closing or self._signing_in:
            return None
        return self._session

    def _failed(self, exc: Exception) -> None:
        if self.closing:
            return
        if isinstance(exc, DomainError):
            self.view.show_error(str(exc))
        else:
            log.error("unexpected failure", exc_info=exc)
            self.view.show_error(f"Something went wrong: {exc}")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
