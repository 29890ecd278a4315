"""The presenter's rows: messages as the view shows them (with why ours wait), and the open
conversation's bookkeeping."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from chinwag.adapters.gui.identity import IdentityPresenter
from chinwag.adapters.gui.view import MessageRow, SearchResultRow
from chinwag.domain.message import Message, MessageState


@dataclass
class Conversation:
    """The open conversation: what the pane shows and how to page further back."""

    peer: str
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

    def show(self, rows: Sequence[MessageRow]) -> None:
        self.shown.update(r.id for r in rows)
        ours = [r.sent_at for r in rows if r.outgoing]
        if ours:
            latest = max(ours)
            self.newest = latest if self.newest is None else max(self.newest, latest)


class Rows:
    """Makes rows for the open conversation, and remembers the waiting ones of ours so their
    reason can be told again when what they wait for changes (a key change, its answer)."""

    def __init__(self, keys: IdentityPresenter) -> None:
        self._keys = keys
        self.me = ""
        self._waiting: dict[UUID, tuple[MessageRow, str | None]] = {}
        """Shown messages of ours that wait (``queued``), with the reason the courier gave."""

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
        )
        if outgoing and message.state is MessageState.QUEUED:
            reason = self._keys.waiting_reason(message.recipient, message.reason)
            row = dataclasses.replace(row, reason=reason)
            self._waiting[row.id] = (row, message.reason)
        else:
            self._waiting.pop(row.id, None)
        return row

    def rewaited(self, peer: str, shown: set[UUID]) -> Iterator[MessageRow]:
        """The shown waiting rows to ``peer`` whose reason is now another."""
        for key, (row, reason) in list(self._waiting.items()):
            if key not in shown:
                continue
            now = self._keys.waiting_reason(peer, reason)
            if now != row.reason:
                row = dataclasses.replace(row, reason=now)
                self._waiting[key] = (row, reason)
                yield row

    def forget(self) -> None:
        """Another conversation opens: its rows are made anew."""
        self._waiting.clear()

    def result(self, message: Message) -> SearchResultRow:
        peer = message.recipient if message.sender == self.me else message.sender
        return SearchResultRow(message.id, peer, message.sender, message.body, message.sent_at)
