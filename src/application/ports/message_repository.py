from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol
from uuid import UUID

from chinwag.domain.message import Message, MessageState


class StateChange(NamedTuple):
    """A new delivery state for one stored message.

    It names no recipient: for a one-to-one message it is the state of its one delivery, to the
    message's own recipient (group messages, with a delivery per member, will name one).
    """

    id: UUID
    state: MessageState
    reason: str | None = None


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

    async def add(self, messages: Sequence[Message]) -> list[Message]:
        """Store the messages whose ids are new; return those, in order (duplicates are skipped).

        An outgoing message (any state but ``received``) is stored with its delivery to its
        recipient, in its state, in the same transaction.
        """
        ...

    async def update_states(self, changes: Sequence[StateChange]) -> None:
        """Record new delivery states for stored messages: the delivery to each message's
        recipient and the message's summary, in one transaction (unknown ids are ignored)."""
        ...

    async def deliveries(self, message_id: UUID) -> list[Delivery]:
        """The deliveries of a stored message, by recipient; none for a received or unknown one."""
        ...

    async def get(self, message_id: UUID) -> Message | None: ...

    async def unacknowledged(self, sender: str) -> list[Message]:
        """``sender``'s messages not yet acknowledged (pending, queued or sent), oldest first:
        the outbox, to resume after a restart."""
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
