"""Serving the files we offered (the ``FileServer`` port): who may have them, the pieces read
and checked, and notices from peers about transfers between us.

A request names a transfer id. It is served only if it is an outgoing offer of ours to that
very peer (direct), or to a group that peer is a member of *now* (per the group book);
anything else is ``unknown_transfer``, the same answer as for an id we never used, so a
stranger learns nothing of what we offered. A group member gets a record of their own when
they first ask. Every piece read is checked against the hash stored at offer time: a file
changed (or gone) since fails that record and is refused as ``changed``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import unicodedata
from collections import OrderedDict
from typing import Final, Protocol
from uuid import UUID

from chinwag.application.errors import FileGone, FileProblem, FileRefused
from chinwag.application.files.engine import Transfers
from chinwag.application.ports.file_store import FileStore
from chinwag.application.ports.peer_transport import HASHES_PER_ANSWER, TransferNotice
from chinwag.domain.transfer import SHA256_SIZE, Direction, Transfer, TransferState

log = logging.getLogger(__name__)

CHANGED_REASON: Final = "the file changed since it was offered"
MAX_REASON_CHARS: Final = 300
"""Characters kept of a reason a peer gives in a notice."""
HASHES_KEPT: Final = 16
"""Piece lists of outgoing files kept in memory (read once, not at every piece asked)."""

_STATES: Final = {
    "done": TransferState.DONE,
    "declined": TransferState.DECLINED,
    "cancelled": TransferState.CANCELLED,
    "failed": TransferState.FAILED,
}
_NOT_FINAL = frozenset({TransferState.OFFERED, TransferState.ACTIVE, TransferState.PAUSED})


class _Head(Protocol):
    def is_member(self, name: str) -> bool: ...


class _View(Protocol):
    @property
    def head(self) -> _Head: ...


class GroupMembers(Protocol):
    """What serving needs of the group book: who is a member of a group now."""

    async def view(self, group: UUID) -> _View | None: ...


def _unknown() -> FileRefused:
    return FileRefused("unknown_transfer", "no such file was offered to you")


class FileService:
    """The sending side of files (see the module's text)."""

    def __init__(
        self, engine: Transfers, files: FileStore, book: GroupMembers | None = None
    ) -> None:
        self.engine = engine
        self._files = files
        self._book = book
        self._hashes: OrderedDict[UUID, bytes] = OrderedDict()

    async def piece_requested(self, peer: str, transfer: UUID, index: int) -> bytes:
        record = await self._authorized(peer, transfer)
        offer = record.offer
        if not 0 <= index < offer.pieces:
            raise FileRefused(
                "unknown_transfer", f"the file has {offer.pieces} pieces; there is no {index}"
            )
        hashes = await self._piece_hashes(record)
        try:
            data = await self._files.read_piece(
                record.path or "", index * offer.piece_size, offer.piece_length(index)
            )
        except FileGone as exc:
            log.info("%s asked for %s, which is gone or shorter: %s", peer, transfer, exc)
            raise await self._changed(record) from None
        except FileProblem as exc:  # no access now, too many open files, a drive away...
            log.warning("%s asked for %s, which cannot be read now: %s", peer, transfer, exc)
            raise FileRefused("internal", "the sender cannot read the file now") from None
        digest = await asyncio.to_thread(hashlib.sha256, data)
        if digest.digest() != hashes[index * SHA256_SIZE : (index + 1) * SHA256_SIZE]:
            raise await self._changed(record)
        # Cancelled while the piece was read? Then it is not handed over, nor counted.
        record = _servable(record, await self._current(record))
        record = await self._active(record)
        if not record.final:
            self.engine.handed(record, index)
        log.debug("served piece %d of %s to %s", index, transfer, peer)
        return data

    async def hashes_requested(self, peer: str, transfer: UUID, start: int) -> bytes:
        record = await self._authorized(peer, transfer)
        if start < 0:
            raise FileRefused("unknown_transfer", f"there is no piece {start}")
        hashes = await self._piece_hashes(record)
        await self._active(record)
        return hashes[start * SHA256_SIZE : (start + HASHES_PER_ANSWER) * SHA256_SIZE]

    async def notice_received(self, peer: str, notice: TransferNotice) -> None:
        """Only the peer's own record moves (a member's, in a group); a notice about a
        transfer it has no part in is answered and ignored."""
        state = _STATES.get(notice.state)
        if state is None:
            log.info("ignored a notice from %s of state %r", peer, notice.state[:40])
            return
        records = self.engine.records
        record = await records.store.get(notice.transfer, peer)
        if record is None:
            record = await self._member_record(peer, notice.transfer)
            if record is None:
                return
        their = _clean(notice.reason)
        if record.direction is Direction.IN:
            if state in (TransferState.CANCELLED, TransferState.FAILED):
                why = f"{peer} cancelled it" if state is TransferState.CANCELLED else (
                    f"{peer} stopped sending it" + (f": {their}" if their else "")
                )  # fmt: skip
                await self.engine.ended_by_sender(record, state, why)
            return
        reason = {
            TransferState.DONE: None,
            TransferState.DECLINED: f"{peer} declined it",
            TransferState.CANCELLED: f"{peer} cancelled it",
            TransferState.FAILED: f"{peer} gave up" + (f": {their}" if their else ""),
        }[state]
        done = state is TransferState.DONE
        changes: dict[str, object] = {"bytes": record.offer.size} if done else {}
        await records.move(record, state, reason=reason, only_from=_NOT_FINAL, changes=changes)
        self.engine.forget_out(record)

    async def _authorized(self, peer: str, transfer: UUID) -> Transfer:
        """The record of ``peer``'s part in our offer ``transfer``; ``unknown_transfer`` if
        they have none (or are not in its group now), ``cancelled`` if it was cancelled."""
        store = self.engine.records.store
        record = await store.get(transfer, peer)
        if record is not None and record.direction is Direction.OUT and record.group_id is None:
            return _servable(record, record)
        if record is not None and record.direction is Direction.IN:
            raise _unknown()
        main = await store.get(transfer, "")
        if main is None or main.direction is not Direction.OUT or main.group_id is None:
            raise _unknown()
        if not await self._member(main.group_id, peer):
            raise _unknown()
        if record is None:
            record = await self._add_member(main, peer)
        return _servable(main, record)

    async def _member(self, group: UUID, peer: str) -> bool:
        if self._book is None:
            return False
        view = await self._book.view(group)
        return view is not None and view.head.is_member(peer)

    async def _add_member(self, main: Transfer, peer: str) -> Transfer:
        store = self.engine.records.store
        now = self.engine.records.now()
        fresh = main.model_copy(
            update={
                "peer": peer,
                "state": TransferState.OFFERED,
                "bytes": 0,
                "reason": None,
                "created_at": now,
                "updated_at": now,
                "notice": False,
            }
        )
        if await store.add(fresh):
            self.engine.progress.changed(fresh)
        return await store.get(main.id, peer) or fresh

    async def _member_record(self, peer: str, transfer: UUID) -> Transfer | None:
        """A member's record for a notice about our group offer they never asked for (a
        decline): made if they are a member now."""
        main = await self.engine.records.store.get(transfer, "")
        if main is None or main.direction is not Direction.OUT or main.group_id is None:
            return None
        if not await self._member(main.group_id, peer):
            return None
        return await self._add_member(main, peer)

    async def _piece_hashes(self, record: Transfer) -> bytes:
        hashes = self._hashes.get(record.id)
        if hashes is None:
            hashes = await self.engine.records.store.hashes(record.id)
            if hashes is None or len(hashes) != record.offer.pieces * SHA256_SIZE:
                raise await self._changed(record)
            self._hashes[record.id] = hashes
            while len(self._hashes) > HASHES_KEPT:
                self._hashes.popitem(last=False)
        self._hashes.move_to_end(record.id)
        return hashes

    async def _current(self, record: Transfer) -> Transfer:
        """``record`` as stored now (it may have moved while the disk was read)."""
        return await self.engine.records.store.get(record.id, record.peer) or record

    async def _active(self, record: Transfer) -> Transfer:
        """An ask: the record moves (offered or paused to active), and is watched; the record
        as it is now."""
        if record.final:
            return record
        if record.state is not TransferState.ACTIVE:
            moved = await self.engine.records.move(
                record,
                TransferState.ACTIVE,
                only_from=frozenset({TransferState.OFFERED, TransferState.PAUSED}),
            )
            record = moved or record
        self.engine.asked(record)
        return record

    async def _changed(self, record: Transfer) -> FileRefused:
        """The file is not what was offered any more: the record fails (a group's offer as a
        whole too: no member can have it), and the refusal to send."""
        records = self.engine.records
        failing = [record]
        if record.group_id is not None and record.peer:
            main = await records.store.get(record.id, "")
            if main is not None:
                failing.append(main)
        for which in failing:
            await records.move(
                which, TransferState.FAILED, reason=CHANGED_REASON, only_from=_NOT_FINAL
            )
            self.engine.forget_out(which)
        return FileRefused("changed", CHANGED_REASON)


def _servable(main: Transfer, record: Transfer) -> Transfer:
    """``record`` if its file may still be handed over; else the refusal."""
    for which in (main, record):
        if which.state is TransferState.CANCELLED:
            raise FileRefused("cancelled", "the sender cancelled this file")
        if which.state is TransferState.FAILED and which.reason == CHANGED_REASON:
            raise FileRefused("changed", CHANGED_REASON)
    return record


def _clean(text: str | None) -> str:
    """A reason a peer gave, fit to show: no control or format characters, bounded."""
    if not text:
        return ""
    kept = "".join(c for c in text[: MAX_REASON_CHARS * 2] if unicodedata.category(c)[0] != "C")
    return kept[:MAX_REASON_CHARS].strip()
