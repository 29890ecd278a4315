"""Files between the whole desktop app (a real Tk window under Xvfb, its real engine) and a real
``chinwag-cli --json`` peer, through a real registry process: nothing is faked but the file
dialog. What a person would do: accept an offer on its card and watch it arrive; pick a file
to send and see the peer get it whole."""

from __future__ import annotations

import contextlib
import logging
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from chinwag.adapters.gui.notifier import RecordingNotifier
from chinwag.adapters.gui.tk_file_rows import FileCard
from chinwag.adapters.gui.view import FileAction, FileRow
from chinwag.entrypoints.gui import DesktopApp
from chinwag.entrypoints.settings import ClientSettings
from tests.gui_support import pump
from tests.integration.test_desktop_app import find_and_open, sign_in
from tests.integration.test_file_processes import make_file, sha256_of
from tests.processes import CliProcess, Event, RegistryProcess, start

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SIZE = 6 * 1024 * 1024 + 12_345
"""A few MiB, not a whole number of pieces."""


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The pump logs (and survives) exceptions of the presenter and the view: fail on them."""
    with caplog.at_level(logging.ERROR, logger="chinwag"):
        yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


class ShownRows:
    """Every file row the presenter gave the view, and whether its card's progress bar was on
    the card right after (the view's own ``update_file`` still does the work): what the card
    showed along the way, even between two looks of the test. A few MiB on 127.0.0.1 move in
    less than the engine's progress interval, so the bar may show only its start."""

    def __init__(self, app: DesktopApp) -> None:
        self.rows: list[tuple[FileRow, bool]] = []
        view = app.view
        shown = view.update_file

        def update_file(row: FileRow) -> None:
            shown(row)
            card = view.file_card(row.id)
            self.rows.append((row, card is not None and card.bar.winfo_manager() == "grid"))

        view.update_file = update_file  # type: ignore[method-assign]

    def moving(self, transfer: UUID) -> list[FileRow]:
        """The rows of ``transfer`` shown with their bar (while it moved)."""
        return [row for row, bar in self.rows if row.id == transfer and bar]

    def of(self, transfer: UUID) -> list[FileRow]:
        return [row for row, _ in self.rows if row.id == transfer]


@contextlib.contextmanager
def desktop(
    display: str, registry: RegistryProcess, data: Path, downloads: Path
) -> Iterator[DesktopApp]:
    """The desktop app as ``chinwag --downloads DOWNLOADS`` runs it, in this process."""
    root = tk.Tk(screenName=display, className="chinwag")
    errors: list[BaseException] = []
    root.report_callback_exception = lambda kind, error, tb: errors.append(error)
    settings = ClientSettings(
        user=None,
        registry=(registry.host, registry.port),
        data_dir=data,
        listen=("127.0.0.1", 0),
        log_level="WARNING",
        downloads=downloads,
    )
    app = DesktopApp(root, settings, notifier=RecordingNotifier())
    app.start()
    try:
        yield app
    finally:
        with contextlib.suppress(tk.TclError):
            app.presenter.close_requested()
            pump(root, lambda: not _alive(root), timeout=15, what="the window to close")
        app.shutdown()
    assert not errors, f"a Tk callback raised: {errors!r}"


def _alive(root: tk.Tk) -> bool:
    try:
        return bool(root.winfo_exists())
    except tk.TclError:
        return False


def card_of(app: DesktopApp, transfer: UUID) -> FileCard:
    pump(
        app.root,
        lambda: app.view.file_card(transfer) is not None,
        timeout=15,
        what=f"the card of {transfer}",
    )
    card = app.view.file_card(transfer)
    assert card is not None
    return card


def wait_status(app: DesktopApp, transfer: UUID, words: str, timeout: float = 30) -> FileCard:
    """The card of ``transfer`` once its status says ``words`` (a card is made again when the
    pane is redrawn: look it up each time)."""

    def says() -> bool:
        card = app.view.file_card(transfer)
        return card is not None and words in str(card.status.cget("text"))

    def now() -> str:
        card = app.view.file_card(transfer)
        return "no card" if card is None else repr(card.status.cget("text"))

    try:
        pump(app.root, says, timeout=timeout, what=f"{words!r} on the card")
    except AssertionError as exc:
        raise AssertionError(f"{exc} (it says {now()})") from None
    return card_of(app, transfer)


def pump_until(
    app: DesktopApp, peer: CliProcess, kind: str, timeout: float, **fields: Any
) -> Event:
    """The window kept alive (its queue drained, as its main loop would) until ``peer`` said
    an event ``kind`` with these fields; that event."""
    pump(
        app.root,
        lambda: bool(peer.of(kind, **fields)),
        timeout=timeout,
        what=f"{peer.user}: {kind} {fields} (last events: {peer.events[-5:]})",
    )
    return peer.of(kind, **fields)[0]


def labels(card: FileCard) -> list[str]:
    return [str(button.cget("text")) for button in card.buttons.winfo_children()]


@pytest.fixture
def alice(tmp_path: Path, registry: RegistryProcess, clients: list[CliProcess]) -> CliProcess:
    return start(clients, "alice", registry, tmp_path / "alice")


def test_bob_accepts_alices_file_on_its_card_and_sends_her_one_back(
    display: str,
    registry: RegistryProcess,
    alice: CliProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    downloads = tmp_path / "bob-downloads"
    with desktop(display, registry, tmp_path / "bob", downloads) as app:
        shown = ShownRows(app)
        sign_in(app, "bob")
        alice.wait_online("bob")
        find_and_open(app, "alice")

        # alice → bob: the offer's card, Accept, the bar, then the saved file.
        source = tmp_path / "holiday photos.tar"
        sha = make_file(source, SIZE)
        sent = alice.ask("transfer", {"cmd": "send_file", "to": "bob", "path": str(source)}, 60)
        assert sent["event"] == "transfer" and sent["state"] == "offered", sent
        tid = UUID(sent["id"])
        card = wait_status(app, tid, "alice sends you this file")
        assert str(card.name.cget("text")) == "holiday photos.tar"
        assert str(card.meta.cget("text")).startswith("6.3 MB · ")
        assert labels(card) == ["Accept", "Save to…", "Decline"]
        assert not card.bar.winfo_manager()
        accept = card.button(FileAction.ACCEPT)
        assert accept is not None
        accept.invoke()

        card = wait_status(app, tid, f"Saved in {downloads}", timeout=60)
        saved = downloads / "holiday photos.tar"
        assert sha256_of(saved) == sha
        assert labels(card) == ["Open", "Show in folder"]
        assert not card.bar.winfo_manager()
        moving = shown.moving(tid)
        assert moving, f"the bar never showed: {shown.of(tid)}"
        assert all(row.fraction is not None and "%" in row.status for row in moving), moving
        assert all(row.actions == (FileAction.CANCEL,) for row in moving), moving
        done = pump_until(app, alice, "transfer", 30, id=str(tid), direction="out", state="done")
        assert done["bytes"] == SIZE, done
        assert not [p.name for p in downloads.iterdir() if p.name != saved.name], "leftovers"

        # bob → alice: picked in the (patched) file dialog, accepted by alice, hers whole.
        mine = tmp_path / "notes for alice.bin"
        mine_sha = make_file(mine, SIZE // 2)
        monkeypatch.setattr("tkinter.filedialog.askopenfilenames", lambda **_options: (str(mine),))
        app.view.widgets.menu.invoke("Send files…")
        offered = pump_until(app, alice, "transfer", 30, direction="in", state="offered")
        assert offered["from"] == "bob" and offered["name"] == mine.name, offered
        assert offered["size"] == mine.stat().st_size and offered["sha256"] == mine_sha, offered
        back = UUID(offered["id"])
        wait_status(app, back, "Waiting for alice to accept")
        alice.send(cmd="accept_file", id=str(back), dir=str(tmp_path / "alice-downloads"))
        got = pump_until(app, alice, "transfer", 60, id=str(back), state="done")
        assert sha256_of(Path(got["path"])) == mine_sha
        assert Path(got["path"]) == tmp_path / "alice-downloads" / mine.name
        card = wait_status(app, back, "alice has it", timeout=30)
        assert not card.bar.winfo_manager()
        assert labels(card) == ["Open", "Show in folder"]
