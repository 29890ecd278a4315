"""The presenter's part for files: sending what the person picked to the open conversation,
the buttons of file rows (accept, save to…, decline, cancel, open, show in folder), and the
transfers those rows show. No Tk.

It keeps every transfer's records by id (read with ``transfers()`` at sign-in and whenever a
conversation opens, then kept up to date by ``transfer`` events) and makes the row of a file
message from them (``file_words``). A batch of events changes each transfer's row at most once:
only the latest record of each counts, and a shown row is updated in place.

The file use cases are a :class:`FileSession`, apart from ``ChatSession``: a session without
them (an older fake, say) simply has no files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Protocol, runtime_checkable
from uuid import UUID

from chinwag.adapters.gui.file_words import file_row, offered_row
from chinwag.adapters.gui.open_files import Opener, SystemOpener
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.presenter_pane import Pane
from chinwag.adapters.gui.session import Event, Runner
from chinwag.adapters.gui.view import FileRow
from chinwag.application.files.status import TransferStatus
from chinwag.domain.message import Message
from chinwag.domain.transfer import Direction, Transfer

log = logging.getLogger(__name__)

Key = tuple[UUID, str]
"""A transfer record: (transfer id, peer); a group offer's own record has peer ""."""


@runtime_checkable
class FileSession(Protocol):
    """The file use cases, as the presenter asks for them (through the runner)."""

    async def send_file(
        self, path: str, *, to: str | None = None, group: UUID | None = None
    ) -> Transfer: ...
    async def accept_file(self, transfer_id: UUID, directory: str | None = None) -> Transfer: ...
    async def decline_file(self, transfer_id: UUID) -> Transfer: ...
    async def cancel_file(self, transfer_id: UUID) -> Transfer: ...
    async def transfers(self) -> list[TransferStatus]:
        """Every transfer's records, and how fast each moves now."""
        ...


