from __future__ import annotations

from uuid import UUID

from chinwag.application.conversations import ConversationLedger
from chinwag.application.delivery import Courier
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.directory import Directory
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.id_factory import IdFactory
from chinwag.application.ports.message_repository import MessageRepository
from chinwag.application.session import Session
from chinwag.application.use_cases.send_messages import SendMessages
from chinwag.domain.message import Message
from chinwag.domain.transfer import FileOffer


class SendMessage:
    """Commit a new message locally, then hand it to the courier; never the other way round.

    One draft through :class:`SendMessages`, so a single send follows the same rules: its turn
    in the conversation is taken when it begins, and sends made meanwhile share its commit.
    """

    def __init__(
        self,
        session: Session,
        directory: Directory,
        messages: MessageRepository,
        ledger: ConversationLedger,
        courier: Courier,
        events: ChatEvents,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._many = SendMessages(session, directory, messages, ledger, courier, events, clock, ids)

    async def execute(
        self,
        to: str,
        body: str,
        *,
        file: FileOffer | None = None,
        message_id: UUID | None = None,
    ) -> Message:
        """Send ``body`` to ``to``; return the stored message, ``pending`` (the recipient is
        online) or ``queued`` (offline: it goes out when they are back).

        Raises ``InvalidUsername`` or ``InvalidMessage`` for bad input, ``UnknownUser`` when no
        one of that name ever signed in, ``OutboxFull`` when too many messages already wait,
        ``RegistryUnavailable`` when the registry cannot say who ``to`` is. Delivery states
        follow as events.

        ``file``: the message offers this file (``SendFile``), under ``message_id`` (the
        transfer's id, picked by the caller; a new one if None).
        """
        return await self._many.one(to, body, file=file, message_id=message_id)
