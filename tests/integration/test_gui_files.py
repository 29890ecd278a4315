"""Files in the real Tk window (Xvfb): offers as file rows, accepting one, its progress bar and
its completion, through the real bridge (events queued from another thread, drained by the
pump, a runner on a network thread) and the real presenter.

The application side is a fake: the file use cases of the session answer as the engine would,
and the test plays the engine by sending ``transfer_changed`` events itself (the engine and its
use cases are being written at the same time; an end-to-end transfer between two real
clients belongs with them).

With ImageMagick (``import``) installed, the first test also takes a screenshot mid-transfer
(into its tmp_path, so a test run changes no file of the repository); to remake the one of the
README: ``CHINWAG_SCREENSHOT_DIR=docs .venv/bin/pytest tests/integration/test_gui_files.py``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import shutil
import subprocess
import tkinter as tk
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from uuid import UUID

import pytest

from chinwag.adapters.gui.bridge import Item, NetworkThread, QueueEvents, QueuePump, QueueRunner
from chinwag.adapters.gui.presenter import ChatPresenter
from chinwag.adapters.gui.tk_file_rows import BAR_STEPS, FileCard, FilePickers
from chinwag.adapters.gui.tk_view import TkChatView
from chinwag.adapters.gui.view import FileAction
from chinwag.application.files.status import TransferStatus
from chinwag.domain.message import Message, MessageState
from chinwag.domain.transfer import Direction, FileOffer, TransferState
from tests.gui_support import pump, settle
from tests.unit.test_presenter import message
from tests.unit.test_presenter_files import FileFakeSession, Opener, file_message, offer, transfer

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 900, 700
PHOTO, VIDEO, REPORT, MINE = 11, 12, 13, 14
"""Transfer ids: a photo bob sent (saved), a video (downloading), a report (just offered), a
file of alice's (bob has it)."""


@dataclass
class AppSide(FileFakeSession):
    """The fake application: alice and bob's conversation with file offers in it."""

    events: QueueEvents | None = None


@dataclass
class Window:
    root: tk.Tk
    view: TkChatView
    presenter: ChatPresenter
    session: AppSide
    events: QueueEvents
    opener: Opener
    picks: list[str]
    folder: list[str | None]
    tmp: Path

    def card(self, n: int) -> FileCard:
        pump(self.root, lambda: self.view.file_card(UUID(int=n)) is not None, what=f"card {n}")
        found = self.view.file_card(UUID(int=n))
        assert found is not None
        return found

    def wait_status(self, n: int, words: str) -> FileCard:
        card = self.card(n)
        pump(
            self.root,
            lambda: words in str(card.status.cget("text")),
            what=f"{words!r} on card {n} (it says {card.status.cget('text')!r})",
        )
        return card


def history(tmp_path: Path) -> tuple[list[Message], list[TransferStatus]]:
    photo = offer("lighthouse.jpg", 3_400_000, "image/jpeg")
    video = offer("boat trip.mp4", 148_000_000, "video/mp4")
    mine = offer("slides.odp", 5_800_000, "application/vnd.oasis.opendocument.presentation")
    saved = tmp_path / "lighthouse.jpg"
    saved.write_bytes(b"jpeg")
    mine_path = tmp_path / "slides.odp"
    mine_path.write_bytes(b"odp")
    messages = [
        message(1, body="Here are the photos from Saturday 📷"),
        file_message(PHOTO, file=photo),
        message(2, "alice", "bob", body="Lovely! Here are my slides", state=MessageState.DELIVERED),
        file_message(
            MINE, file=mine, sender="alice", recipient="bob", state=MessageState.DELIVERED
        ),
        file_message(VIDEO, file=video),
    ]
    statuses = [
        TransferStatus(
            transfer(PHOTO, TransferState.DONE, file=photo, done=photo.size, path=str(saved)), 0.0
        ),
        TransferStatus(
            transfer(
                MINE,
                TransferState.DONE,
                direction=Direction.OUT,
                file=mine,
                done=mine.size,
                path=str(mine_path),
            ),
            0.0,
        ),
        TransferStatus(transfer(VIDEO, file=video), 0.0),
    ]
    return messages, statuses


