"""The presenter: every decision of the desktop app, and no Tk.

It turns what the person does (reported by the view) into use-case calls, and what the network
reports (application events, drained from a queue on the Tk thread) into view calls. Work on the
network runs through a :class:`Runner`, whose callbacks come back on the Tk thread, so the
presenter itself is single-threaded and can be tested with a recording view and a runner that
runs everything at once.

This module signs in and out and owns the window-level behaviour (focus, new chat,
next/previous conversation); its parts are the open conversation (``presenter_pane``), search
(``presenter_search``), the side list and unread counts (``presenter_people``), groups, their
headers and dialogs (``presenter_groups``), notifications (``presenter_notify``), the status bar
(``presenter_status``), the new chat dialog and its search of who is online
(``presenter_new_chat``), routing what the network reports (``presenter_events``), files
(``presenter_files``) and keys (``identity``). A conversation is named by a ``Chat``: a
person's name, or a group's id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from uuid import UUID

from chinwag.adapters.gui.identity import IdentityPresenter
from chinwag.adapters.gui.notifier import NoNotifier, Notifier
from chinwag.adapters.gui.open_files import Opener
from chinwag.adapters.gui.presenter_doctor import ConnectionDoctor
from chinwag.adapters.gui.presenter_events import EventRouter
from chinwag.adapters.gui.presenter_files import Files
from chinwag.adapters.gui.presenter_groups import GroupsPart
from chinwag.adapters.gui.presenter_new_chat import NewChat
from chinwag.adapters.gui.presenter_notify import Alerts
from chinwag.adapters.gui.presenter_pane import PAGE, Pane
from chinwag.adapters.gui.presenter_people import People
from chinwag.adapters.gui.presenter_search import Search
from chinwag.adapters.gui.presenter_send import Sending
from chinwag.adapters.gui.presenter_status import StatusLine
from chinwag.adapters.gui.rows import Rows
from chinwag.adapters.gui.session import ChatSession, Event, Runner, SessionFactory
from chinwag.adapters.gui.view import Chat, ChatView, GroupHeading, SearchResultRow, StatusLevel
from chinwag.application.ports.conversation_repository import Unread
from chinwag.domain.errors import DomainError
from chinwag.domain.group_log import GroupState
from chinwag.domain.user import normalize_username

__all__ = ["PAGE", "ChatPresenter", "ChatSession", "Event", "Runner", "SessionFactory"]

log = logging.getLogger(__name__)

Contacts = tuple[Sequence[Chat], dict[Chat, Unread], list[tuple[GroupState, bool]]]
"""What signing in reads: the conversations (most recent first), the unread counts stored,
the groups."""


class ChatPresenter:
    """Drives a :class:`ChatView`; implements its :class:`ViewListener`.

    Once closing, it ignores what the person does and what the network reports: the window is
    about to go, and nothing may touch it after :meth:`ChatView.close`.
    """

    def __init__(
        self,
        runner: Runner,
        sessions: SessionFactory,
        registry: str,
        *,
        notifier: Notifier | None = None,
        notifications: bool = True,
        clock: Callable[[], float] | None = None,
        opener: Opener | None = None,
    ) -> None:
        """``notifications`` False turns notifications off for this run (``--no-notifications``)
        whatever the stored setting says; the menu can still turn them on. ``opener`` opens
        received files (tests give a fake)."""
        self._runner = runner
        self._sessions = sessions
        self._registry = registry
        self._view: ChatView | None = None
        self._session: ChatSession | None = None
        self._signing_in = False
        self._attempted = ""
        self._keys = IdentityPresenter(self, runner)
        self._rows = Rows(self._keys, self._members)
        self._people = People(self, runner, self._keys)
        self._pane = Pane(self, runner, self._rows, self._keys)
        self._groups = GroupsPart(self, runner, self._people, self._pane)
        self.files = Files(self, runner, self._pane, self._groups.can_post, opener)
        """The part for files: also the view's ``FileListener``."""
        self._rows.files = self.files.row
        self._search = Search(self, runner, self._rows, self._pane, self._groups.name)
        extra = {} if clock is None else {"clock": clock}
        self._alerts = Alerts(self, runner, notifier or NoNotifier(), notifications, **extra)
        self._status = StatusLine(self)
        self._new_chat = NewChat(
            self, runner, self._status, self._chat_started, lambda: self._people.me
        )
        self._sending = Sending(self, runner, self._pane, self._people, self._status, self._groups)
        self._doctor = ConnectionDoctor(self, runner, self._people.refresh)
        self._people.paths = self._doctor.paths
        self._events = EventRouter(
            self,
            self._people,
            self._pane,
            self._keys,
            self._alerts,
            self._status,
            self._doctor,
            self._groups,
            self.files,
        )
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
        self._events.me = self._rows.me = self._people.me = self._groups.me = user
        if self.closing:  # the window was closed while signing in: leave at once
            self._sign_out_and_close()
            return
        log.info("signed in as %s", user)
        self.view.show_main(user)
        self._status.lasting(f"Signed in as {user}")
        self._keys.signed_in()
        self._alerts.signed_in()
        session = self._require_session()

        async def contacts() -> Contacts:
            unread: dict[Chat, Unread] = {}
            for name, counted in (await session.unread()).items():
                unread[name] = counted
            for group, in_group in (await session.group_unread()).items():
                unread[group] = in_group
            return await session.conversations(), unread, await session.groups()

        self._runner.run(contacts, self._contacts_loaded, self._failed)

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

    def _contacts_loaded(self, loaded: Contacts) -> None:
        if self.closing:
            return
        chats, unread, groups = loaded
        self._people.loaded(chats, unread)
        self._groups.loaded(groups)  # listed in the conversations' order; the others after
        self._people.refresh()
        self.files.load()

    # -- what the person does -------------------------------------------------------------------

    def conversation_selected(self, peer: Chat) -> None:
        self._pane.select(peer)

    def older_requested(self) -> None:
        self._pane.older_requested()

    def send_requested(self, text: str) -> None:
        self._sending.requested(text)

    def search_requested(self, text: str) -> None:
        self._search.requested(text)

    def search_result_selected(self, result: SearchResultRow) -> None:
        self._search.result_selected(result)

    def new_chat_requested(self, name: str) -> None:
        """The new chat dialog asks to talk to ``name``: anybody the registry knows."""
        self._new_chat.requested(name)

    def new_chat_search_requested(self, text: str) -> None:
        self._new_chat.search(text)

    def _chat_started(self, name: Chat) -> None:
        self._people.add(name)
        self._people.refresh()
        self._pane.select(name)

    # -- groups (ViewListener) --------------------------------------------------------------------

    def new_group_requested(self, name: str, members: Sequence[str]) -> None:
        if not self.closing:
            self._groups.create_requested(name, members)

    def group_add_requested(self, group: UUID, names: Sequence[str]) -> None:
        if not self.closing:
            self._groups.add_requested(group, names)

    def group_remove_requested(self, group: UUID, member: str) -> None:
        if not self.closing:
            self._groups.remove_requested(group, member)

    def group_admin_requested(self, group: UUID, member: str) -> None:
        if not self.closing:
            self._groups.admin_requested(group, member)

    def group_rename_requested(self, group: UUID, name: str) -> None:
        if not self.closing:
            self._groups.rename_requested(group, name)

    def group_leave_requested(self, group: UUID) -> None:
        if not self.closing:
            self._groups.leave_requested(group)

    def next_conversation_requested(self, step: int) -> None:
        """Open the next (``step`` 1) or previous (-1) person in the list, going round."""
        if self._usable_session() is None:
            return
        peer = self._people.step(self._pane.peer, step)
        if peer is not None:
            self._pane.select(peer)

    def focus_changed(self, focused: bool) -> None:
        """The window gained or lost the keyboard focus: whether the person can see it."""
        if self.closing or focused == self._alerts.focused:
            return
        self._alerts.focus_changed(focused)
        if focused:
            self._see_open()

    def bottom_reached(self) -> None:
        """The newest message of the open conversation came into view."""
        if not self.closing and self._alerts.focused:
            self._see_open()

    def _see_open(self) -> None:
        """Mark the open conversation read if the person can see its newest message."""
        peer = self._pane.peer
        conversation = self._pane.open
        newest = self._pane.newest
        if (
            peer is None
            or conversation is None
            or conversation.loading
            or newest is None
            or not self._people.unread(peer)
        ):
            return
        if self.view.newest_visible():
            self._people.seen(peer, newest)

    def notifications_toggled(self, enabled: bool) -> None:
        if not self.closing:
            self._alerts.toggled(enabled)

    def notification_clicked(self, peer: Chat) -> None:
        """The person clicked a notification: bring the window up with that conversation."""
        if self.closing or self._usable_session() is None:
            return
        self.view.raise_window()
        self._pane.select(peer)

    def doctor_requested(self) -> None:
        """Open the connection doctor (or check again): you, and the people of the list."""
        if not self.closing:
            self._doctor.requested(self._people.people())

    def doctor_closed(self) -> None:
        self._doctor.closed()

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
        """Show a batch of events (``presenter_events`` routes them)."""
        self._events.handle(events)

    # -- what the parts need (their Host) ---------------------------------------------------------

    def usable_session(self) -> ChatSession | None:
        return self._usable_session()

    def failed(self, exc: Exception) -> None:
        self._failed(exc)

    def key_change_settled(self, name: str) -> None:
        self._pane.show_key_change(name)
        self._people.refresh()

    def opened(self, peer: Chat) -> None:
        self._people.refresh()
        self.files.load()  # its file rows are made from what this reads (or events say)

    def group_opened(self, group: UUID) -> None:
        self._chat_started(group)

    def _members(self, group: UUID) -> tuple[str, ...]:
        return self._groups.members(group)

    def heading(self, group: UUID) -> GroupHeading:
        return self._groups.heading(group)

    def shown(self, peer: Chat, newest: UUID) -> None:
        # Seen if in view; what arrived while it loaded is seen too: mark even at 0.
        if self._alerts.focused and self.view.newest_visible():
            self._people.seen(peer, newest)

    def first_unread(self, peer: Chat) -> UUID | None:
        return self._people.first_unread(peer)

    def unread(self, peer: Chat) -> int:
        return self._people.unread(peer)

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
