"""Make docs/screenshot-backup.png (alice's window, a conversation with bob, and the Back up
dialog filled in over it) and docs/screenshot-restore.png (the sign-in card of a fresh data
folder, with its "Restore from backup…" button).

Only Tk's file dialog is replaced, at its seam in ``tk_data`` (as tests/integration/
test_tk_data.py does): "Choose…" then answers with a file in alice's home, as one picked
there would be. Nothing is backed up or restored: the pictures show the dialog before its
button is pressed.

Run from the repository: ``.venv/bin/python scripts/screenshot_data.py`` (needs Debian's
``xvfb`` and ``imagemagick``; ``make screenshot`` installs both).
"""

from __future__ import annotations

import os
import sys
import tempfile
import tkinter as tk
from pathlib import Path
from tkinter import font as tkfont
from tkinter import ttk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chinwag.adapters.gui import tk_data  # noqa: E402
from chinwag.adapters.gui.notifier import RecordingNotifier  # noqa: E402
from chinwag.entrypoints.gui import DesktopApp  # noqa: E402
from chinwag.entrypoints.settings import ClientSettings  # noqa: E402
from scripts.screenshot import (  # noqa: E402
    alice_says,
    alive,
    bob_says,
    capture,
    capture_with_dialog,
    cursor_shown,
    find_and_open,
    open_app,
)
from tests.gui_support import pump, settle, xvfb  # noqa: E402
from tests.processes import CliProcess, RegistryProcess  # noqa: E402

BACKUP_FILE = "/home/alice/chinwag-alice-2026-12-01.chinwag-backup"
"""What "Choose…" answers: a plausible file in alice's home, never written."""
PASSPHRASE = "otter lantern cobalt riverbank"
"""Typed twice, shown masked."""
SIZE = (1000, 720)
"""alice's window in the backup scene: the dialog lies over it with a margin, under the
conversation's first lines."""
CARD_SIZE = (760, 540)
"""The window in the restore scene: the sign-in card, with a margin."""
CHAT = [
    ("alice", "I'm moving to the new laptop tomorrow 💻"),
    ("bob", "Nice! Will our chats come along?"),
    ("alice", "Yes: I'm backing up chinwag first, key and history 💾"),
    ("bob", "Good idea. Don't forget the passphrase 😄"),
]
"""(who writes, text): alice starts the chat (Chat ▸ New chat…), so nothing is unread."""


def backup_scene(display: str) -> None:
    """alice (the desktop app) and bob (a real ``chinwag-cli``) on a real registry chat a
    little; then Chat ▸ Back up…, a file chosen, the passphrase typed twice."""
    out = ROOT / "docs" / "screenshot-backup.png"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        registry = RegistryProcess(data_dir=data / "registry")
        bob = CliProcess("bob", registry.address, data / "bob")
        app: DesktopApp | None = None
        try:
            bob.wait_event("ready")
            address = (registry.host, registry.port)
            app = open_app(display, "alice", address, data / "alice", 0, SIZE)
            _chat(app, bob)
            tk_data.pick_backup_to_write = _picked
            app.view.widgets.menu.invoke("Back up…")
            dialog = app.view.data_dialog
            pump(app.root, dialog.visible, timeout=20, what="the backup dialog")
            dialog.choose_button.invoke()
            for entry in (dialog.passphrase, dialog.again):
                entry.insert(0, PASSPHRASE)
            if dialog.file.get() != BACKUP_FILE or dialog.message():
                sys.exit(f"screenshot_data.py: the dialog is not as expected: {dialog.message()}")
            _widen(dialog.window, dialog.file, BACKUP_FILE)
            _beside(app.root, dialog.window)
            cursor_shown(dialog.again)
            assert dialog.window is not None
            capture_with_dialog(display, dialog.window, out, data, *SIZE)
            dialog.close()
        finally:
            if app is not None:
                _close(app)
            bob.kill()
            registry.kill()
    print(f"wrote {out.relative_to(ROOT)}")


