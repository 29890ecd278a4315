"""Exporting a user's history: what one exported message is, what a format does with it, and
the loop that streams the one into the other.

The records are plain values, not :class:`~chinwag.domain.message.Message` models: an export
reads every message once, and building (and validating) a model per row would cost more than
all the rest; a row that no longer passes today's rules must still be exported as it is.
The loop holds one message at a time, so an export of a million messages needs no more memory
than one of ten: the store streams rows, the format writes each as it comes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ExportScope:
    """What to export: everything, or one direct conversation (``peer``) or one group's
    (``group``, its id); only messages sent at ``since`` or later if given."""

    peer: str | None = None
    group: str | None = None
    since: datetime | None = None

    def __post_init__(self) -> None:
        if self.peer is not None and self.group is not None:
            raise ValueError("export one conversation: a peer or a group, not both")


@dataclass(frozen=True, slots=True)
class ExportedDelivery:
    """One member's delivery of an outgoing group message (a one-to-one message's only
    delivery is the message's own state, so it is not repeated)."""

    recipient: str
    state: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ExportedMessage:
    """One stored message, as stored: everything an import needs to store it again.

    ``peer`` is the other person of a direct conversation (None for a group's); ``file`` the
    file offer as its stored JSON text; times are aware UTC datetimes.
    """

    id: str
    conversation_id: str
    sender: str
    recipient: str | None
    peer: str | None
    group_id: str | None
    body: str
    sent_at: datetime
    state: str
    reason: str | None = None
    received_at: datetime | None = None
    stamp_seq: int | None = None
    stamp_version: int | None = None
    stamp_signature: bytes | None = None
    file: str | None = None
    deliveries: tuple[ExportedDelivery, ...] = ()


@dataclass(frozen=True, slots=True)
class ConversationHeading:
    """A conversation as an export's section title names it: the person (direct) or the
    group (its id, and its name if known) and how many messages it has in the export."""

    id: str
    peer: str | None = None
    group_id: str | None = None
    group_name: str | None = None
    messages: int = 0


class HistorySource(Protocol):
    """The stored history, read in one consistent snapshot, message by message."""

    def count(self, scope: ExportScope) -> int:
        """How many messages ``scope`` holds (for progress)."""
        ...

    def conversations(self, scope: ExportScope) -> list[ConversationHeading]:
        """The conversations ``scope`` has messages in, in the order of their first one."""
        ...

    def messages(
        self, scope: ExportScope, conversation_id: str | None = None
    ) -> Iterator[ExportedMessage]:
        """``scope``'s messages (only those of ``conversation_id`` if given) in the order they
        were stored, read as they are consumed."""
        ...


class HistoryWriter(Protocol):
    """One export format. ``grouped`` formats get each conversation between ``begin`` and
    ``end``; the others get every message in the order it was stored (an import then stores
    them in that same order) and no ``begin``/``end``."""

    grouped: bool

    def begin(self, heading: ConversationHeading) -> None: ...

    def write(self, message: ExportedMessage) -> None: ...

    def end(self) -> None: ...

    def close(self) -> None:
        """Finish the document (a page's closing tags); nothing may be written after."""
        ...


def export_history(
    source: HistorySource,
    writer: HistoryWriter,
    scope: ExportScope,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream ``scope``'s messages from ``source`` into ``writer``; how many were written.

    ``progress`` (if given) is called with the number written so far, after every message: it
    must be cheap, or decide itself how often to do anything.
    """
    written = 0
    if writer.grouped:
        for heading in source.conversations(scope):
            writer.begin(heading)
            for message in source.messages(scope, heading.id):
                writer.write(message)
                written += 1
                if progress is not None:
                    progress(written)
            writer.end()
    else:
        for message in source.messages(scope):
            writer.write(message)
            written += 1
            if progress is not None:
                progress(written)
    writer.close()
    return written
