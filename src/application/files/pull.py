"""Pulling one incoming file from its sender (docs/design-files.md, "Pulling").

The loop: find the sender, fetch the piece hashes (checked against the offer's ``root``) if
not stored, on the first run after a start keep the pieces of the partial file that match
their hashes, then keep up to ``window`` pieces asked, lowest missing first. Each piece is
checked against its hash (in a thread: hashlib lets go of the GIL) and written at its offset;
a damaged one is asked again, and one damaged ``max_damaged`` times in a row fails the
transfer. When all are in, the store checks the whole file and moves it into place; if it
does not match, every piece is checked again and the bad ones asked again, once.

Whatever goes wrong with the sender (offline, a broken session, no data for ``stall``
seconds) pauses the transfer with a reason for people and tries again after 1, 2, 4, 4... s,
or at once when the sender comes online. A full disk pauses it until there is room. What
arrived is kept: the bitmap is stored every ``checkpoint_seconds`` or ``checkpoint_pieces``,
and when the pull stops.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging

from chinwag.application.errors import (
    ChatError,
    DiskFull,
    FileRefused,
    PeerUnreachable,
    TransferNotFound,
    UserOffline,
)
from chinwag.application.files.bitmap import Bitmap
from chinwag.application.files.pull_world import (
    BUSY_PAUSE,
    PullFailed,
    PullWorld,
    piece_hashes,
)
from chinwag.application.files.running import RunningHash
from chinwag.application.ports.directory import PeerLocation
from chinwag.domain.filename import safe_filename
from chinwag.domain.transfer import SHA256_SIZE, Transfer, TransferState

log = logging.getLogger(__name__)

_GOING = frozenset({TransferState.OFFERED, TransferState.ACTIVE, TransferState.PAUSED})


class Pull:
    """One accepted incoming transfer, pulled until it is done, failed or cancelled."""

    def __init__(self, world: PullWorld, transfer: Transfer) -> None:
        self._world = world
        self._record = transfer
        self._offer = transfer.offer
        self._peer = transfer.peer
        self._directory = transfer.directory or ""
        self._bitmap = Bitmap(self._offer.pieces)
        self._checked = False
        """The partial file was looked at (the first run after a start)."""
        self._running = RunningHash(self._offer.pieces)
        self._progressed = False
        self._dirty = 0
        self._saved_at = 0.0

    @property
    def done(self) -> int:
        """Bytes held: the pieces in the bitmap."""
        offer, bitmap = self._offer, self._bitmap
        if not bitmap.count:
            return 0
        held = bitmap.count * offer.piece_size
        last = offer.pieces - 1
        if last in bitmap:
            held -= offer.piece_size - offer.piece_length(last)
        return held

    async def run(self) -> None:
        """Pull until the transfer ends; cancelled (sign-out, the user), it stores what it has."""
        world = self._world
        self._bitmap = Bitmap(self._offer.pieces, await world.records.store.pieces(self._record.id))
        self._running = RunningHash(self._offer.pieces, usable=not self._bitmap.count)
        first = min(1.0, world.settings.max_retry_delay)
        delay = disk_delay = first
        while True:
            self._progressed = False
            try:
                await self._pull()
                return
            except PullFailed as exc:
                await self._end(TransferState.FAILED, str(exc), notice=True)
                return
            except FileRefused as exc:
                if await self._refused(exc):
                    return
                reason = (
                    f"{self._peer} is busy; trying again"
                    if exc.reason == "busy"
                    else f"{self._peer} cannot read the file now; trying again"
                )
            except DiskFull as exc:
                # Always a pause, growing: a limit the free space does not show (a quota,
                # a largest file size) must not make this spin.
                if self._progressed:
                    disk_delay = first
                if not await self._wait_for_room(_disk_reason(exc), disk_delay):
                    return
                disk_delay = min(disk_delay * 2, world.settings.max_retry_delay)
                continue
            except TransferNotFound:  # its offer was withdrawn (a group's): nothing to keep
                log.info("%s from %s was withdrawn; its partial file goes", self._record.id,
                         self._peer)  # fmt: skip
                await world.files.discard(self._directory, self._record.id)
                return
            except ChatError as exc:
                reason = self._why(exc)
            if self._progressed:
                delay = first
            if not await self._pause(reason):
                return
            log.info(
                "pulling %s from %s waits %.0f s: %s", self._record.id, self._peer, delay, reason
            )
            await world.wakes.wait(self._peer, delay)
            delay = min(delay * 2, world.settings.max_retry_delay)

    async def _pull(self) -> None:
        location = await self._world.locate(self._peer)
        hashes = await self._hashes(location)
        if not self._checked:
            await self._check_partial(hashes)
        misses = 0
        while True:
            if not self._bitmap.complete:
                if self._record.state is TransferState.OFFERED:  # just accepted
                    await self._move(TransferState.ACTIVE)
                await self._fetch(location, hashes)  # active again once a piece is stored
            if await self._finish(hashes):
                return
            misses += 1
            if misses >= 2:
                raise PullFailed("the file never matched its hash")

    async def _hashes(self, location: PeerLocation) -> bytes:
        return await piece_hashes(self._world, self._peer, location, self._record)

    async def _check_partial(self, hashes: bytes) -> None:
        """Keep the pieces of the partial file that match their hashes (written before a
        crash, after the last checkpoint)."""
        self._checked = True
        if self._bitmap.complete:
            return
        offer, bitmap = self._offer, self._bitmap
        missing = [i for i in range(offer.pieces) if i not in bitmap]  # the rest are recorded
        found = await self._world.files.check_pieces(
            self._directory, self._record.id, hashes, offer.piece_size, offer.size, missing
        )
        added = sum(self._bitmap.add(i) for i in found if 0 <= i < offer.pieces)
        if added:
            self._dirty += added
            await self._checkpoint(force=True)

    async def _fetch(self, location: PeerLocation, hashes: bytes) -> None:
        """Ask for every missing piece, ``window`` at a time, lowest first; returns when all
        are held. Stores the bitmap however it ends."""
        world = self._world
        inflight: dict[asyncio.Task[bytes], int] = {}
        again: list[int] = []  # damaged pieces to ask again (a heap: lowest first)
        damaged: dict[int, int] = {}
        cursor: int | None = 0
        try:
            while True:
                while len(inflight) < world.settings.window:
                    if again:
                        index = heapq.heappop(again)
                    elif cursor is not None:
                        index_or_none = self._bitmap.next_missing(cursor)
                        cursor = None if index_or_none is None else index_or_none + 1
                        if index_or_none is None:
                            break
                        index = index_or_none
                    else:
                        break
                    task = asyncio.create_task(self._ask(location, index))
                    inflight[task] = index
                if not inflight:
                    return
                finished, _ = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                busy = False
                for task in sorted(finished, key=inflight.__getitem__):
                    index = inflight.pop(task)
                    error = None if task.cancelled() else task.exception()
                    if isinstance(error, FileRefused) and error.reason == "busy":
                        heapq.heappush(again, index)  # that one later; the others go on
                        busy = True
                        continue
                    await self._take(index, task.result(), hashes, damaged, again)
                if busy:
                    await asyncio.sleep(BUSY_PAUSE)
        finally:
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)
            await asyncio.shield(self._checkpoint(force=True))

    async def _ask(self, location: PeerLocation, index: int) -> bytes:
        """Piece ``index``, asked within the sender's bound of requests from us (all our
        transfers from that sender share it)."""
        world = self._world
        async with world.slots.of(self._peer):
            return await world.transport.fetch_piece(
                self._peer, location, self._record.id, index, world.settings.stall
            )

    async def _take(
        self, index: int, data: bytes, hashes: bytes, damaged: dict[int, int], again: list[int]
    ) -> None:
        """One piece arrived: checked, written, counted; or asked again if damaged."""
        world, offer = self._world, self._offer
        expected = hashes[index * SHA256_SIZE : (index + 1) * SHA256_SIZE]
        good = len(data) == offer.piece_length(index) and (
            (await asyncio.to_thread(hashlib.sha256, data)).digest() == expected
        )
        if not good:
            damaged[index] = damaged.get(index, 0) + 1
            log.info("piece %d of %s from %s is damaged", index, self._record.id, self._peer)
            if damaged[index] >= world.settings.max_damaged:
                raise PullFailed(f"{self._peer} keeps sending damaged pieces")
            heapq.heappush(again, index)
            return
        damaged.pop(index, None)
        await asyncio.gather(
            world.files.write_piece(
                self._directory, self._record.id, index * offer.piece_size, data
            ),
            self._running.add(index, data),
        )
        log.debug("stored piece %d of %s from %s", index, self._record.id, self._peer)
        if self._record.state is not TransferState.ACTIVE:  # pieces move again
            await self._move(TransferState.ACTIVE)
        if self._bitmap.add(index):
            self._dirty += 1
            self._progressed = True
            world.records.progress.advanced(self._record, self.done)
            await self._checkpoint()

    async def _checkpoint(self, *, force: bool = False) -> None:
        """Store the bitmap, if pieces arrived since, and it is time (or ``force``)."""
        if not self._dirty:
            return
        settings, now = self._world.settings, self._world.clock()
        due = (
            force
            or self._dirty >= settings.checkpoint_pieces
            or now - self._saved_at >= settings.checkpoint_seconds
        )
        if not due:
            return
        self._dirty, self._saved_at = 0, now
        await self._world.records.store.set_pieces(
            self._record.id, self._bitmap.to_bytes(), self.done
        )

    async def _finish(self, hashes: bytes) -> bool:
        """Move the whole file into place if it matches its hash; else mark the pieces that
        do not match theirs missing (False). All pieces matching and the file not: it never
        will (the offer's hash is not of its pieces)."""
        world, offer = self._world, self._offer
        if offer.size == 0:  # no piece to write: the (empty) partial file is made here
            await world.files.write_piece(self._directory, self._record.id, 0, b"")
        placing = asyncio.ensure_future(self._place())
        try:
            path = await asyncio.shield(placing)
        except asyncio.CancelledError:
            # Stopped (sign-out, the user's cancel) while the file is moved into place: the
            # move runs to its end and is recorded, so a file is never placed unrecorded (and
            # fetched, and placed, again at the next start).
            await asyncio.wait([placing])
            raise
        if path is not None:
            return True
        good = set(
            await world.files.check_pieces(
                self._directory, self._record.id, hashes, offer.piece_size, offer.size
            )
        )
        bad = [i for i in range(offer.pieces) if i not in good]
        log.warning("%s from %s did not match its hash: %d bad piece(s)", self._record.id,
                    self._peer, len(bad))  # fmt: skip
        if not bad:
            raise PullFailed("the file never matched its hash")
        for index in bad:
            self._bitmap.discard(index)
        self._dirty += 1
        await self._checkpoint(force=True)
        return False

    async def _place(self) -> str | None:
        """The file moved into place and recorded done, if it matches its hash; else None.
        Not read back if the running hash saw every byte and matched."""
        world, offer = self._world, self._offer
        running = self._running.digest()
        self._running = RunningHash(offer.pieces, usable=False)  # a next try reads it back
        path = await world.files.finish(
            self._directory,
            self._record.id,
            safe_filename(offer.name),
            offer.size,
            offer.sha256,
            checked=running == offer.sha256,  # else (no match, or none): read back, to be sure
        )
        if path is not None:
            await self._end(
                TransferState.DONE,
                None,
                notice=True,
                wipe=False,
                changes={"path": path, "bytes": offer.size},
            )
        return path

    async def _refused(self, refusal: FileRefused) -> bool:
        """The sender will not hand the file over: whether that ends the transfer (``busy``
        does not)."""
        if refusal.reason == "cancelled":
            await self._end(TransferState.CANCELLED, f"{self._peer} cancelled it", notice=False)
        elif refusal.reason == "changed":
            await self._end(TransferState.FAILED, "the file changed at the sender", notice=False)
        elif refusal.reason in ("busy", "internal"):  # for now: asked again after a pause
            return False
        else:
            await self._end(
                TransferState.FAILED, f"{self._peer} no longer offers this file", notice=False
            )
        return True

    def _why(self, error: ChatError) -> str:
        if isinstance(error, UserOffline):
            return f"{self._peer} is offline"
        if isinstance(error, PeerUnreachable) and error.cause == "stalled":
            return f"no data from {self._peer} for {self._world.settings.stall:g} s"
        return str(error) or error.code

    async def _wait_for_room(self, reason: str, delay: float) -> bool:
        """Paused with ``reason`` (the disk is full) for ``delay`` seconds at least, and until
        the folder has room for the rest; False if the transfer ended meanwhile."""
        if not await self._pause(reason):
            return False
        world, remaining = self._world, self._offer.size - self.done
        await world.wakes.wait(self._peer, delay)
        while not await world.files.has_room(self._directory, remaining):
            await world.wakes.wait(self._peer, world.settings.disk_retry)  # accept: look now
        return True

    async def _move(self, state: TransferState, reason: str | None = None) -> bool:
        moved = await self._world.records.move(self._record, state, reason=reason, only_from=_GOING)
        if moved is None:
            return False
        self._record = moved
        return True

    async def _pause(self, reason: str) -> bool:
        """Paused with ``reason``; False if the transfer ended meanwhile (stop pulling)."""
        if await self._move(TransferState.PAUSED, reason):
            return True
        stored = await self._world.records.store.get(self._record.id, self._peer)
        return stored is not None and not stored.final

    async def _end(
        self,
        state: TransferState,
        reason: str | None,
        *,
        notice: bool,
        wipe: bool = True,
        changes: dict[str, object] | None = None,
    ) -> None:
        """The transfer ends here: recorded, the sender told (``notice``), the partial file
        deleted (``wipe``)."""
        world = self._world
        moved = await world.records.move(
            self._record, state, reason=reason, notice=notice, only_from=_GOING, changes=changes
        )
        if moved is None:
            return
        self._record = moved
        if wipe:
            await world.files.discard(self._directory, self._record.id)
        world.notices.add(moved)


def _disk_reason(error: DiskFull) -> str:
    text = str(error)
    return text if text.startswith("the disk is full") else f"the disk is full: {text}"
