"""Files in the desktop app's presenter: offers shown as file rows, their buttons calling the
use cases, progress and states updating rows in place, opening received files. A recording
view, a fake session with the file use cases, an immediate runner, a recording opener."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from chinwag.adapters.gui.bridge import QueueEvents
from chinwag.adapters.gui.presenter import ChatPresenter, Event
from chinwag.adapters.gui.view import FileAction, FileRow, MessageRow
from chinwag.application.errors import FileProblem, TransferNotFound
from chinwag.application.files.status import TransferStatus
from chinwag.domain.transfer import Direction, FileOffer, Transfer, TransferState
from tests.unit.test_presenter import (
    FakeSession,
    ImmediateRunner,
    RecordingView,
    message,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MB = 1_000_000


def offer(
    name: str = "report.pdf", size: int = 24_600_000, mime: str = "application/pdf"
) -> FileOffer:
    digest = hashlib.sha256(name.encode()).digest()
    return FileOffer(
        name=name, size=size, sha256=digest, piece_size=512 * 1024, root=digest, mime=mime
    )


def transfer(
    n: int,
    state: TransferState = TransferState.OFFERED,
    *,
    direction: Direction = Direction.IN,
    peer: str = "bob",
    done: int = 0,
    reason: str | None = None,
    path: str | None = None,
    file: FileOffer | None = None,
    group: UUID | None = None,
    updated: int = 0,
) -> Transfer:
    return Transfer(
        id=UUID(int=n),
        direction=direction,
        peer=peer,
        conversation_id=UUID(int=999),
        group_id=group,
        offer=file or offer(),
        state=state,
        bytes=done,
        reason=reason,
        path=path,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=updated),
    )


@dataclass
class Opener:
    opened: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    refuse: OSError | None = None

    def open(self, path: str) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.opened.append(path)

    def show(self, path: str) -> None:
        self.shown.append(path)


@dataclass
class FileFakeSession(FakeSession):
    """alice, with the file use cases: each answers as the engine would, or refuses."""

    stored: list[TransferStatus] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    refuse: Exception | None = None

    async def send_file(
        self, path: str, *, to: str | None = None, group: UUID | None = None
    ) -> Transfer:
        self.calls.append(("send_file", (path, to, group)))
        if self.refuse is not None:
            raise self.refuse
        return transfer(500 + len(self.calls), direction=Direction.OUT, peer=to or "")

    async def accept_file(self, transfer_id: UUID, directory: str | None = None) -> Transfer:
        self.calls.append(("accept_file", (transfer_id, directory)))
        if self.refuse is not None:
            raise self.refuse
        return transfer(transfer_id.int, TransferState.ACTIVE, updated=1)

    async def decline_file(self, transfer_id: UUID) -> Transfer:
        self.calls.append(("decline_file", transfer_id))
        return transfer(transfer_id.int, TransferState.DECLINED, updated=1)

    async def cancel_file(self, transfer_id: UUID) -> Transfer:
        self.calls.append(("cancel_file", transfer_id))
        if self.refuse is not None:
            raise self.refuse
        return transfer(transfer_id.int, TransferState.CANCELLED, updated=1)

    async def transfers(self) -> list[TransferStatus]:
        self.calls.append(("transfers", None))
        return list(self.stored)


def file_message(n: int, **fields: Any) -> Any:
    file = fields.pop("file", offer())
    return message(n, body=file.name, file=file, **fields)


def opened_with_bob(
    session: FileFakeSession, opener: Opener | None = None
) -> tuple[ChatPresenter, RecordingView]:
    view = RecordingView()
    presenter = ChatPresenter(
        ImmediateRunner(), lambda name, registry: session, "127.0.0.1:7420", opener=opener
    )
    presenter.attach(view)
    presenter.start("alice")
    presenter.focus_changed(True)
    presenter.conversation_selected("bob")
    return presenter, view


def changed(presenter: ChatPresenter, *transfers: Transfer, rate: float = 0.0) -> None:
    presenter.handle([Event("transfer", transfer=t, rate=rate) for t in transfers])


def first_file(view: RecordingView) -> FileRow:
    rows: list[MessageRow] = view.last("open_conversation")[1]
    files = [r.file for r in rows if r.file is not None]
    assert files, "no file row shown"
    return files[0]


# -- offers -------------------------------------------------------------------------------------


def test_an_offer_in_the_history_is_a_file_row_with_accept_and_decline() -> None:
    session = FileFakeSession(history_with_bob=[message(1), file_message(2)])
    session.stored = [TransferStatus(transfer(2), 0.0)]
    _, view = opened_with_bob(session)
    rows = view.last("open_conversation")[1]
    assert rows[0].file is None  # a plain message stays a message
    row = first_file(view)
    assert (row.name, row.size, row.kind) == ("report.pdf", "24.6 MB", "PDF document")
    assert row.actions == (FileAction.ACCEPT, FileAction.SAVE_AS, FileAction.DECLINE)
    assert row.fraction is None and "bob" in row.status
    assert ("transfers", None) in session.calls


def test_an_offer_that_arrives_is_appended_as_a_file_row_with_a_safe_name() -> None:
    session = FileFakeSession()
    presenter, view = opened_with_bob(session)
    hostile = offer("../../.bashrc\u202e")
    arrived = file_message(3, file=hostile)
    presenter.handle(
        [
            Event("message", message=arrived),
            Event("transfer", transfer=transfer(3, file=hostile)),
        ]
    )
    (rows,) = view.last("append_messages")
    assert rows[0].file is not None
    assert rows[0].file.name == "bashrc"
    assert FileAction.ACCEPT in rows[0].file.actions
    assert not view.named("update_file"), "a row appended in this batch is already up to date"


def test_accept_calls_the_use_case_with_the_id_and_save_to_with_the_folder() -> None:
    session = FileFakeSession(history_with_bob=[file_message(2)])
    session.stored = [TransferStatus(transfer(2), 0.0)]
    presenter, view = opened_with_bob(session)
    presenter.files.file_accept_requested(UUID(int=2), None)
    presenter.files.file_accept_requested(UUID(int=2), "/home/alice/Documents")
    accepted = [args for name, args in session.calls if name == "accept_file"]
    assert accepted == [(UUID(int=2), None), (UUID(int=2), "/home/alice/Documents")]
    row = view.last("update_file")[0]
    assert row.actions == (FileAction.CANCEL,) and row.fraction == 0.0


def test_decline_calls_the_use_case_and_the_row_says_so() -> None:
    session = FileFakeSession(history_with_bob=[file_message(2)])
    session.stored = [TransferStatus(transfer(2), 0.0)]
    presenter, view = opened_with_bob(session)
    presenter.files.file_decline_requested(UUID(int=2))
    assert ("decline_file", UUID(int=2)) in session.calls
    row = view.last("update_file")[0]
    assert row.status == "You declined it" and row.problem and row.actions == ()


# -- progress -----------------------------------------------------------------------------------


def test_progress_shows_share_speed_and_time_left_with_the_bar() -> None:
    session = FileFakeSession(history_with_bob=[file_message(2)])
    presenter, view = opened_with_bob(session)
    changed(presenter, transfer(2, TransferState.ACTIVE, done=11_070_000), rate=2_460_000.0)
    row = view.last("update_file")[0]
    assert row.status == "45% · 2.5 MB/s · 6 s left"
    assert row.fraction == 11_070_000 / 24_600_000
    assert row.actions == (FileAction.CANCEL,)


def test_progress_in_one_batch_updates_each_row_once_with_the_latest() -> None:
    session = FileFakeSession(history_with_bob=[file_message(2), file_message(3)])
    presenter, view = opened_with_bob(session)
    presenter.handle(
        [
            Event("transfer", transfer=transfer(2, TransferState.ACTIVE, done=n * MB), rate=1e6)
            for n in range(1, 11)
        ]
        + [Event("transfer", transfer=transfer(3, TransferState.ACTIVE, done=MB), rate=1e6)]
    )
    updates = [args[0] for args in view.named("update_file")]
    assert [u.id for u in updates] == [UUID(int=2), UUID(int=3)]
    assert updates[0].status.startswith("40% ·")


def test_a_paused_transfer_says_why_and_keeps_its_bar() -> None:
    session = FileFakeSession(history_with_bob=[file_message(2)])
    presenter, view = opened_with_bob(session)
    changed(presenter, transfer(2, TransferState.PAUSED, done=12_300_000, reason="bob is offline"))
    row = view.last("update_file")[0]
    assert row.status == "50% · paused: bob is offline"
    assert row.fraction == 0.5 and row.actions == (FileAction.CANCEL,)


def test_a_transfer_of_another_conversation_does_not_touch_the_view() -> None:
    session = FileFakeSession(history_with_bob=[file_message(2)])
    presenter, view = opened_with_bob(session)
    changed(presenter, transfer(77, TransferState.ACTIVE, peer="carol", done=MB), rate=1e6)
    assert not view.named("update_file")


def test_a_list_read_before_an_event_does_not_undo_it() -> None:
    session = FileFakeSession(history_with_bob=[file_message(2)])
    runner = ImmediateRunner()
    view = RecordingView()
    presenter = ChatPresenter(runner, lambda n, r: session, "127.0.0.1:7420")
    presenter.attach(view)
    presenter.start("alice")
    session.stored = [TransferStatus(transfer(2), 0.0)]  # offered, as read
    runner.park = True
    presenter.conversation_selected("bob")  # asks for the transfers, then the page
    changed(presenter, transfer(2, TransferState.ACTIVE, done=MB), rate=1e6)  # newer
    runner.park = False
    runner.release()
    assert first_file(view).status.startswith("4% ·")


# -- done, open, show in folder -----------------------------------------------------------------


def test_done_offers_open_and_show_in_folder_which_use_the_opener(tmp_path: Path) -> None:
    saved = tmp_path / "report (2).pdf"
    saved.write_bytes(b"%PDF")
    opener = Opener()
    session = FileFakeSession(history_with_bob=[file_message(2)])
    presenter, view = opened_with_bob(session, opener)
    done = transfer(2, TransferState.DONE, done=24_600_000, path=str(saved))
    changed(presenter, done)
    row = view.last("update_file")[0]
    assert row.actions == (FileAction.OPEN, FileAction.SHOW)
    assert row.name == "report (2).pdf" and row.status == f"Saved in {tmp_path}"
    presenter.files.file_open_requested(UUID(int=2))
    presenter.files.file_show_requested(UUID(int=2))
    assert opener.opened == [str(saved)] and opener.shown == [str(saved)]


def test_opening_a_file_that_moved_or_cannot_be_opened_says_why(tmp_path: Path) -> None:
    opener = Opener()
    session = FileFakeSession(history_with_bob=[file_message(2)])
    presenter, view = opened_with_bob(session, opener)
    gone = tmp_path / "report.pdf"
    changed(presenter, transfer(2, TransferState.DONE, done=24_600_000, path=str(gone)))
    presenter.files.file_open_requested(UUID(int=2))
    assert view.last("show_error") == (f"The file is no longer at {gone}.",)
    gone.write_bytes(b"x")
    opener.refuse = OSError("xdg-open is not installed, so the desktop cannot open files")
    presenter.files.file_open_requested(UUID(int=2))
    assert "xdg-open is not installed" in view.last("show_error")[0]
    assert opener.opened == []


# -- cancel, failures, errors -------------------------------------------------------------------


def test_cancel_calls_the_use_case_and_the_row_says_cancelled() -> None:
    session = FileFakeSession(history_with_bob=[file_message(2)])
    presenter, view = opened_with_bob(session)
    changed(presenter, transfer(2, TransferState.ACTIVE, done=MB), rate=1e6)
    presenter.files.file_cancel_requested(UUID(int=2))
    assert ("cancel_file", UUID(int=2)) in session.calls
    row = view.last("update_file")[0]
    assert row.status == "Cancelled" and row.problem and row.fraction is None


def test_a_failed_transfer_says_why() -> None:
    session = FileFakeSession(history_with_bob=[file_message(2)])
    presenter, view = opened_with_bob(session)
    failed = transfer(2, TransferState.FAILED, reason="the file changed at the sender")
    changed(presenter, failed)
    row = view.last("update_file")[0]
    assert row.status == "Failed: the file changed at the sender" and row.problem


def test_errors_from_the_use_cases_are_shown_like_other_errors() -> None:
    session = FileFakeSession(history_with_bob=[file_message(2)])
    presenter, view = opened_with_bob(session)
    session.refuse = TransferNotFound("there is no transfer 2")
    presenter.files.file_accept_requested(UUID(int=2), None)
    assert view.last("show_error") == ("there is no transfer 2",)
    session.refuse = FileProblem("/tmp/x is not a regular file")
    presenter.files.files_chosen(["/tmp/x"])
    assert view.last("show_error") == ("/tmp/x is not a regular file",)


# -- sending ------------------------------------------------------------------------------------


def test_picked_files_go_to_the_open_conversation_one_offer_each() -> None:
    session = FileFakeSession(history_with_bob=[message(1)])
    presenter, _ = opened_with_bob(session)
    presenter.files.files_chosen(["/home/alice/a.png", "/home/alice/b.txt"])
    sent = [args for name, args in session.calls if name == "send_file"]
    assert sent == [("/home/alice/a.png", "bob", None), ("/home/alice/b.txt", "bob", None)]


def test_picking_files_with_no_conversation_open_asks_to_pick_someone() -> None:
    session = FileFakeSession()
    view = RecordingView()
    presenter = ChatPresenter(ImmediateRunner(), lambda n, r: session, "127.0.0.1:7420")
    presenter.attach(view)
    presenter.start("alice")
    presenter.files.files_chosen(["/home/alice/a.png"])
    assert view.last("show_error") == ("Pick somebody to send the file to first.",)
    assert not [c for c in session.calls if c[0] == "send_file"]


def test_an_outgoing_offer_waits_for_the_peer_then_shows_their_progress() -> None:
    mine = file_message(4, sender="alice", recipient="bob")
    session = FileFakeSession(history_with_bob=[mine])
    session.stored = [TransferStatus(transfer(4, direction=Direction.OUT), 0.0)]
    presenter, view = opened_with_bob(session)
    row = first_file(view)
    assert row.status == "Waiting for bob to accept" and row.actions == (FileAction.CANCEL,)
    out = transfer(4, TransferState.ACTIVE, direction=Direction.OUT, done=6_150_000)
    changed(presenter, out, rate=0.0)
    assert view.last("update_file")[0].status == "25%"


# -- the bridge -----------------------------------------------------------------------------------


def test_the_bridge_queues_transfer_changes_as_transfer_events() -> None:
    import queue

    items: queue.SimpleQueue[Any] = queue.SimpleQueue()
    QueueEvents(items).transfer_changed(transfer(2), 12.5)
    event = items.get_nowait()
    assert isinstance(event, Event)
    assert (event.kind, event.transfer, event.rate) == ("transfer", transfer(2), 12.5)
