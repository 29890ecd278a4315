"""Offer a file to a person or a group: an ordinary message whose ``file`` describes it."""

from __future__ import annotations

import hashlib
import os
from uuid import UUID

from pydantic import ValidationError

from chinwag.application.errors import FileProblem
from chinwag.application.files.engine import Transfers
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.file_store import FileStore
from chinwag.application.ports.id_factory import IdFactory
from chinwag.application.session import Session
from chinwag.application.use_cases.post_to_group import PostToGroup
from chinwag.application.use_cases.send_message import SendMessage
from chinwag.domain.conversation import direct_conversation_id
from chinwag.domain.errors import DomainError, InvalidMessage
from chinwag.domain.filename import safe_filename
from chinwag.domain.message import validate_body
from chinwag.domain.transfer import (
    PIECE_SIZE,
    Direction,
    FileOffer,
    Transfer,
    TransferState,
)
from chinwag.domain.user import normalize_username


class SendFile:
    """Hash the file, record the outgoing transfer, then send the offer message.

    The record comes first, with the message id picked here: the moment the offer is stored
    (and may be delivered and asked for), its record and piece hashes exist to serve it. If
    the message cannot be sent, the record says why (``failed``)."""

    def __init__(
        self,
        session: Session,
        files: FileStore,
        engine: Transfers,
        send_message: SendMessage,
        post_to_group: PostToGroup,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._session = session
        self._files = files
        self._engine = engine
        self._send_message = send_message
        self._post_to_group = post_to_group
        self._clock = clock
        self._ids = ids

    async def execute(
        self, path: str, *, to: str | None = None, group: UUID | None = None
    ) -> Transfer:
        """Offer the file at ``path`` to ``to`` or to ``group`` (exactly one); the outgoing
        record (for a group, the group's own, with ``peer`` empty).

        Raises ``FileProblem`` if the file cannot be read (missing, not a regular file, no
        access) or is too large to offer, and what sending a message raises (``UnknownUser``,
        ``OutboxFull``, ``NotAMember``...)."""
        me = self._session.require_user()
        if (to is None) == (group is None):
            raise InvalidMessage("a file goes to one person or to one group")
        recipient = "" if to is None else normalize_username(to)
        if recipient == me:
            raise InvalidMessage("you cannot send a file to yourself")
        if recipient:
            await self._engine.check_recipient(recipient)
        source, name = _where(path)
        digest = await self._files.digest(source, PIECE_SIZE)
        try:
            offer = FileOffer(
                name=name,
                size=digest.size,
                sha256=digest.sha256,
                piece_size=PIECE_SIZE,
                root=hashlib.sha256(digest.hashes).digest(),
                mime=digest.mime,
            )
        except ValidationError as exc:
            raise FileProblem(f"{name} cannot be offered: {_first_error(exc)}") from None
        now = self._clock.now()
        transfer_id = self._ids.new_id()
        record = Transfer(
            id=transfer_id,
            direction=Direction.OUT,
            peer=recipient,
            conversation_id=group or direct_conversation_id(me, recipient),
            group_id=group,
            offer=offer,
            state=TransferState.OFFERED,
            path=source,
            created_at=now,
            updated_at=now,
        )
        store = self._engine.records.store
        await store.add(record)
        await store.set_hashes(transfer_id, digest.hashes)
        body = _body(name)
        try:
            if group is not None:
                await self._post_to_group.execute(group, body, file=offer, message_id=transfer_id)
            else:
                await self._send_message.execute(
                    recipient, body, file=offer, message_id=transfer_id
                )
        except Exception as exc:
            await self._engine.records.move(record, TransferState.FAILED, reason=f"not sent: {exc}")
            raise
        stored = await store.get(transfer_id, recipient) or record
        self._engine.progress.changed(stored)
        return stored


def _where(path: str) -> tuple[str, str]:
    """The absolute path of the file (what the record keeps to serve it), and its name as the
    user knows it (the offer's name)."""
    source = os.path.abspath(path)
    return source, os.path.basename(source) or "file"


def _body(name: str) -> str:
    """The offer's text in the conversation: the file's name as the user knows it (or a
    clean one, if that is no text a message may carry)."""
    try:
        return validate_body(name)
    except DomainError:
        return safe_filename(name)


def _first_error(error: ValidationError) -> str:
    errors = error.errors()
    return str(errors[0].get("msg", error)) if errors else str(error)
