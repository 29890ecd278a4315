"""Importing a history export: merge by message id, so that importing twice changes nothing
and a message already stored (with whatever happened to it since) is left as it is.

Messages go through the message repository's own ``add`` (which skips known ids, and a group
author's number stored under another id), in batches, each batch one transaction; their
conversations are stored first, as a client stores them before a message. The deliveries of a
new outgoing group message are stored with it and then moved to the states they had, so its
summary comes out as exported. A conversation the import brings in whole counts as read: an
archive should not come back as a million unread messages.

What an import trusts: a direct message carries no signature, so the file is taken as the
user's own data (only this user's conversations, though: :class:`ForeignMessage`). A group
message carries its author's signature; when the history holds the group's signed membership
log, that signature is checked as the receive path checks it
(:func:`~chinwag.application.groups.signed.check_signed`), so a crafted line can neither put
words in a member's mouth nor take the place (author, number) of a real message
(:class:`NotGenuine`). When it holds no log of the group (an export carries none: an import
into an empty history), there is nothing to check with, and the messages are taken like
direct ones, as the user's own data.

Anybody's export can be imported, as far as it holds this user's conversations: each message
comes in as this user's history keeps it (:func:`as_seen_by`), whoever's it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from chinwag.application.groups.signed import check_signed, stored_view
from chinwag.application.groups.view import GroupView
from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.application.ports.group_repository import GroupRepository
from chinwag.application.ports.message_repository import Delivery, MessageRepository, StateChange
from chinwag.application.ports.signatures import Signatures
from chinwag.domain.conversation import Conversation
from chinwag.domain.errors import DomainError
from chinwag.domain.group_log import VersionNotReached
from chinwag.domain.message import Message, MessageState


class ForeignMessage(ValueError):
    """A message that is no part of the importing user's history (a direct message between
    two other people): importing it would make a conversation they never had."""


class NotGenuine(ValueError):
    """A group message its author did not sign (as the group's stored log says), or one this
    history cannot check yet: importing it would show words they never wrote, and take the
    place of their real message with that number."""


@dataclass(frozen=True, slots=True)
class ImportedMessage:
    """One message read from an export, and its deliveries (outgoing group messages)."""

    message: Message
    deliveries: tuple[Delivery, ...] = ()


def as_seen_by(imported: ImportedMessage, user: str) -> ImportedMessage:
    """``imported`` as ``user``'s history keeps it, whoever exported it: ``user``'s own message
    is outgoing, never ``received`` (one the export's owner received reached them, so it is
    ``delivered``); anybody else's is ``received`` (an outgoing one of the export's owner comes
    without its deliveries and their states, which were the owner's, not ``user``'s; when it
    came here is not known)."""
    message = imported.message
    mine = message.sender == user
    if mine and message.state is MessageState.RECEIVED:
        changes = {"state": MessageState.DELIVERED, "reason": None, "received_at": None}
    elif not mine and message.state is not MessageState.RECEIVED:
        changes = {"state": MessageState.RECEIVED, "reason": None, "received_at": None}
    else:
        return imported
    return ImportedMessage(message.model_copy(update=changes))


class ImportHistory:
    """Imports batches of messages into ``user``'s history; call :meth:`finish` at the end.

    ``groups`` and ``signatures`` check group messages against the groups' stored logs."""

    def __init__(
        self,
        messages: MessageRepository,
        conversations: ConversationRepository,
        user: str,
        *,
        groups: GroupRepository,
        signatures: Signatures,
    ) -> None:
        self._messages = messages
        self._conversations = conversations
        self._user = user
        self._groups = groups
        self._signatures = signatures
        self._views: dict[UUID, GroupView | None] = {}
        self._checked: dict[UUID, ImportedMessage] = {}
        """Messages :meth:`check` passed, not added yet: :meth:`add` checks them no more."""
        self._known: set[UUID] = set()
        self._new: dict[UUID, UUID] = {}  # a conversation the import made: its last message
        self.added = 0
        self.read = 0

    async def check(self, imported: ImportedMessage) -> ImportedMessage:
        """``imported`` as this user's history keeps it (:func:`as_seen_by`), if it belongs
        there; else :class:`ForeignMessage`, or :class:`NotGenuine` for a group message the
        group's stored log says its author did not sign."""
        self._check_direct(imported.message)
        await self._check_signed(imported.message)
        ready = as_seen_by(imported, self._user)
        self._checked[ready.message.id] = ready
        return ready

    def _check_direct(self, message: Message) -> None:
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

    async def _check_signed(self, message: Message) -> None:
        group = message.group_id
        if group is None:
            return
        if group not in self._views:
            self._views[group] = await stored_view(self._groups, group, self._signatures)
        view = self._views[group]
        if view is None:
            return  # no log of the group here: taken as the user's own data, as direct ones
        try:
            check_signed(view, message, self._signatures)
        except VersionNotReached:
            assert message.stamp is not None
            raise NotGenuine(
                f"the group message {message.id} of {message.sender} was sent under membership "
                f"version {message.stamp.version} of the group {group}, and this history knows "
                f"it up to version {view.head.version}, so its signature cannot be checked: "
                "sign in once so the group's log catches up, then import again"
            ) from None
        except DomainError as exc:
            raise NotGenuine(
                f"the group message {message.id} is not {message.sender}'s: {exc} (as the "
                f"group {group}'s log stored here says)"
            ) from None

    async def add(self, batch: Sequence[ImportedMessage]) -> int:
        """Store the new messages of ``batch`` (checked first, all of them, unless
        :meth:`check` gave them: a foreign or forged one raises before anything of the batch
        is written); how many were new."""
        batch = [await self._ready(imported) for imported in batch]
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

    async def _ready(self, imported: ImportedMessage) -> ImportedMessage:
        if self._checked.pop(imported.message.id, None) is imported:
            return imported
        ready = await self.check(imported)
        del self._checked[ready.message.id]
        return ready

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
