from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol
from uuid import UUID

from chinwag.domain.message import Message, MessageState


class StateChange(NamedTuple):
    """A new delivery state for one stored message.

    ``recipient`` names the delivery: ``None`` for a one-to-one message's one delivery (to the
    message's own recipient); a member's name for a group message's delivery to that member.
    """

    id: UUID
    state: MessageState
    reason: str | None = None
    recipient: str | None = None


class OutboxEntry(NamedTuple):
    """One delivery not yet acknowledged: the message (carrying this delivery's state and
    reason) and to whom it goes."""

    message: Message
    recipient: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outgoing message on its way to one recipient, with its own state.

    A message's ``state``/``reason`` summarise its deliveries: a one-to-one message has exactly
    one, to its recipient, in the message's state. Received messages have none.
    """

    message_id: UUID
    recipient: str
    state: MessageState
    reason: str | None = None


class MessageRepository(Protocol):
    """Durable message history of one user.

    Writes return only after the data is committed: callers rely on that to acknowledge.
    Implementations batch concurrent writes into one transaction (group commit).
    """

    async def add(
        self, messages: Sequence[Message], members: Mapping[UUID, Sequence[str]] | None = None
    ) -> list[Message]:
        """Store the messages whose ids are new; return those, in order (duplicates are skipped).

        An outgoing message (any state but ``received``) is stored with its deliveries, in its
        state, in the same transaction: a one-to-one message one, to its recipient; a group
        message one per name in ``members[message.id]`` (the members it is sent to: all but its
        author at the time of sending; none if it has no entry). A group message keeps its
        stamp (sequence, version, signature) exactly, so it can be forwarded as signed.
        """
        ...

    async def update_states(self, changes: Sequence[StateChange]) -> list[StateChange]:
        """Record new delivery states for stored messages, and each message's summary, in one
        transaction (unknown ids and deliveries are ignored).

        A message's summary (its ``state``/``reason``) is its one delivery's for a one-to-one
        message; for a group message the least advanced of its deliveries (``delivered`` only
        when all are; a ``failed`` one counts as done), and ``delivered`` when it has none.
        Returns the new summaries of the group messages whose summary changed (``recipient``
        ``None``), in the order of ``changes``.
        """
        ...

    async def discard(self, ids: Sequence[UUID]) -> list[Message]:
        """Remove these messages (received ones: a group message that turned out not to count)
        with their deliveries, in one transaction; the ones that were stored, as they were,
        in the order given. Unknown ids are ignored. The search index forgets them; a group's
        progress (group_progress) is recomputed from what remains.

        At most 500 ids per call (``ValueError`` beyond, like the page limits): a caller with
        more calls again. A discard takes effect after every write called before it and before
        every write called after it, so an ``add`` called later is never discarded by it. The
        places the removed messages were stored in are never given to later messages (a read
        marker or an unread count that named one does not pass over a newer message).
        """
        ...

    async def deliveries(self, message_id: UUID) -> list[Delivery]:
        """The deliveries of a stored message, by recipient; none for a received or unknown one."""
        ...

    async def get(self, message_id: UUID) -> Message | None: ...

    async def unacknowledged(self, sender: str) -> list[Message]:
        """``sender``'s messages with a delivery not yet acknowledged (pending, queued or
        sent), oldest first, each in its summary state."""
        ...

    async def pending_deliveries(self, sender: str) -> list[OutboxEntry]:
        """``sender``'s deliveries not yet acknowledged, in the order their messages were
        stored (then by recipient): the outbox, to resume after a restart."""
        ...

    async def group_progress(self, group: UUID) -> dict[str, int]:
        """For each author of a message stored in ``group``, the highest sequence number of
        theirs stored (they are stored in each author's order, without gaps)."""
        ...

    async def group_messages(
        self, group: UUID, author: str, after: int, limit: int
    ) -> list[Message]:
        """Up to ``limit`` of ``author``'s messages in ``group`` with a sequence number above
        ``after``, in sequence order, as signed (to forward them)."""
        ...

    async def page(
        self, conversation_id: UUID, limit: int, before: UUID | None = None
    ) -> list[Message]:
        """Up to ``limit`` messages of a conversation, newest first, older than ``before`` if given.

        Pages follow the order messages were stored in on this device (keyset paging, no OFFSET).
        """
        ...

    async def search(self, text: str, limit: int) -> list[Message]:
        """Messages whose bodies contain every word of ``text``, newest first.

        ``text`` is the user's words, never a query language: no input can make it fail.
        """
        ...
