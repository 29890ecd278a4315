"""The presenter's part for the open conversation: opening it, paging back, routing new rows
into it, and where the "new messages" divider goes. No Tk."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from chinwag.adapters.gui.identity import IdentityPresenter
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.rows import Conversation, Rows
from chinwag.adapters.gui.session import Event, Runner
from chinwag.adapters.gui.view import MessageRow
from chinwag.domain.message import Message

PAGE = 50
"""Messages loaded at a time when a conversation opens or the person scrolls up."""
MAX_FIRST_PAGE = 500
"""The most messages loaded when a conversation opens: enough to reach the first unread one of
all but the longest absences (past it the divider goes above the oldest shown)."""


class Host(PresenterHost, Protocol):
    """What this part needs of the chat presenter, besides what every part needs."""

    def opened(self, peer: str) -> None:
        """``peer``'s conversation became the open one (the side list selects it)."""
        ...

    def shown(self, peer: str, newest: UUID) -> None:
        """``peer``'s conversation opened, showing rows up to ``newest``."""
        ...

    def first_unread(self, peer: str) -> UUID | None:
        """The first message of ``peer``'s the user has not seen, if any."""
        ...

    def unread(self, peer: str) -> int: ...


class Pane:
    """The open conversation, one at a time."""

    def __init__(self, host: Host, runner: Runner, rows: Rows, keys: IdentityPresenter) -> None:
        self._host = host
        self._runner = runner
        self._rows = rows
        self._keys = keys
        self.open: Conversation | None = None
        self.newest: UUID | None = None
        """The newest row shown in the open conversation (the read marker goes there)."""

    @property
    def peer(self) -> str | None:
        return None if self.open is None else self.open.peer

    def select(self, peer: str) -> None:
        session = self._host.usable_session()
        if session is None or self.peer == peer:
            return
        conversation = self.switch_to(peer)
        unread = self._host.unread(peer)
        limit = max(PAGE, min(unread + PAGE // 5, MAX_FIRST_PAGE))
        self._runner.run(
            lambda: session.history(peer, limit, None),
            lambda page: self.first_page(conversation, page, len(page) == limit),
            lambda exc: self.first_page_failed(conversation, exc),
        )

    def switch_to(self, peer: str) -> Conversation:
        """Make ``peer``'s conversation the open one (its first page still to load)."""
        conversation = self.open = Conversation(peer)
        self.newest = None
        self._rows.forget()
        self._host.opened(peer)
        return conversation

    def first_page(
        self, conversation: Conversation, page: list[Message], more_before: bool | None = None
    ) -> None:
        if self.open is not conversation or self._host.closing:
            return  # the person moved on meanwhile
        view = self._host.view
        # What events said since the page was read is newer than the page.
        rows = [self._latest(conversation, m) for m in page]
        conversation.loading = False
        conversation.show(rows)
        conversation.oldest = page[0].id if page else None
        conversation.more_before = len(page) == PAGE if more_before is None else more_before
        view.open_conversation(conversation.peer, rows, conversation.more_before)
        view.show_key_change(self._keys.notice(conversation.peer))
        late = list(conversation.held.values())
        conversation.held.clear()
        if late:
            conversation.show(late)
            view.append_messages(late)
        view.set_divider(self._divider(conversation, rows + late))
        shown = rows + late
        if shown:
            self.newest = shown[-1].id
            self._host.shown(conversation.peer, self.newest)

    def _divider(self, conversation: Conversation, rows: list[MessageRow]) -> UUID | None:
        """Above the first unread message; above the oldest shown if that one is further back."""
        first = self._host.first_unread(conversation.peer)
        if first is None or not rows:
            return None
        return first if first in conversation.shown else rows[0].id

    def _latest(self, conversation: Conversation, message: Message) -> MessageRow:
        """A stored message as the pane should show it: in the latest state events gave it."""
        newer = conversation.newer.pop(message.id, None) or conversation.held.pop(message.id, None)
        return newer or self._rows.row(message)

    def first_page_failed(self, conversation: Conversation, exc: Exception) -> None:
        """Show what there is, and let scrolling up try again, so nothing stays stuck."""
        self._host.failed(exc)
        self.first_page(conversation, [], more_before=True)

    def older_requested(self) -> None:
        conversation = self.open
        session = self._host.usable_session()
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
        if self.open is not conversation or self._host.closing:
            return
        rows = [self._latest(conversation, m) for m in page if m.id not in conversation.shown]
        conversation.more_before = len(page) == PAGE
        if page:
            conversation.oldest = page[0].id
        conversation.show(rows)
        self._host.view.prepend_messages(rows, conversation.more_before)

    def _older_page_failed(self, conversation: Conversation, exc: Exception) -> None:
        conversation.loading_older = False
        self._host.failed(exc)
        if self.open is conversation and not self._host.closing:
            self._host.view.prepend_messages([], conversation.more_before)  # may ask again

    def route(
        self, event: Event, peer: str, message: Message, appended: dict[UUID, MessageRow]
    ) -> bool:
        """Put a message event of ``peer``'s conversation where it belongs if that conversation
        is open (rows to append go to ``appended``); False if it is not open."""
        conversation = self.open
        if conversation is None or conversation.peer != peer:
            return False
        row = self._rows.row(message)
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
            self._host.view.update_message(row)
        elif new:
            appended[row.id] = row
            conversation.show([row])
        else:
            conversation.newer[row.id] = row  # on an older page: shown when it loads
        return True

    def show_key_change(self, name: str) -> None:
        """Show what is known of ``name``'s key: the banner over their conversation (if open)
        and why their waiting messages wait."""
        conversation = self.open
        if conversation is None or conversation.peer != name:
            return
        self._host.view.show_key_change(self._keys.notice(name))
        for row in self._rows.rewaited(name, conversation.shown):
            self._host.view.update_message(row)
