"""The presenter's part for the open conversation: opening it, paging back, routing new rows
into it, and where the "new messages" divider goes. No Tk.

A group's conversation also shows its membership changes as lines among the messages, by
time ("alice added carol"), and its messages of the user's with their per-member delivery: the
pane reads the group's log and those deliveries with each page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from chinwag.adapters.gui.group_words import merge, notice_rows
from chinwag.adapters.gui.identity import IdentityPresenter
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.rows import Conversation, Rows
from chinwag.adapters.gui.session import ChatSession, Event, Runner
from chinwag.adapters.gui.view import Chat, GroupHeading, MessageRow
from chinwag.application.ports.message_repository import Delivery
from chinwag.domain.group import Change
from chinwag.domain.message import Message

PAGE = 50
"""Messages loaded at a time when a conversation opens or the person scrolls up."""
MAX_FIRST_PAGE = 500
"""The most messages loaded when a conversation opens: enough to reach the first unread one of
all but the longest absences (past it the divider goes above the oldest shown)."""


@dataclass(frozen=True)
class Extras:
    """What a group's page shows besides its messages: the group's membership changes (all of
    them: the pane places them by time) and the deliveries of the user's messages on it."""

    changes: Sequence[Change] = ()
    deliveries: dict[UUID, list[Delivery]] = field(default_factory=dict)