class Files:
    """The transfers, and what the person does to files (the view's ``FileListener``).
    ``can_post(group)``: whether the user may still send to a group (not one they left)."""

    def __init__(
        self,
        host: PresenterHost,
        runner: Runner,
        pane: Pane,
        can_post: Callable[[UUID], bool],
        opener: Opener | None = None,
    ) -> None:
        self._host = host
        self._runner = runner
        self._pane = pane
        self._can_post = can_post
        self._opener = opener or SystemOpener()
        self._records: dict[UUID, dict[str, TransferStatus]] = {}
        self._versions: dict[UUID, int] = {}
        """How often each transfer changed this run: an answer to a request made before the
        last change is older than what is known, and is not kept."""
        self._touched: dict[Key, int] = {}
        """When events last changed each record (a count of events): a read of all of them
        asked for before that is older there."""
        self._events = 0

    # -- the records ----------------------------------------------------------------------------

    def _session(self) -> FileSession | None:
        session = self._host.usable_session()
        return session if isinstance(session, FileSession) else None

    def load(self) -> None:
        """Read every transfer again (at sign-in, and when a conversation opens)."""
        session = self._session()
        if session is None:
            return
        asked = self._events
        self._runner.run(
            session.transfers, lambda found: self._loaded(found, asked), self._load_failed
        )

    def _loaded(self, statuses: list[TransferStatus], asked: int) -> None:
        if self._host.closing:
            return
        changed: set[UUID] = set()
        for status in statuses:
            key = (status.transfer.id, status.transfer.peer)
            if self._touched.get(key, -1) >= asked:  # an event said something newer meanwhile
                continue
            if self._keep(status):
                changed.add(status.transfer.id)
        self._show(changed)

    def _load_failed(self, exc: Exception) -> None:
        log.warning("could not read the transfers: %s", exc)

    def _keep(self, status: TransferStatus) -> bool:
        """Store ``status``; whether it changed what its row shows."""
        transfer = status.transfer
        records = self._records.setdefault(transfer.id, {})
        before = records.get(transfer.peer)
        if before == status:
            return False
        records[transfer.peer] = status
        self._versions[transfer.id] = self._versions.get(transfer.id, 0) + 1
        return True

    def changed(self, events: Iterable[Event]) -> set[UUID]:
        """Keep the latest record of each transfer of a batch of events; the transfers whose
        rows changed (shown once the batch's messages are placed: :meth:`show_changed`)."""
        latest: dict[Key, Event] = {}
        for event in events:
            if event.kind == "transfer" and event.transfer is not None:
                latest[(event.transfer.id, event.transfer.peer)] = event
        changed: set[UUID] = set()
        for key, event in latest.items():
            assert event.transfer is not None
            self._touched[key] = self._events
            self._events += 1
            if self._keep(TransferStatus(event.transfer, event.rate)):
                changed.add(key[0])
        return changed

    def show_changed(self, changed: Collection[UUID], appended: Collection[UUID]) -> None:
        """Update the shown rows of ``changed`` transfers in place; those in ``appended`` (new
        rows of this very batch) were made with the latest records already."""
        self._show([t for t in changed if t not in appended])

    def _show(self, changed: Iterable[UUID]) -> None:
        conversation = self._pane.open
        if conversation is None or self._host.closing:
            return
        for transfer_id in changed:
            if transfer_id not in conversation.shown:
                continue  # another conversation's, or on a page still to load: made from it
            row = file_row(self._records.get(transfer_id, {}))
            if row is not None:
                self._host.view.update_file(row)

    def row(self, message: Message, outgoing: bool) -> FileRow | None:
        """The file row of a file message (``None`` for any other)."""
        if message.file is None:
            return None
        return file_row(self._records.get(message.id, {})) or offered_row(message, outgoing)

    def status(self, transfer_id: UUID) -> list[TransferStatus]:
        """The records of a transfer (for tests and other parts)."""
        return list(self._records.get(transfer_id, {}).values())

    # -- what the person does -------------------------------------------------------------------

    def files_chosen(self, paths: Sequence[str]) -> None:
        """Send each picked file to the open conversation, one offer each."""
        session = self._session()
        if session is None or self._host.closing or not paths:
            return
        peer = self._pane.peer
        if peer is None:
            self._host.view.show_error("Pick somebody to send the file to first.")
            return
        if isinstance(peer, UUID) and not self._can_post(peer):
            self._host.view.show_error("You left this group: files cannot be sent to it.")
            return
        for path in paths:
            if isinstance(peer, UUID):
                work = (lambda p, g: lambda: session.send_file(p, group=g))(path, peer)
            else:
                work = (lambda p, to: lambda: session.send_file(p, to=to))(path, peer)
            self._runner.run(work, self._answered(None), self._host.failed)

    def file_accept_requested(self, transfer_id: UUID, directory: str | None) -> None:
        session = self._session()
        if session is not None and not self._host.closing:
            self._runner.run(
                lambda: session.accept_file(transfer_id, directory),
                self._answered(transfer_id),
                self._host.failed,
            )

    def file_decline_requested(self, transfer_id: UUID) -> None:
        session = self._session()
        if session is not None and not self._host.closing:
            self._runner.run(
                lambda: session.decline_file(transfer_id),
                self._answered(transfer_id),
                self._host.failed,
            )

    def file_cancel_requested(self, transfer_id: UUID) -> None:
        session = self._session()
        if session is not None and not self._host.closing:
            self._runner.run(
                lambda: session.cancel_file(transfer_id),
                self._answered(transfer_id),
                self._host.failed,
            )

    def _answered(self, transfer_id: UUID | None) -> Callable[[Transfer], None]:
        """What to do with a use case's answer: the transfer as it left it, kept unless an
        event said something newer since the request."""
        asked = None if transfer_id is None else self._versions.get(transfer_id, 0)

        def answered(transfer: Transfer) -> None:
            if self._host.closing:
                return
            if asked is None and transfer.id in self._records:
                return  # a new offer, and events told of it already
            if asked is not None and self._versions.get(transfer.id, 0) != asked:
                return
            if self._keep(TransferStatus(transfer, 0.0)):
                self._show([transfer.id])

        return answered

    def file_open_requested(self, transfer_id: UUID) -> None:
        path = self._path(transfer_id)
        if path is not None:
            self._use_opener(self._opener.open, path, "open")

    def file_show_requested(self, transfer_id: UUID) -> None:
        path = self._path(transfer_id)
        if path is not None:
            self._use_opener(self._opener.show, path, "show")

    def _path(self, transfer_id: UUID) -> str | None:
        """Where the file is on this computer (received, or the one sent); says why if none."""
        if self._host.closing:
            return None
        records = self._records.get(transfer_id, {})
        paths = [
            s.transfer.path
            for s in records.values()
            if s.transfer.path and (s.transfer.direction is Direction.OUT or s.transfer.final)
        ]
        if not paths:
            self._host.view.show_error("That file is not on this computer (yet).")
            return None
        if not os.path.exists(paths[0]):
            self._host.view.show_error(f"The file is no longer at {paths[0]}.")
            return None
        return paths[0]

    def _use_opener(self, use: Callable[[str], None], path: str, what: str) -> None:
        try:
            use(path)
        except OSError as exc:
            self._host.view.show_error(f"Could not {what} {path}: {exc}")
