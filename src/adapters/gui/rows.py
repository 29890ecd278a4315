"""The presenter's rows: messages as the view shows them (with why ours wait, and for a group
message of ours who has it), and the open conversation's bookkeeping."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from chinwag.adapters.gui.group_words import MemberDelivery, delivery_words
from chinwag.adapters.gui.identity import IdentityPresenter
from chinwag.adapters.gui.view import Chat, FileRow, MessageRow, SearchResultRow
from chinwag.application.ports.message_repository import Delivery
from chinwag.domain.message import Message, MessageState


@dataclass
class Conversation:
    """The open conversation: what the pane shows and how to page further back."""

    chat: Chat
    """The person's name, or the group's id."""
    shown: set[UUID] = field(default_factory=set)
    oldest: UUID | None = None
    more_before: bool = False
    loading: bool = True
    loading_older: bool = False
    held: dict[UUID, MessageRow] = field(default_factory=dict)
    """New messages that arrived while the first page was loading, in order."""
    newer: dict[UUID, MessageRow] = field(default_factory=dict)
    """The latest state of messages not shown yet (on a page still to load), by id."""
    newest: datetime | None = None
    """When the newest shown message of ours was sent (our clock; peers' clocks may differ)."""
    notices: list[MessageRow] = field(default_factory=list)
    """A group's membership changes as lines, oldest first (shown or not yet)."""
    oldest_at: datetime | None = None
    """When the oldest shown message was sent: older notices go on older pages."""

    @property
    def is_group(self) -> bool:
        return isinstance(self.chat, UUID)

    def show(self, rows: Sequence[MessageRow]) -> None:
        self.shown.update(r.id for r in rows)
        ours = [r.sent_at for r in rows if r.outgoing]
        if ours:
            latest = max(ours)
            self.newest = latest if self.newest is None else max(self.newest, latest)
        times = [r.sent_at for r in rows if not r.notice]
        if times and (self.oldest_at is None or min(times) < self.oldest_at):
            self.oldest_at = min(times)

    def unshown_notices(self, before: datetime | None = None) -> list[MessageRow]:
        """The notices not shown yet, all or those from before ``before``."""
        return [
            n
            for n in self.notices
            if n.id not in self.shown and (before is None or n.sent_at < before)
        ]


class Rows:
    """Makes rows for the open conversation, and remembers the waiting ones of ours so their
    reason can be told again when what they wait for changes (a key change, its answer).

    For the open group it also keeps each message of ours' delivery to each member (from the
    history, then from ``delivery`` events), which its row tells: "3/4", and who is missing.
    """

    def __init__(
        self, keys: IdentityPresenter, members: Callable[[UUID], Sequence[str]] | None = None
    ) -> None:
        """``members(group)``: the members of a group now (for a message just sent, whose
        deliveries are not known yet: one to each of them but the user)."""
        self._keys = keys
        self._members = members or (lambda _group: ())
        self.me = ""
        self._waiting: dict[UUID, tuple[MessageRow, str | None]] = {}
        """Shown messages of ours that wait (``queued``), with the reason the courier gave."""
        self._deliveries: dict[UUID, dict[str, MemberDelivery]] = {}
        self._summaries: dict[UUID, Message] = {}
        """The latest summary of each group message of ours in the open conversation."""
        self.files: Callable[[Message, bool], FileRow | None] = lambda _message, _out: None
        """The file row of a file message (``presenter_files``), given whether it is ours."""

    def row(self, message: Message) -> MessageRow:
        outgoing = message.sender == self.me
        row = MessageRow(
            id=message.id,
            sender=message.sender,
            body=message.body,
            sent_at=message.sent_at,
            outgoing=outgoing,
            state=message.state,
            reason=message.reason,
            file=None if message.file is None else self.files(message, outgoing),
        )
        if outgoing and message.group_id is not None:
            self._summaries[message.id] = message
            return self._group_row(message, row)
        if outgoing and message.state is MessageState.QUEUED and message.recipient is not None:
            reason = self._keys.waiting_reason(message.recipient, message.reason)
            row = dataclasses.replace(row, reason=reason)
            self._waiting[row.id] = (row, message.reason)
        else:
            self._waiting.pop(row.id, None)
        return row

    def _group_row(self, message: Message, row: MessageRow) -> MessageRow:
        assert message.group_id is not None
        deliveries = self._deliveries.get(message.id)
        if deliveries is None:  # just sent: one delivery to each other member, as it is
            deliveries = self._deliveries[message.id] = {
                name: MemberDelivery(message.state, message.reason)
                for name in self._members(message.group_id)
                if name != self.me
            }
        tally, detail = delivery_words(deliveries, self._keys.waiting_reason)
        return dataclasses.replace(row, reason=None, tally=tally, detail=detail)

    def known(self, deliveries: dict[UUID, list[Delivery]]) -> None:
        """Deliveries read with a page of the history. What events said since is newer, so a
        member's delivery already known stays as it is."""
        for message_id, found in deliveries.items():
            known = self._deliveries.setdefault(message_id, {})
            for delivery in found:
                known.setdefault(
                    delivery.recipient, MemberDelivery(delivery.state, delivery.reason)
                )

    def delivery(self, message: Message, recipient: str) -> MessageRow | None:
        """A ``delivery`` event: ``message`` in the state of its delivery to ``recipient``.
        The message's row as it is now, if its summary is known (it is shown, or loading)."""
        known = self._deliveries.setdefault(message.id, {})
        known[recipient] = MemberDelivery(message.state, message.reason)
        summary = self._summaries.get(message.id)
        return None if summary is None else self.row(summary)

    def rewaited(self, peer: str, shown: set[UUID]) -> Iterator[MessageRow]:
        """The shown waiting rows to ``peer`` whose reason is now another (and the shown group
        messages of ours that wait for ``peer`` among others)."""
        for key, (row, reason) in list(self._waiting.items()):
            if key not in shown:
                continue
            now = self._keys.waiting_reason(peer, reason)
            if now != row.reason:
                row = dataclasses.replace(row, reason=now)
                self._waiting[key] = (row, reason)
                yield row
        for key, summary in list(self._summaries.items()):
            delivery = self._deliveries.get(key, {}).get(peer)
            if key in shown and delivery is not None and delivery.state is MessageState.QUEUED:
                yield self.row(summary)

    def forget(self) -> None:
        """Another conversation opens: its rows are made anew."""
        self._waiting.clear()
        self._deliveries.clear()
        self._summaries.clear()

    def result(self, message: Message, group_name: str | None = None) -> SearchResultRow:
        """A search result; a group message's names its group (``group_name``)."""
        if message.group_id is not None:
            return SearchResultRow(
                message.id,
                group_name or "a group",
                message.sender,
                message.body,
                message.sent_at,
                group=message.group_id,
            )
        peer = (
            message.recipient if message.sender == self.me and message.recipient else message.sender
        )
        return SearchResultRow(message.id, peer, message.sender, message.body, message.sent_at)
