"""Telling peers that a transfer ended: a decline, a cancel, a file received, a failure.

A record with ``notice`` set holds a final state this side reached that the peer was not told
yet. One worker per peer sends that peer's notices, one at a time, when it can be reached; a
notice is cleared only once the peer answered it (it stored it). While the peer cannot be
reached, the worker waits (1 s, doubling up to :data:`MAX_NOTICE_DELAY`), or until the peer
comes online.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

from chinwag.application.errors import ChatError
from chinwag.application.files.records import Records
from chinwag.application.files.wakes import PeerWakes
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import PeerTransport, TransferNotice
from chinwag.domain.transfer import Transfer

log = logging.getLogger(__name__)

MAX_NOTICE_DELAY = 60.0

Locate = Callable[[str], Awaitable[PeerLocation]]


class Notices:
    """The notices still to give, and a worker per peer that has some."""

    def __init__(
        self, records: Records, transport: PeerTransport, locate: Locate, wakes: PeerWakes
    ) -> None:
        self._records = records
        self._transport = transport
        self._locate = locate
        self._wakes = wakes
        self._pending: dict[str, set[UUID]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._closed = True

    def open(self) -> None:
        self._closed = False

    def add(self, transfer: Transfer) -> None:
        """``transfer`` has a notice for its peer: send it (soon, or when they can be reached)."""
        if not transfer.notice or not transfer.peer:
            return
        self._pending.setdefault(transfer.peer, set()).add(transfer.id)
        if self._closed:
            return  # sent at the next sign-in (the record keeps its notice)
        worker = self._workers.get(transfer.peer)
        if worker is None or worker.done():
            self._workers[transfer.peer] = asyncio.create_task(
                self._run(transfer.peer), name=f"notices:{transfer.peer}"
            )

    def waiting(self, peer: str) -> bool:
        return bool(self._pending.get(peer))

    async def close(self) -> None:
        self._closed = True
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        self._pending.clear()

    async def _run(self, peer: str) -> None:
        delay = 1.0
        try:
            while self._pending.get(peer):
                try:
                    await self._send_all(peer)
                    delay = 1.0
                    continue
                except ChatError as exc:
                    log.info("notices to %s wait: %s", peer, exc)
                except Exception:
                    log.exception("notices to %s failed unexpectedly; trying again", peer)
                await self._wakes.wait(peer, delay)
                delay = min(delay * 2, MAX_NOTICE_DELAY)
        finally:
            if self._workers.get(peer) is asyncio.current_task():
                del self._workers[peer]
            if not self._pending.get(peer):
                self._pending.pop(peer, None)

    async def _send_all(self, peer: str) -> None:
        location = await self._locate(peer)
        pending = self._pending.get(peer, set())
        for transfer_id in sorted(pending):
            record = await self._records.store.get(transfer_id, peer)
            if record is not None and record.notice:
                notice = TransferNotice(record.id, record.state.value, record.reason)
                await self._transport.send_notice(peer, location, notice)
                await self._records.noticed(record)
            pending.discard(transfer_id)