def _picked(parent: tk.Misc, suggested: str) -> str:
    """Tk's file dialog, answered: alice picks :data:`BACKUP_FILE`."""
    return BACKUP_FILE


def _chat(app: DesktopApp, bob: CliProcess) -> None:
    bob.wait_online("alice")
    app.presenter.focus_changed(True)
    find_and_open(app, "bob")
    for who, text in CHAT:
        if who == "alice":
            alice_says(app, bob, text)
        else:
            bob_says(app, bob, text)
    pump(app.root, lambda: "◷" not in app.view.conversation_text(), timeout=20, what="delivered")
    settle(app.root)


def restore_scene(display: str) -> None:
    """The app on a fresh data folder, before anybody signs in: the sign-in card and its
    "Restore from backup…" button (with the keyboard focus, as after a Tab to it)."""
    out = ROOT / "docs" / "screenshot-restore.png"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        registry = RegistryProcess(data_dir=data / "registry")
        app: DesktopApp | None = None
        try:
            root = tk.Tk(screenName=display, className="chinwag")
            settings = ClientSettings(
                user=None,
                registry=(registry.host, registry.port),
                data_dir=data / "chinwag",
                listen=("127.0.0.1", 0),
                log_level="WARNING",
            )
            app = DesktopApp(root, settings, notifier=RecordingNotifier())
            root.geometry(f"{CARD_SIZE[0]}x{CARD_SIZE[1]}+0+0")
            app.start()
            username = app.view.widgets.username
            pump(root, username.winfo_ismapped, timeout=20, what="the sign-in card")
            button = app.view.restore_button
            assert button is not None
            pump(root, button.winfo_ismapped, timeout=20, what="Restore from backup…")
            cursor_shown(button)
            capture(display, out, *CARD_SIZE)
        finally:
            if app is not None:
                _close(app)
            registry.kill()
    print(f"wrote {out.relative_to(ROOT)}")


def _widen(window: tk.Toplevel | None, entry: ttk.Entry, text: str) -> None:
    """Widen ``window`` until ``entry`` shows all of ``text``, as a person would drag it (the
    entry shows the end of a long path; here the whole path fits)."""
    assert window is not None
    settle(window)
    font = tkfont.Font(font=entry.cget("font"))
    extra = font.measure(text) + 16 - entry.winfo_width()
    if extra > 0:
        window.geometry(f"{window.winfo_width() + extra}x{window.winfo_height()}")
        settle(window)  # the words wrap wider: fewer lines, so less height is needed
        window.geometry(f"{window.winfo_width()}x{window.winfo_reqheight()}")
        settle(window)
    entry.xview_moveto(0.0)


def _beside(root: tk.Misc, window: tk.Toplevel | None) -> None:
    """Draw ``window`` beside the main window (there is no window manager under Xvfb);
    :func:`capture_with_dialog` lays it over the window."""
    assert window is not None
    window.geometry(f"+{SIZE[0] + 20}+10")
    settle(root)
    pump(root, lambda: window.winfo_rootx() > SIZE[0], what="the dialog placed")
    settle(root)


def _close(app: DesktopApp) -> None:
    """Close the window (once signed out, if signed in) and stop the app. Its interpreter
    lives on, and an ``after`` still due whose command went with the window would run in the
    next event loop (Tcl prints "invalid command name"): so they are cancelled first."""
    root = app.root
    app.presenter.close_requested()
    if alive(root):
        pump(root, lambda: not alive(root), timeout=20, what="the window to close")
    for job in root.tk.splitlist(root.tk.call("after", "info")):
        root.tk.call("after", "cancel", job)
    app.shutdown()


def main() -> None:
    # One X server for both scenes (see screenshot.py's main).
    with xvfb(screen=f"{2 * SIZE[0]}x{SIZE[1] + 100}x24") as display:
        os.environ["DISPLAY"] = display
        backup_scene(display)
        restore_scene(display)


if __name__ == "__main__":
    main()
