"""Make docs/screenshot-keys.png and docs/screenshot-verify.png: a key change in the desktop app.

alice (the desktop app, under Xvfb) chats with bob (a real ``chinwag-cli --json`` process) over a
real registry process: she finds him online in the new chat dialog. Then bob sets chinwag up
again: his client quits, the registry's operator runs ``chinwag-registry release bob --data-dir
DIR``, and bob signs in under the same name from a new data folder, with a new key, and writes
to alice. alice's window shows the key-change banner (first image); she presses "Verify…" in it
(second image: the safety number with bob's new key).

Run from the repository: ``.venv/bin/python scripts/screenshot_keys.py`` (needs Debian's ``xvfb``
and ``imagemagick``; ``make screenshot`` installs both and runs it after ``screenshot.py``).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import tkinter as tk
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chinwag.entrypoints.gui import DesktopApp  # noqa: E402
from scripts.screenshot import (  # noqa: E402
    alice_says,
    alive,
    bob_says,
    capture,
    capture_with_dialog,
    find_and_open,
    open_app,
)
from tests.gui_support import pump, settle, xvfb  # noqa: E402
from tests.processes import CliProcess, RegistryProcess, release  # noqa: E402

WIDTH, HEIGHT = 900, 660
BEFORE = [
    ("alice", "Morning! Are we still on for the climbing gym on Saturday?"),
    ("bob", "Yes! 10:00 at the north entrance 😄"),
    ("alice", "Perfect. I'll bring the spare harness for Sam."),
    ("bob", "Great, see you there ✓"),
]
# bob's new installation writes first; it waits in his client until alice accepts his new key.
AFTER_FROM_BOB = "Hi Alice, it's Bob. My laptop died, so I set chinwag up again on the new one."
AFTER_FROM_ALICE = "Bob? Your key changed. Call me and we'll compare safety numbers first."


def settled(app: DesktopApp, mark: str) -> None:
    """Until no message of ours shows ``mark`` (◷: on its way), then a few quiet Tk rounds."""
    pump(app.root, lambda: mark not in app.view.conversation_text(), timeout=20, what=mark)
    settle(app.root)


def dialog_of(app: DesktopApp) -> tk.Toplevel:
    dialog = app.view.widgets.verify_dialog.window
    assert dialog is not None
    return dialog


def main() -> None:
    if shutil.which("import") is None or shutil.which("convert") is None:
        sys.exit("screenshot_keys.py needs ImageMagick: apt-get install imagemagick")
    # Refusals between alice and bob's new key are expected here: keep them off the terminal.
    logging.basicConfig(level=logging.ERROR)
    docs = ROOT / "docs"
    keys_png, verify_png = docs / "screenshot-keys.png", docs / "screenshot-verify.png"
    with (
        tempfile.TemporaryDirectory() as tmp,
        xvfb(screen=f"{WIDTH + 720}x{max(HEIGHT, 700)}x24") as display,
    ):
        os.environ["DISPLAY"] = display
        data = Path(tmp)
        registry = RegistryProcess(data_dir=data / "registry")
        bob = CliProcess("bob", registry.address, data / "bob")
        new_bob: CliProcess | None = None
        app: DesktopApp | None = None
        try:
            bob.wait_event("ready", user="bob")
            app = open_app(
                display,
                "alice",
                (registry.host, registry.port),
                data / "alice",
                size=(WIDTH, HEIGHT),
            )
            view = app.view
            pump(app.root, lambda: bool(view.own_key_text()), timeout=20, what="alice's key")
            bob.wait_online("alice")
            find_and_open(app, "bob")  # alice writes first: Chat ▸ New chat…, "bo", bob
            for who, text in BEFORE:
                if who == "bob":
                    bob_says(app, bob, text)
                else:
                    alice_says(app, bob, text)
            settled(app, "◷")

            # bob's laptop "dies": his client quits, the operator frees the name, and bob signs
            # in again from a new data folder, with a new key.
            bob.quit()
            done = release(registry.data_dir, "bob")
            if done.returncode != 0:
                sys.exit(f"chinwag-registry release bob failed: {done.stderr.strip()}")
            new_bob = CliProcess("bob", registry.address, data / "bob-new-laptop")
            new_bob.wait_event("ready", user="bob")
            new_bob.wait_online("alice")
            new_bob.send(cmd="send", to="alice", body=AFTER_FROM_BOB)  # held in bob's client
            pump(app.root, view.key_change_visible, timeout=20, what="the key-change banner")
            alice_says(app, new_bob, AFTER_FROM_ALICE, delivered=False)
            pump(app.root, lambda: "◷" not in view.conversation_text(), timeout=20, what="held")
            settle(app.root)
            capture(display, keys_png, WIDTH, HEIGHT)

            view.widgets.banner.verify_button.invoke()
            dialog = view.widgets.verify_dialog
            pump(app.root, dialog.visible, timeout=20, what="the verify dialog")
            window = dialog.window
            assert window is not None
            window.geometry(f"+{WIDTH + 20}+10")  # beside the window; laid over it below
            settle(app.root)
            pump(app.root, lambda: window.winfo_rootx() > WIDTH, what="the dialog placed")
            settle(app.root)
            capture_with_dialog(display, dialog_of(app), verify_png, data, WIDTH, HEIGHT)
        finally:
            if app is not None:
                root = app.root
                app.presenter.close_requested()
                pump(root, lambda: not alive(root), timeout=20, what="the window to close")
                app.shutdown()
            for client in (bob, new_bob):
                if client is not None:
                    client.kill()
            registry.kill()
    for out in (keys_png, verify_png):
        print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