class Host(PresenterHost, Protocol):
    """What this part needs of the chat presenter, besides what every part needs."""

    def opened(self, peer: Chat) -> None:
        """``peer``'s conversation became the open one (the side list selects it)."""
        ...

    def shown(self, peer: Chat, newest: UUID) -> None:
        """``peer``'s conversation opened, showing rows up to ``newest``."""
        ...

    def first_unread(self, peer: Chat) -> UUID | None:
        """The first message of ``peer``'s the user has not seen, if any."""
        ...

    def unread(self, peer: Chat) -> int: ...
    def heading(self, group: UUID) -> GroupHeading:
        """What the header of ``group`` shows now."""
        ...


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
        self._withdrawn: set[UUID] = set()
        """Received messages taken out of the history this run: a page read before they were
        taken out (its outcome still on its way) must not show them again."""

    @property
    def peer(self) -> Chat | None:
        """The open conversation: a person's name or a group's id."""
        return None if self.open is None else self.open.chat

    @staticmethod
    async def fetch(
        session: ChatSession, chat: Chat, limit: int, before: UUID | None
    ) -> list[Message]:
        """A page of ``chat``'s history, oldest first."""
        if isinstance(chat, UUID):
            return await session.group_history(chat, limit, before)
        return await session.history(chat, limit, before)

    async def extras(
        self, session: ChatSession, chat: Chat, page: Sequence[Message], log: bool = True
    ) -> Extras:
        """A group page's extras (none for a person's): the log (unless ``log`` is False: it
        is known already) and the deliveries of the user's messages on the page."""
        if not isinstance(chat, UUID):
            return Extras()
        ours = [m.id for m in page if m.sender == self._rows.me]
        changes = await session.group_log(chat) if log else ()
        return Extras(changes, await session.deliveries(ours) if ours else {})

    def select(self, peer: Chat) -> None:
        if self._host.usable_session() is None or self.peer == peer:
            return
        unread = self._host.unread(peer)
        self._load(peer, max(PAGE, min(unread + PAGE // 5, MAX_FIRST_PAGE)))

    def _load(self, peer: Chat, limit: int) -> None:
        """Open ``peer``'s conversation anew with its latest ``limit`` messages."""
        session = self._host.usable_session()
        if session is None:
            return
        conversation = self.switch_to(peer)

        async def load() -> tuple[list[Message], Extras]:
            page = await self.fetch(session, peer, limit, None)
            return page, await self.extras(session, peer, page)

        self._runner.run(
            load,
            lambda loaded: self.first_page(
                conversation, loaded[0], len(loaded[0]) == limit, loaded[1]
            ),
            lambda exc: self.first_page_failed(conversation, exc),
        )

    def switch_to(self, peer: Chat) -> Conversation:
        """Make ``peer``'s conversation the open one (its first page still to load)."""
        conversation = self.open = Conversation(peer)
        self.newest = None
        self._rows.forget()
        self._host.opened(peer)
        return conversation

    def first_page(
        self,
        conversation: Conversation,
        page: list[Message],
        more_before: bool | None = None,
        extras: Extras | None = None,
    ) -> None:
        if self.open is not conversation or self._host.closing:
            return  # the person moved on meanwhile
        if more_before is None:
            more_before = len(page) == PAGE
        page = self._kept(page)
        view = self._host.view
        chat = conversation.chat
        if extras is not None:
            self._rows.known(extras.deliveries)
            self._notices(conversation, extras.changes)
        # What events said since the page was read is newer than the page.
        rows = [self._latest(conversation, m) for m in page]
        conversation.loading = False
        conversation.oldest = page[0].id if page else None
        conversation.more_before = more_before
        if conversation.notices:
            start = rows[0].sent_at if rows and conversation.more_before else None
            rows = merge(
                rows, [n for n in conversation.notices if start is None or n.sent_at >= start]
            )
        conversation.show(rows)
        if isinstance(chat, UUID):
            view.open_group(self._host.heading(chat), rows, conversation.more_before)
        else:
            view.open_conversation(chat, rows, conversation.more_before)
            view.show_key_change(self._keys.notice(chat))
        late = list(conversation.held.values())
        conversation.held.clear()
        if late:
            conversation.show(late)
            view.append_messages(late)
        shown = [r for r in rows + late if not r.notice]
        view.set_divider(self._divider(conversation, shown))
        if shown:
            self.newest = shown[-1].id
            self._host.shown(chat, self.newest)

    def _divider(self, conversation: Conversation, rows: list[MessageRow]) -> UUID | None:
        """Above the first unread message; above the oldest shown if that one is further back."""
        first = self._host.first_unread(conversation.chat)
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
        chat = conversation.chat

        async def load() -> tuple[list[Message], Extras]:
            page = await self.fetch(session, chat, PAGE, conversation.oldest)
            return page, await self.extras(session, chat, page, log=False)

        self._runner.run(
            load,
            lambda loaded: self._older_page(conversation, *loaded),
            lambda exc: self._older_page_failed(conversation, exc),
        )

    def _older_page(self, conversation: Conversation, page: list[Message], extras: Extras) -> None:
        conversation.loading_older = False
        if self.open is not conversation or self._host.closing:
            return
        self._rows.known(extras.deliveries)
        conversation.more_before = len(page) == PAGE
        page = self._kept(page)  # the next page is read from a message still stored
        if page:
            conversation.oldest = page[0].id
        rows = [self._latest(conversation, m) for m in page if m.id not in conversation.shown]
        if conversation.notices:
            notices = conversation.unshown_notices(conversation.oldest_at)
            start = rows[0].sent_at if rows and conversation.more_before else None
            rows = merge(rows, [n for n in notices if start is None or n.sent_at >= start])
        conversation.show(rows)
        self._host.view.prepend_messages(rows, conversation.more_before)

    def _older_page_failed(self, conversation: Conversation, exc: Exception) -> None:
        conversation.loading_older = False
        self._host.failed(exc)
        if self.open is conversation and not self._host.closing:
            self._host.view.prepend_messages([], conversation.more_before)  # may ask again

    def route(
        self, event: Event, peer: Chat, message: Message, appended: dict[UUID, MessageRow]
    ) -> bool:
        """Put a message event of ``peer``'s conversation where it belongs if that conversation
        is open (rows to append go to ``appended``); False if it is not open."""
        conversation = self.open
        if conversation is None or conversation.chat != peer:
            return False
        row = self._rows.row(message)
        self._place(event, conversation, row, message, appended)
        return True

    def delivered(self, message: Message, recipient: str, appended: dict[UUID, MessageRow]) -> None:
        """A ``delivery`` event: the delivery of a group message of the user's to one member
        changed; its row says so if it is in the open conversation."""
        conversation = self.open
        if conversation is None or conversation.chat != message.group_id:
            return
        row = self._rows.delivery(message, recipient)
        if row is None:
            return
        if conversation.loading:
            target = conversation.held if row.id in conversation.held else conversation.newer
            target[row.id] = row
        elif row.id in appended:
            appended[row.id] = row
        elif row.id in conversation.shown:
            self._host.view.update_message(row)
        else:
            conversation.newer[row.id] = row

    def withdraw(self, message: Message, appended: dict[UUID, MessageRow]) -> None:
        """A received group message was taken out of the history: it is never shown again. If
        the open conversation shows it, the conversation is read again without it (the view
        has no way to take one row out; a withdrawal is rare); one still on its way to the
        view in this batch (``appended``) simply does not go."""
        self._withdrawn.add(message.id)
        conversation = self.open
        if conversation is None or conversation.chat != message.group_id:
            return
        conversation.held.pop(message.id, None)
        conversation.newer.pop(message.id, None)
        if message.id in appended:
            del appended[message.id]
            conversation.shown.discard(message.id)
        elif message.id in conversation.shown and not conversation.loading:
            self.reload()

    def was_withdrawn(self, message_id: UUID) -> bool:
        """Whether the message was taken out of the history this run."""
        return message_id in self._withdrawn

    def reload(self) -> None:
        """Read the open conversation again, about as far back as it was shown (within the
        first page's bounds); the divider and the read marker are placed as on opening."""
        conversation = self.open
        if conversation is None:
            return
        self._load(conversation.chat, max(PAGE, min(len(conversation.shown), MAX_FIRST_PAGE)))

    def _kept(self, page: list[Message]) -> list[Message]:
        """``page`` without the messages withdrawn since it was read."""
        if not self._withdrawn:
            return page
        return [m for m in page if m.id not in self._withdrawn]

    def noticed(self, changes: Sequence[Change], appended: dict[UUID, MessageRow]) -> None:
        """The open group's log is now ``changes``: lines for the new ones go at the bottom."""
        conversation = self.open
        if conversation is None or not conversation.is_group:
            return
        fresh = self._notices(conversation, changes)
        if conversation.loading:
            return  # the first page places them
        for row in fresh:
            appended[row.id] = row
            conversation.show([row])

    def _notices(self, conversation: Conversation, changes: Sequence[Change]) -> list[MessageRow]:
        """Add the lines of ``changes`` not known yet to the conversation's; those lines."""
        known = {n.id for n in conversation.notices}
        fresh = [n for n in notice_rows(changes, self._rows.me) if n.id not in known]
        if fresh:
            conversation.notices = sorted([*conversation.notices, *fresh], key=lambda n: n.sent_at)
        return fresh

    def _place(
        self,
        event: Event,
        conversation: Conversation,
        row: MessageRow,
        message: Message,
        appended: dict[UUID, MessageRow],
    ) -> None:
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

    def show_key_change(self, name: str) -> None:
        """Show what is known of ``name``'s key: the banner over their conversation (if open)
        and why their waiting messages wait (in the open group too, if they are a member)."""
        conversation = self.open
        if conversation is None:
            return
        if conversation.chat == name:
            self._host.view.show_key_change(self._keys.notice(name))
        elif not conversation.is_group:
            return
        for row in self._rows.rewaited(name, conversation.shown):
            self._host.view.update_message(row)
