"""Make docs/screenshot.png: alice and bob chatting in two chinwag windows, under Xvfb.

Run from the repository: ``.venv/bin/python scripts/screenshot.py`` (needs Debian's ``xvfb`` and
``imagemagick``: ``apt-get install xvfb imagemagick``; ``make screenshot`` does both).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import tkinter as tk
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chinwag.entrypoints.gui import DesktopApp  # noqa: E402
from chinwag.entrypoints.settings import ClientSettings  # noqa: E402
from tests.gui_support import press, pump, xvfb  # noqa: E402

WIDTH, HEIGHT = 880, 600
CONVERSATION = [
    ("alice", "Hi Bob! Did the photos from the trip come through? 📷"),
    ("bob", "They did, all 42 of them 😄\nThe one at the lighthouse is my favourite."),
    ("alice", "Same! Shall we print a few for the office?"),
    ("bob", "Yes — let's pick them over lunch tomorrow 🥪"),
    ("alice", "Deal. 12:30 at the usual place ✓"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def open_app(
    display: str,
    name: str,
    registry: tuple[str, int],
    data: Path,
    x: int = 0,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> DesktopApp:
    """``name``'s desktop app at ``x`` on ``display``, signed in (also for screenshot_keys.py)."""
    root = tk.Tk(screenName=display, className="chinwag")
    settings = ClientSettings(
        user=name,
        registry=registry,
        data_dir=data,
        listen=("127.0.0.1", 0),
        log_level="WARNING",
    )
    app = DesktopApp(root, settings)
    root.geometry(f"{size[0]}x{size[1]}+{x}+0")  # after the view has set its own default size
    app.start()
    pump(root, lambda: name in root.title(), timeout=20, what=f"{name} signed in")
    return app


def chat(sender: DesktopApp, receiver: DesktopApp, text: str) -> None:
    entry = sender.view.widgets.entry
    entry.insert("1.0", text)
    press(entry, "<Return>")
    for app in (sender, receiver):
        pump(
            app.root,
            lambda app=app: text.splitlines()[-1] in app.view.conversation_text(),  # type: ignore[misc]
            timeout=20,
            what="the message on both screens",
        )


def main() -> None:
    if shutil.which("import") is None:
        sys.exit("screenshot.py needs ImageMagick's `import`: apt-get install imagemagick")
    if not _has_glyph("1f96a"):  # 🥪, and the other emoji and marks of the conversation
        print(
            "screenshot.py: no font has the emoji; apt-get install fonts-symbola", file=sys.stderr
        )
    out = ROOT / "docs" / "screenshot.png"
    port = free_port()
    with tempfile.TemporaryDirectory() as data, xvfb(screen=f"{2 * WIDTH}x{HEIGHT}x24") as display:
        os.environ["DISPLAY"] = display
        alice = open_app(display, "alice", ("127.0.0.1", port), Path(data))  # starts the registry
        bob = open_app(display, "bob", ("127.0.0.1", port), Path(data), WIDTH)
        apps = {"alice": alice, "bob": bob}
        for app, peer in ((alice, "bob"), (bob, "alice")):
            pump(
                app.root,
                lambda a=app, p=peer: f"p:{p}" in a.view.widgets.people.get_children(),  # type: ignore[misc]
                timeout=20,
                what="presence",
            )
            app.view.widgets.people.selection_set(f"p:{peer}")
        for who, text in CONVERSATION:
            chat(apps[who], apps["bob" if who == "alice" else "alice"], text)
        for app in apps.values():
            pump(app.root, lambda a=app: "◷" not in a.view.conversation_text(), timeout=20)  # type: ignore[misc]
            for _ in range(5):
                app.root.update()
        subprocess.run(["import", "-display", display, "-window", "root", str(out)], check=True)
        for app in apps.values():
            app.presenter.close_requested()
        for app in (bob, alice):
            pump(app.root, lambda a=app: not alive(a.root), timeout=20)  # type: ignore[misc]
            app.shutdown()
    print(f"wrote {out.relative_to(ROOT)}")


def _has_glyph(codepoint: str) -> bool:
    """Whether fontconfig knows a font with ``codepoint`` (hex); True if it cannot say."""
    if shutil.which("fc-list") is None:
        return True
    found = subprocess.run(["fc-list", f":charset={codepoint}", "family"], capture_output=True)
    return bool(found.stdout.strip())


def alive(root: tk.Tk) -> bool:
    try:
        return bool(root.winfo_exists())
    except tk.TclError:
        return False


if __name__ == "__main__":
    main()
