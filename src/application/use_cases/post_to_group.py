"""Post to a group: one message, signed by its author, stored once with one delivery per member.

The message's place in its author's order is a rule: the send takes its turn in the group's
conversation when it begins, and its sequence number, membership version and signature are
given when its turn comes to be stored (so a send refused on the way leaves no gap in the
numbers, which would hold every later message at every member). The members it goes to are
those of the very state its version names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from chinwag.application.conversations import ConversationLedger
from chinwag.application.groups.book import GroupBook
from chinwag.application.groups.progress import GroupProgress
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.id_factory import IdFactory
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.ports.signatures import Signatures
from chinwag.application.session import Session
from chinwag.domain.errors import NotAMember, UnknownGroup
from chinwag.domain.group_message import signed_bytes
from chinwag.domain.message import GroupStamp, Message, MessageState, validate_body
from chinwag.domain.transfer import FileOffer


class GroupCourier(Protocol):
    """What posting needs of the courier."""

    def check_room(self, deliveries: int = 1) -> None: ...

    def enqueue(self, message: Message, recipients: Sequence[str] | None = None) -> None: ...


class PostToGroup:
    """Commit a group message locally, then hand it to the courier for every other member."""

    def __init__(
        self,
        session: Session,
        book: GroupBook,
        progress: GroupProgress,
        messages: MessageRepository,
        ledger: ConversationLedger,
        courier: GroupCourier,
        events: ChatEvents,
        signatures: Signatures,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._session = session
        self._book = book
        self._progress = progress
        self._messages = messages
        self._ledger = ledger
        self._courier = courier
        self._events = events
        self._signatures = signatures
        self._clock = clock
        self._ids = ids
        self._posted: dict[UUID, Message] = {}

    async def execute(
        self,
        group: UUID,
        body: str,
        *,
        file: FileOffer | None = None,
        message_id: UUID | None = None,
    ) -> Message:
        """Post ``body`` to ``group``; the stored message, ``pending`` (``delivered`` when this
        user is the group's only member). Per-member delivery states follow as events.

        Raises ``InvalidMessage`` for a bad body, ``UnknownGroup`` for a group this user was
        never in, ``NotAMember`` when they are not a member any more, ``OutboxFull`` when too
        many deliveries already wait.

        ``file``: the message offers this file (``SendFile``; its author signs the offer with
        the rest), under ``message_id`` (the transfer's id; a new one if None).
        """
        me = self._session.require_user()
        validate_body(body)
        view = await self._book.view(group)
        if view is None or me not in view.ever:
            raise UnknownGroup(f"you are not in a group with id {group}")
        if not view.head.is_member(me):
            raise NotAMember(f"you are not a member of {view.head.name!r} any more")
        self._courier.check_room(max(len(view.head.members) - 1, 1))
        turn = self._ledger.take_turn(me, str(group))
        try:
            await self._ledger.group(group)
        except BaseException:
            turn.drop()
            raise
        draft = Message(
            id=message_id or self._ids.new_id(),
            conversation_id=group,
            sender=me,
            group_id=group,
            stamp=GroupStamp(seq=1, version=0),  # the real one is given when stored
            body=body,
            sent_at=self._clock.now(),
            state=MessageState.PENDING,
            file=file,
        )
        await turn.store([draft], self._store)
        return self._posted.pop(draft.id)

    async def _store(self, drafts: list[Message]) -> None:
        """Number, sign, commit, tell, hand over: the drafts of one author in one group, in
        their turns' order (called once at a time per group, see ``OutgoingOrder``)."""
        group, me = drafts[0].group_id, drafts[0].sender
        assert group is not None
        view = await self._book.view(group)
        if view is None or not view.head.is_member(me):
            raise NotAMember("you are not a member of this group any more")
        head = view.head
        members = [name for name in head.names if name != me]
        last = await self._progress.last(group, me)
        state = MessageState.PENDING if members else MessageState.DELIVERED
        posted: list[Message] = []
        for seq, draft in enumerate(drafts, start=last + 1):
            stamp = GroupStamp(seq=seq, version=head.version)
            unsigned = draft.model_copy(update={"stamp": stamp, "state": state})
            signature = self._signatures.sign(signed_bytes(unsigned))
            posted.append(
                unsigned.model_copy(
                    update={"stamp": stamp.model_copy(update={"signature": signature})}
                )
            )
        await self._messages.add(posted, members={m.id: members for m in posted})
        self._progress.advance(group, me, last + len(posted))
        for message in posted:
            self._posted[message.id] = message
            self._events.message_state_changed(message)
        if members:
            for message in posted:
                self._courier.enqueue(message, recipients=members)
