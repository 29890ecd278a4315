"""The transfers of this client: pulls of accepted incoming files, notices to peers, the
state of outgoing files as recipients ask for them, and what the user is told.

One object for the whole client (a singleton): sign-in starts it (every accepted incoming
file not done is pulled again, every notice not given is sent), sign-out stops it (pulls
cancelled, what arrived stored). The use cases (:mod:`chinwag.application.use_cases`) call
:meth:`accept`, :meth:`decline`, :meth:`cancel` and :meth:`listing`; the receive path calls
:meth:`offered`; presence calls :meth:`online`; the :class:`FileService` calls :meth:`asked`
and :meth:`handed` when recipients ask for our files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from uuid import UUID

from chinwag.application.errors import RegistryUnavailable, TransferNotFound, UserOffline
from chinwag.application.files.bitmap import Bitmap
from chinwag.application.files.notices import Notices
from chinwag.application.files.progress import Key, Progress, key_of
from chinwag.application.files.pull import Pull
from chinwag.application.files.pull_world import PullWorld
from chinwag.application.files.records import Records
from chinwag.application.files.settings import FileSettings
from chinwag.application.files.status import TransferStatus
from chinwag.application.files.wakes import PeerWakes
from chinwag.application.ports.clock import Clock
from chinwag.application.ports.contact_repository import ContactRepository
from chinwag.application.ports.directory import Directory, PeerLocation
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.file_store import FileStore
from chinwag.application.ports.peer_transport import PeerTransport
from chinwag.application.ports.transfer_repository import TransferRepository
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.domain.errors import InvalidStateTransition
from chinwag.domain.message import Message, incoming_transfer
from chinwag.domain.transfer import Direction, FileLimits, Transfer, TransferState

log = logging.getLogger(__name__)

_NOT_FINAL = frozenset({TransferState.OFFERED, TransferState.ACTIVE, TransferState.PAUSED})


class Transfers:
    """The transfers engine (see the module's text)."""

    def __init__(
        self,
        session: Session,
        directory: Directory,
        transport: PeerTransport,
        transfers: TransferRepository,
        files: FileStore,
        contacts: ContactRepository,
        trust: TrustPolicy,
        events: ChatEvents,
        clock: Clock,
        limits: FileLimits | None = None,
        settings: FileSettings | None = None,
    ) -> None:
        self._session = session
        self._directory = directory
        self._contacts = contacts
        self._trust = trust
        self._files = files
        self.limits = limits or FileLimits()
        self.settings = settings or FileSettings()
        self.progress = Progress(events, _loop_time)
        self.records = Records(transfers, self.progress, clock)
        self.wakes = PeerWakes()
        self.notices = Notices(self.records, transport, self.locate, self.wakes)
        self._world = PullWorld(
            self.records,
            files,
            transport,
            self.locate,
            self.wakes,
            self.notices,
            self.settings,
            _loop_time,
        )
        self._pulls: dict[Key, asyncio.Task[None]] = {}
        self._online: frozenset[str] = frozenset()
        self._asked: dict[Key, float] = {}
        """Outgoing records being asked for, and the loop time of their last ask."""
        self._handed: dict[Key, tuple[Bitmap, int, int]] = {}
        """Per outgoing record: the pieces handed this run, their bytes, and the best word for
        how far the recipient is (see :meth:`handed`)."""
        """Per outgoing record asked for: the pieces handed over, and their bytes."""
        self._watchdog: asyncio.Task[None] | None = None
        self._running = False
        trust.on_trusted(self.wakes.wake)  # a key accepted: what waited for it goes on now

    # -- life ---------------------------------------------------------------------------

    async def start(self) -> None:
        """At sign-in: pull again every accepted incoming file not finished, send every notice
        not given, and watch outgoing files that were moving."""
        self._running = True
        self.notices.open()
        for record in await self.records.store.unfinished():
            if record.notice:
                self.notices.add(record)
            if record.direction is Direction.IN and record.moving:
                self._start_pull(record)
            elif record.direction is Direction.OUT and record.state is TransferState.ACTIVE:
                self.asked(record)
        for key in list(self._asked):  # asked between listening and now
            self._asked[key] = _loop_time()
        if self._asked and (self._watchdog is None or self._watchdog.done()):
            self._watchdog = asyncio.create_task(self._watch(), name="transfers:watchdog")

    async def stop(self) -> None:
        """At sign-out: every pull stopped (what arrived is stored), nothing sent any more."""
        self._running = False
        tasks = list(self._pulls.values())
        if self._watchdog is not None:
            tasks.append(self._watchdog)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pulls.clear()
        self._watchdog = None
        self._asked.clear()
        self._handed.clear()
        self._online = frozenset()  # a new sign-in's first presence wakes everyone again
        await self.notices.close()

    def online(self, names: frozenset[str]) -> None:
        """Presence: whoever just came online gets their notices, and pulls from them that
        wait go on at once."""
        joined, self._online = names - self._online, names
        for name in joined:
            self.wakes.wake(name)

    async def check_recipient(self, peer: str) -> None:
        """``UnknownUser`` if nobody of that name ever signed in: said before a file is hashed
        (seconds for a big one) and recorded. Offline, or no registry to ask, is for the
        send to judge (it queues)."""
        with contextlib.suppress(UserOffline, RegistryUnavailable):
            await self._directory.lookup(peer)

    async def locate(self, peer: str) -> PeerLocation:
        """Where ``peer`` is, with the key they must prove: the registry's answer, checked
        against the pin as the courier does (a changed key holds everything)."""
        location = await self._directory.lookup(peer)
        await self._trust.outgoing(peer, location.key)
        return location

    # -- incoming -----------------------------------------------------------------------

    async def offered(self, messages: Sequence[Message]) -> None:
        """Offers just stored (their records made with them): shown, and accepted at once
        when small enough and from a verified contact (``FileLimits.auto_accept``)."""
        me = self._session.user
        for message in messages:
            if message.file is None or message.sender == me:
                continue
            try:
                await self._offered(message)
            except Exception:
                log.exception("could not take up the offer %s", message.id)

    async def _offered(self, message: Message) -> None:
        assert message.file is not None
        record = await self.records.store.get(message.id, message.sender)
        if record is None:  # a store that did not make it with the message: made here
            made = incoming_transfer(message)
            if made is None:
                return
            record = made
            await self.records.store.add(record)
            record = await self.records.store.get(message.id, message.sender) or record
        if record.direction is not Direction.IN:
            return
        self.progress.changed(record)
        if record.state is TransferState.OFFERED and await self._auto(record):
            log.info("accepting %s from %s without asking (verified, small)", record.id,
                     record.peer)  # fmt: skip
            await self._accept(record, None)

    async def _auto(self, record: Transfer) -> bool:
        if record.offer.size > self.limits.auto_accept:
            return False
        contact = await self._contacts.get(record.peer)
        return contact is not None and contact.verified and contact.pending_key is None

    async def accept(self, transfer_id: UUID, directory: str | None = None) -> Transfer:
        """Accept an offered file into ``directory`` (the downloads folder if None). Accepting
        one already accepted (active or paused) tries again now; a finished one cannot be."""
        return await self._accept(await self._incoming(transfer_id), directory)

    async def _accept(self, record: Transfer, directory: str | None) -> Transfer:
        if record.state is TransferState.OFFERED:
            folder = directory or self._files.default_directory()
            moved = await self.records.move(
                record,
                TransferState.ACTIVE,
                only_from=frozenset({TransferState.OFFERED}),
                changes={"directory": folder},
            )
            if moved is None:
                return await self._accept(await self._incoming(record.id), directory)
            self._start_pull(moved)
            return moved
        if record.moving:
            if not self._running_pull(key_of(record)):
                self._start_pull(record)
            self.wakes.wake(record.peer)
            return record
        raise InvalidStateTransition(f"this file is {record.state.value}: it cannot be accepted")

    async def decline(self, transfer_id: UUID) -> Transfer:
        """Say no to an offered file; its sender is told."""
        record = await self._incoming(transfer_id)
        if record.state is TransferState.DECLINED:
            return record
        moved = await self.records.move(
            record,
            TransferState.DECLINED,
            notice=True,
            only_from=frozenset({TransferState.OFFERED}),
        )
        if moved is None:
            raise InvalidStateTransition(
                f"this file is {record.state.value}: only an offered file can be declined"
            )
        self.notices.add(moved)
        return moved

    async def cancel(self, transfer_id: UUID) -> Transfer:
        """Stop a transfer either way. Incoming: the pull stops and the partial file goes.
        Outgoing: every record of the offer (a group's: each member's too) is cancelled, and
        each recipient who asked for it told. The main record is returned (the incoming one;
        or the outgoing one: the recipient's, or the group's own)."""
        records = await self.records.store.of_id(transfer_id)
        incoming = next((r for r in records if r.direction is Direction.IN), None)
        if incoming is not None:
            return await self._cancel_incoming(incoming)
        outgoing = [r for r in records if r.direction is Direction.OUT]
        if not outgoing:
            raise TransferNotFound(f"there is no file transfer {transfer_id}")
        main = next((r for r in outgoing if r.group_id is None or not r.peer), outgoing[0])
        if main.final:
            raise InvalidStateTransition(f"this file is {main.state.value} already")
        result = main
        for record in outgoing:
            moved = await self.records.move(
                record,
                TransferState.CANCELLED,
                notice=bool(record.peer),
                only_from=_NOT_FINAL,
                changes=self._handed_bytes(record),
            )
            self._forget_out(key_of(record))
            if moved is not None:
                self.notices.add(moved)
                if record is main:
                    result = moved
        return result

    async def _cancel_incoming(self, record: Transfer) -> Transfer:
        if record.final:
            raise InvalidStateTransition(f"this file is {record.state.value} already")
        await self._stop_pull(key_of(record))
        moved = await self.records.move(
            record, TransferState.CANCELLED, notice=True, only_from=_NOT_FINAL
        )
        if moved is None:
            return await self._incoming(record.id)
        if moved.directory:
            await self._files.discard(moved.directory, moved.id)
        self.notices.add(moved)
        return moved

    async def ended_by_sender(self, record: Transfer, state: TransferState, reason: str) -> None:
        """The sender of an incoming file says it ended (cancelled, or failed there)."""
        await self._stop_pull(key_of(record))
        moved = await self.records.move(record, state, reason=reason, only_from=_NOT_FINAL)
        if moved is not None and moved.directory:
            await self._files.discard(moved.directory, moved.id)

    async def listing(self) -> list[TransferStatus]:
        """The newest records first, with the bytes and rate of those moving now."""
        statuses = []
        for record in await self.records.store.listing():
            if record.direction is Direction.OUT and key_of(record) in self._handed:
                record = record.model_copy(update=self._handed_bytes(record))
            statuses.append(TransferStatus(*self.progress.live(record)))
        return statuses

    async def _incoming(self, transfer_id: UUID) -> Transfer:
        record = await self.records.incoming(transfer_id)
        if record is None:
            raise TransferNotFound(f"no file was offered to you as {transfer_id}")
        return record

    # -- pulls --------------------------------------------------------------------------

    def _running_pull(self, key: Key) -> bool:
        task = self._pulls.get(key)
        return task is not None and not task.done()

    def _start_pull(self, record: Transfer) -> None:
        key = key_of(record)
        if not self._running or self._running_pull(key):
            return
        self._pulls[key] = asyncio.create_task(self._pull(record), name=f"pull:{record.id}")

    async def _pull(self, record: Transfer) -> None:
        key = key_of(record)
        try:
            await Pull(self._world, record).run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("pulling %s from %s stopped", record.id, record.peer)
            await self.records.move(
                record,
                TransferState.PAUSED,
                reason=f"stopped by an internal error ({exc!r}); accept it again to retry",
                only_from=_NOT_FINAL,
            )
        finally:
            if self._pulls.get(key) is asyncio.current_task():
                del self._pulls[key]

    async def _stop_pull(self, key: Key) -> None:
        task = self._pulls.pop(key, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- outgoing -----------------------------------------------------------------------

    def asked(self, record: Transfer) -> None:
        """A recipient asked for an outgoing file (or it was moving at sign-in): watched, and
        paused ("waiting for NAME") if no ask follows within ``stall`` seconds."""
        self._asked[key_of(record)] = _loop_time()
        if self._running and (self._watchdog is None or self._watchdog.done()):
            self._watchdog = asyncio.create_task(self._watch(), name="transfers:watchdog")

    def handed(self, record: Transfer, index: int) -> Transfer:
        """Piece ``index`` of an outgoing file went to its recipient: counted (once per piece)
        and told (thinned); the record with the bytes handed so far."""
        key, offer = key_of(record), record.offer
        bitmap, done, far = self._handed.get(key) or (Bitmap(offer.pieces), 0, 0)
        if bitmap.add(index):
            done = min(done + offer.piece_length(index), offer.size)
        # A recipient asks for the lowest pieces it lacks first, so one that asks for piece
        # ``index`` has (nearly) all before it: after a restart of either side, this is the
        # sender's best word for how far it is, not the few pieces handed since (it may run
        # a window of asks ahead).
        through = index * offer.piece_size + offer.piece_length(index)  # this one handed now
        far = max(far, done, record.bytes, through)
        self._handed[key] = (bitmap, done, far)
        record = record.model_copy(update={"bytes": far})
        self.progress.advanced(record, record.bytes)
        return record

    def _handed_bytes(self, record: Transfer) -> dict[str, object]:
        handed = self._handed.get(key_of(record))
        return {} if handed is None else {"bytes": max(handed[2], record.bytes)}

    def forget_out(self, record: Transfer) -> None:
        self._forget_out(key_of(record))

    def _forget_out(self, key: Key) -> None:
        self._asked.pop(key, None)
        self._handed.pop(key, None)
        self.progress.forget(key)

    async def _watch(self) -> None:
        stall = self.settings.stall
        while self._asked:
            await asyncio.sleep(stall / 5)
            now = _loop_time()
            for key, last in list(self._asked.items()):
                if now - last < stall:
                    continue
                del self._asked[key]
                record = await self.records.store.get(*key)
                if record is None:
                    continue
                away = record.peer not in self._online
                await self.records.move(
                    record,
                    TransferState.PAUSED,
                    reason=f"{record.peer} is offline" if away else f"waiting for {record.peer}",
                    only_from=frozenset({TransferState.ACTIVE}),
                    changes=self._handed_bytes(record),
                )


def _loop_time() -> float:
    return asyncio.get_running_loop().time()