@pytest.fixture
def window(display: str, tmp_path: Path) -> Iterator[Window]:
    root = tk.Tk(screenName=display, className="chinwag")
    errors: list[BaseException] = []

    def record(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        errors.append(error)

    root.report_callback_exception = record
    network = NetworkThread()
    network.start()
    items: queue.SimpleQueue[Item] = queue.SimpleQueue()
    events = QueueEvents(items)
    messages, statuses = history(tmp_path)
    session = AppSide(history_with_bob=messages, stored=statuses, events=events)
    opener = Opener()
    picks: list[str] = []
    folder: list[str | None] = [None]
    presenter = ChatPresenter(
        QueueRunner(network, items), lambda n, r: session, "127.0.0.1:7420", opener=opener
    )
    pickers = FilePickers(files=lambda _parent: list(picks), folder=lambda _parent: folder[0])
    view = TkChatView(root, presenter, files=presenter.files, pickers=pickers)
    presenter.attach(view)
    root.geometry(f"{WIDTH}x{HEIGHT}+0+0")
    pump_ = QueuePump(root, items, presenter)
    pump_.start()
    presenter.start("alice")
    pump(root, lambda: "alice" in root.title(), what="signed in")
    presenter.focus_changed(True)
    try:
        yield Window(root, view, presenter, session, events, opener, picks, folder, tmp_path)
    finally:
        presenter.close_requested()
        with contextlib.suppress(tk.TclError):
            pump(root, lambda: presenter.closed, what="the window to close")
        pump_.stopped = True
        network.stop()
        with contextlib.suppress(tk.TclError):
            root.destroy()
        gc.collect()
    assert not errors, f"a Tk callback raised: {errors!r}"


def test_an_offer_is_accepted_shows_its_progress_and_completes(window: Window) -> None:
    root, view, events = window.root, window.view, window.events
    window.presenter.conversation_selected("bob")
    window.wait_status(PHOTO, "Saved in")
    window.wait_status(MINE, "bob has it")
    video = window.wait_status(VIDEO, "bob sends you this file")
    assert not video.bar.winfo_manager()
    assert [str(c.cget("text")) for c in video.buttons.winfo_children()] == [
        "Accept",
        "Save to…",
        "Decline",
    ]

    # A new offer arrives while the conversation is open: a row of its own, with its buttons.
    report_offer = offer("Q3 report.pdf", 2_100_000, "application/pdf")
    events.message_received(file_message(REPORT, file=report_offer))
    events.transfer_changed(transfer(REPORT, file=report_offer), 0.0)
    report = window.wait_status(REPORT, "bob sends you this file")
    assert str(report.meta.cget("text")) == "2.1 MB · PDF document"

    # Accept the video: the use case is called with its id, and the row moves on.
    accept = video.button(FileAction.ACCEPT)
    assert accept is not None
    accept.invoke()
    pump(root, lambda: ("accept_file", (UUID(int=VIDEO), None)) in window.session.calls)
    size = 148_000_000
    for share in (0.1, 0.3, 0.45):  # the engine's progress, a few times a second
        events.transfer_changed(
            transfer(VIDEO, TransferState.ACTIVE, file=video_offer(), done=int(size * share)),
            12_300_000.0,
        )
    video = window.wait_status(VIDEO, "45% · 12.3 MB/s · 7 s left")
    assert video.bar.winfo_manager() == "grid"
    assert int(float(video.bar.cget("value"))) == int(0.45 * BAR_STEPS)
    assert video.button(FileAction.CANCEL) is not None
    settle(root)
    screenshot(view, root, Path(os.environ.get("CHINWAG_SCREENSHOT_DIR", window.tmp)))

    # Completion: the bar goes; Open and Show in folder open the saved file.
    saved = window.tmp / "boat trip.mp4"
    saved.write_bytes(b"mp4")
    done = transfer(VIDEO, TransferState.DONE, file=video_offer(), done=size, path=str(saved))
    events.transfer_changed(done, 0.0)
    video = window.wait_status(VIDEO, f"Saved in {window.tmp}")
    assert not video.bar.winfo_manager()
    for action in (FileAction.OPEN, FileAction.SHOW):
        button = video.button(action)
        assert button is not None, f"no {action} button"
        button.invoke()
    assert window.opener.opened == [str(saved)] and window.opener.shown == [str(saved)]


def test_the_paperclip_and_the_menu_send_the_picked_files_to_the_open_conversation(
    window: Window,
) -> None:
    window.presenter.conversation_selected("bob")
    window.wait_status(VIDEO, "bob sends you this file")
    window.picks[:] = ["/home/alice/a.png", "/home/alice/b.txt"]
    clip = window.view._right.composer.attach_button
    assert clip is not None
    clip.event_generate("<Button-1>", x=5, y=5)

    def sent() -> list[object]:
        return [args for name, args in window.session.calls if name == "send_file"]

    pump(window.root, lambda: len(sent()) == 2, what="two offers")
    assert sent() == [("/home/alice/a.png", "bob", None), ("/home/alice/b.txt", "bob", None)]
    window.picks[:] = ["/home/alice/c.pdf"]
    window.view.widgets.menu.invoke("Send files…")  # Ctrl+O
    pump(window.root, lambda: len(sent()) == 3, what="a third offer")
    window.picks[:] = []  # the person cancels the dialog: nothing is sent
    window.view.widgets.menu.invoke("Send files…")
    settle(window.root)
    assert len(sent()) == 3


def test_save_to_accepts_into_the_folder_picked(window: Window) -> None:
    window.presenter.conversation_selected("bob")
    video = window.wait_status(VIDEO, "bob sends you this file")
    save_to = video.button(FileAction.SAVE_AS)
    assert save_to is not None
    window.folder[0] = None  # cancelled: not accepted
    save_to.invoke()
    window.folder[0] = str(window.tmp)
    save_to.invoke()
    pump(window.root, lambda: any(c[0] == "accept_file" for c in window.session.calls))
    accepted = [args for name, args in window.session.calls if name == "accept_file"]
    assert accepted == [(UUID(int=VIDEO), str(window.tmp))]


def video_offer() -> FileOffer:
    return offer("boat trip.mp4", 148_000_000, "video/mp4")


def screenshot(view: TkChatView, root: tk.Tk, folder: Path) -> None:
    """``screenshot-files.png`` of the window in ``folder``, if ImageMagick is here."""
    if shutil.which("import") is None:
        return
    view.widgets.messages.see("end")
    settle(root)
    out = (folder if folder.is_absolute() else ROOT / folder) / "screenshot-files.png"
    display = str(root.winfo_screen())
    subprocess.run(
        ["import", "-display", display, "-window", "root", "-crop", f"{WIDTH}x{HEIGHT}+0+0", out],
        check=True,
        timeout=30,
    )
    subprocess.run(["convert", out, "+repage", out], check=True, timeout=30)
