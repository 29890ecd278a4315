"""Importing a history export: merge by message id, so that importing twice changes nothing
and a message already stored (with whatever happened to it since) is left as it is.

Messages go through the message repository's own ``add`` (which skips known ids, and a group
author's number stored under another id), in batches, each batch one transaction; their
conversations are stored first, as a client stores them before a message. The deliveries of a
new outgoing group message are stored with it and then moved to the states they had, so its
summary comes out as exported. A conversation the import brings in whole counts as read: an
archive should not come back as a million unread messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.application.ports.message_repository import Delivery, MessageRepository, StateChange
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import Message, MessageState


class ForeignMessage(ValueError):
    """A message that is no part of the importing user's history (a direct message between
    two other people): importing it would make a conversation they never had."""


@dataclass(frozen=True, slots=True)
class ImportedMessage:
    """One message read from an export, and its deliveries (outgoing group messages)."""

    message: Message
    deliveries: tuple[Delivery, ...] = ()


class ImportHistory:
    """Imports batches of messages into ``user``'s history; call :meth:`finish` at the end."""

    def __init__(
        self, messages: MessageRepository, conversations: ConversationRepository, user: str
    ) -> None:
        self._messages = messages
        self._conversations = conversations
        self._user = user
        self._known: set[UUID] = set()
        self._new: dict[UUID, UUID] = {}  # a conversation the import made: its last message
        self.added = 0
        self.read = 0

    def check(self, imported: ImportedMessage) -> None:
        """Raise :class:`ForeignMessage` unless the message belongs in this user's history."""
        message = imported.message
        if message.group_id is not None:
            return
        assert message.recipient is not None
        if self._user not in (message.sender, message.recipient):
            raise ForeignMessage(
                f"the message {message.id} is between {message.sender} and {message.recipient}, "
                f"not a conversation of {self._user}"
            )
        if message.sender == message.recipient:
            raise ForeignMessage(f"the message {message.id} is from {message.sender} to themself")
        if Conversation.direct(message.sender, message.recipient).id != message.conversation_id:
            raise ForeignMessage(
                f"the message {message.id} names a conversation that is not the one between "
                f"{message.sender} and {message.recipient}"
            )

    async def add(self, batch: Sequence[ImportedMessage]) -> int:
        """Store the new messages of ``batch`` (checked first, all of them: a foreign one
        raises :class:`ForeignMessage` before anything of the batch is written); how many
        were new."""
        for imported in batch:
            self.check(imported)
        self.read += len(batch)
        if not batch:
            return 0
        await self._save_conversations([imported.message for imported in batch])
        members = {
            imported.message.id: [d.recipient for d in imported.deliveries]
            for imported in batch
            if imported.message.group_id is not None
            and imported.message.state is not MessageState.RECEIVED
        }
        stored = await self._messages.add([imported.message for imported in batch], members)
        new = {message.id for message in stored}
        changes = [
            StateChange(d.message_id, d.state, d.reason, d.recipient)
            for imported in batch
            if imported.message.id in new and imported.message.id in members
            for d in imported.deliveries
            if (d.state, d.reason) != (imported.message.state, imported.message.reason)
        ]
        if changes:
            await self._messages.update_states(changes)
        for message in stored:
            if message.conversation_id in self._new:
                self._new[message.conversation_id] = message.id
        self.added += len(stored)
        return len(stored)

    async def _save_conversations(self, messages: Sequence[Message]) -> None:
        wanted: dict[UUID, Conversation] = {}
        for message in messages:
            if message.conversation_id in self._known or message.conversation_id in wanted:
                continue
            if message.group_id is not None:
                wanted[message.conversation_id] = Conversation.of_group(message.group_id)
            else:
                assert message.recipient is not None
                wanted[message.conversation_id] = Conversation.direct(
                    message.sender, message.recipient
                )
        fresh = []
        for conversation_id, conversation in wanted.items():
            if await self._conversations.get(conversation_id) is None:
                fresh.append(conversation)
                self._new[conversation_id] = conversation_id  # no message yet
        await self._conversations.save(fresh)
        self._known.update(wanted)

    async def finish(self) -> None:
        """Mark the conversations this import made as read up to their last message."""
        for conversation_id, last in self._new.items():
            if last != conversation_id:
                await self._conversations.mark_read(conversation_id, last)
