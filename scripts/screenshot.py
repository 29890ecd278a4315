"""Make docs/screenshot.png: alice and bob chatting in two chinwag windows, under Xvfb; and the
window-level screenshots: docs/screenshot-unread.png (a conversation with the "new messages"
divider and unread counts), docs/screenshot-new-chat.png (the new chat dialog),
docs/screenshot-notifications.png (the Chat menu open, with its Notifications check mark) and
docs/screenshot-find-online.png (the new chat dialog finding who is online by prefix).
``scripts/screenshot_doctor.py`` makes the connection doctor's.

The people list holds contacts and conversations only, never strangers online: a conversation
starts as a person starts it, through Chat ▸ New chat… (:func:`find_and_open`), or with the
other side writing first (:func:`first_from`).

Run from the repository: ``.venv/bin/python scripts/screenshot.py`` (needs Debian's ``xvfb`` and
``imagemagick``: ``apt-get install xvfb imagemagick``; ``make screenshot`` does both).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tkinter as tk
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chinwag.adapters.gui.notifier import RecordingNotifier  # noqa: E402
from chinwag.entrypoints.gui import DesktopApp  # noqa: E402
from chinwag.entrypoints.settings import ClientSettings  # noqa: E402
from tests.gui_support import press, pump, settle, xvfb  # noqa: E402
from tests.processes import CliProcess, RegistryProcess  # noqa: E402

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
    app = DesktopApp(root, settings, notifier=RecordingNotifier())  # none on the desktop
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


def find_and_open(app: DesktopApp, peer: str, deadline: float = 20.0) -> None:
    """Open a conversation with ``peer`` (online, not listed yet) as a person would: Chat ▸
    New chat…, the start of their name, then Enter on them in what the search finds. Typed
    again until found: the registry may tell of ``peer`` a moment after they signed in."""
    dialog = app.view.widgets.new_chat
    app.view.widgets.menu.invoke("New chat…")
    pump(app.root, dialog.visible, timeout=20, what="the new chat dialog")
    end = time.monotonic() + deadline
    while peer not in dialog.found():
        if time.monotonic() > end:
            sys.exit(f"screenshot: {peer} never found online: {dialog.note_text()}")
        dialog.entry.delete(0, "end")
        dialog.entry.insert(0, peer[:2])
        with contextlib.suppress(AssertionError):
            pump(app.root, lambda: peer in dialog.found(), timeout=2, what=f"{peer} found")
    dialog.results.selection_set(f"r:{peer}")
    press(dialog.results, "<Return>")
    header = app.view.widgets.header
    pump(app.root, lambda: peer in header.cget("text"), timeout=20, what=f"{peer}'s pane")
    pump(app.root, lambda: not dialog.visible(), timeout=20, what="the dialog closed")


def first_from(app: DesktopApp, peer: CliProcess, name: str, text: str) -> None:
    """``name`` (a JSON client) writes ``text`` to alice first: they join her list, and she
    opens the conversation there, until it shows ``text``."""
    people = app.view.widgets.people
    peer.send(cmd="send", to="alice", body=text)
    pump(app.root, lambda: f"p:{name}" in people.get_children(), timeout=20, what=name)
    people.selection_set(f"p:{name}")
    pump(app.root, lambda: text in app.view.conversation_text(), timeout=20, what=text)


def main() -> None:
    if shutil.which("import") is None:
        sys.exit("screenshot.py needs ImageMagick's `import`: apt-get install imagemagick")
    if not _has_glyph("1f96a"):  # 🥪, and the other emoji and marks of the conversation
        print(
            "screenshot.py: no font has the emoji; apt-get install fonts-symbola", file=sys.stderr
        )
    out = ROOT / "docs" / "screenshot.png"
    port = free_port()
    # One X server for every scene: a Tk interpreter keeps its display open until collected,
    # and Xlib ends the process when a display it still holds goes away.
    with (
        tempfile.TemporaryDirectory() as data,
        xvfb(screen=f"{2 * WIDTH}x{HEIGHT + 100}x24") as display,
    ):
        os.environ["DISPLAY"] = display
        alice = open_app(display, "alice", ("127.0.0.1", port), Path(data))  # starts the registry
        bob = open_app(display, "bob", ("127.0.0.1", port), Path(data), WIDTH)
        apps = {"alice": alice, "bob": bob}
        for app, peer in ((alice, "bob"), (bob, "alice")):
            find_and_open(app, peer)
        for who, text in CONVERSATION:
            chat(apps[who], apps["bob" if who == "alice" else "alice"], text)
        for app in apps.values():
            pump(app.root, lambda a=app: "◷" not in a.view.conversation_text(), timeout=20)  # type: ignore[misc]
            for _ in range(5):
                app.root.update()
        capture(display, out, 2 * WIDTH)
        for app in apps.values():
            app.presenter.close_requested()
        for app in (bob, alice):
            pump(app.root, lambda a=app: not alive(a.root), timeout=20)  # type: ignore[misc]
            app.shutdown()
        print(f"wrote {out.relative_to(ROOT)}")
        window_scenes(display)


UNREAD_BEFORE = [
    ("bob", "Did you book the train for Friday?"),
    ("alice", "Not yet, I'll do it tonight."),
]
UNREAD_NEW = [
    "I just checked: the 8:15 is almost full 😬",
    "The 9:40 still has plenty of seats, and it's cheaper.",
    "Shall I book two on the 9:40?",
]
FROM_CAROL = ["Are you coming to the quiz on Thursday?", "We need a fourth for the team!"]
SHADOW = "#1f2937"


def window_scenes(display: str) -> None:
    """alice's window with bob and carol (real ``chinwag-cli`` processes) on a real registry:
    unread messages and the divider, the new chat dialog, and the Chat menu."""
    docs = ROOT / "docs"
    unread_png = docs / "screenshot-unread.png"
    new_chat_png = docs / "screenshot-new-chat.png"
    menu_png = docs / "screenshot-notifications.png"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        registry = RegistryProcess(data_dir=data / "registry")
        peers = {name: CliProcess(name, registry.address, data / name) for name in ("bob", "carol")}
        app: DesktopApp | None = None
        try:
            for peer in peers.values():
                peer.wait_event("ready")
            # dave signs in once, so the registry knows him: he is offline in the dialog's story.
            dave = CliProcess("dave", registry.address, data / "dave")
            dave.wait_event("ready", user="dave")
            dave.quit()
            app = open_app(display, "alice", (registry.host, registry.port), data / "alice")
            _unread_scene(app, peers, display, unread_png)
            _new_chat_scene(app, display, new_chat_png, data)
            _menu_scene(app, display, menu_png)
        finally:
            if app is not None:
                root = app.root
                app.presenter.close_requested()
                pump(root, lambda: not alive(root), timeout=20, what="the window to close")
                app.shutdown()
            for peer in peers.values():
                peer.kill()
            registry.kill()
    for out in (unread_png, new_chat_png, menu_png):
        print(f"wrote {out.relative_to(ROOT)}")
    find_online_scene(display)


STRANGERS = ("bea", "ben", "bob", "bonnie", "boris", "brandon", "dave")
"""Online in the find-online scene, none of them in alice's list: "bo" finds three."""


def find_online_scene(display: str) -> None:
    """docs/screenshot-find-online.png: alice chats with carol (who wrote first); seven others
    are online but not in her list; in the new chat dialog, "bo" finds bob, bonnie and boris."""
    out = ROOT / "docs" / "screenshot-find-online.png"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        registry = RegistryProcess(data_dir=data / "registry")
        peers = [CliProcess(n, registry.address, data / n) for n in ("carol", *STRANGERS)]
        app: DesktopApp | None = None
        try:
            for peer in peers:
                peer.wait_event("ready")
            app = open_app(display, "alice", (registry.host, registry.port), data / "alice")
            carol = peers[0]
            carol.wait_online("alice")
            first_from(app, carol, "carol", FROM_CAROL[0])
            app.presenter.focus_changed(True)
            settle(app.root)
            app.view.widgets.menu.invoke("New chat…")
            dialog = app.view.widgets.new_chat
            pump(app.root, dialog.visible, timeout=20, what="the new chat dialog")
            window = dialog.window
            assert window is not None
            everybody = len(STRANGERS) + 1  # and carol
            pump(app.root, lambda: len(dialog.found()) == everybody, timeout=20, what="everybody")
            dialog.entry.insert(0, "bo")
            found = ["bob", "bonnie", "boris"]
            pump(app.root, lambda: dialog.found() == found, timeout=20, what="bob, bonnie, boris")
            window.geometry(f"+{WIDTH + 20}+10")  # beside the window; laid over it below
            settle(app.root)
            pump(app.root, lambda: window.winfo_rootx() > WIDTH, what="the dialog placed")
            cursor_shown(dialog.entry)
            capture_with_dialog(display, window, out, data)
            dialog.close()
        finally:
            if app is not None:
                root = app.root
                app.presenter.close_requested()
                pump(root, lambda: not alive(root), timeout=20, what="the window to close")
                app.shutdown()
            for peer in peers:
                peer.kill()
            registry.kill()
    print(f"wrote {out.relative_to(ROOT)}")


def _unread_scene(app: DesktopApp, peers: dict[str, CliProcess], display: str, out: Path) -> None:
    view, bob = app.view, peers["bob"]
    for peer in peers.values():
        peer.wait_online("alice")
    people = view.widgets.people
    (who, text), *rest = UNREAD_BEFORE  # bob writes first: he joins alice's list
    first_from(app, bob, who, text)
    for who, text in rest:
        if who == "bob":
            bob_says(app, bob, text)
        else:
            alice_says(app, bob, text, delivered=False)
    pump(app.root, lambda: "◷" not in view.conversation_text(), timeout=20, what="delivered")
    app.presenter.focus_changed(False)  # alice looks away; bob and carol write meanwhile
    for text in UNREAD_NEW:
        bob.send(cmd="send", to="alice", body=text)
    for text in FROM_CAROL:
        peers["carol"].send(cmd="send", to="alice", body=text)
    pump(app.root, lambda: UNREAD_NEW[-1] in view.conversation_text(), timeout=20)
    pump(
        app.root,
        lambda: "p:carol" in people.get_children() and people.set("p:carol", "unread") == "2",
        timeout=20,
        what="carol's 2",
    )
    pump(app.root, lambda: view.divider_before() is not None, timeout=20, what="the divider")
    settle(app.root)
    capture(display, out)


def _new_chat_scene(app: DesktopApp, display: str, out: Path, scratch: Path) -> None:
    app.presenter.focus_changed(True)
    app.view.widgets.menu.invoke("New chat…")
    dialog = app.view.widgets.new_chat
    pump(app.root, dialog.visible, timeout=20, what="the new chat dialog")
    window = dialog.window
    assert window is not None
    dialog.entry.insert(0, "dave")  # offline: his whole name, as the dialog's words say
    pump(app.root, lambda: "dave" in dialog.note_text(), timeout=20, what="the search for dave")
    window.geometry(f"+{WIDTH + 20}+10")  # beside the window; laid over it below
    settle(app.root)
    pump(app.root, lambda: window.winfo_rootx() > WIDTH, what="the dialog placed")
    cursor_shown(dialog.entry)
    capture_with_dialog(display, window, out, scratch)
    dialog.close()
    settle(app.root)


def cursor_shown(entry: tk.Misc) -> None:
    """Give ``entry`` the keyboard focus afresh, as a click in it does: its border shows the
    focus and its text cursor is drawn (it blinks; coming into focus starts it on, for longer
    than the capture that follows takes)."""
    entry.winfo_toplevel().focus_force()
    settle(entry)
    entry.focus_force()
    settle(entry)


def _menu_scene(app: DesktopApp, display: str, out: Path) -> None:
    """The Chat menu posted under its title on the menu bar (no window manager draws it open,
    so it is posted by hand where a click would open it)."""
    root, menu = app.root, app.view.widgets.menu
    settle(root)
    menu.chat.post(root.winfo_rootx() + 2, root.winfo_rooty())
    settle(root)
    pump(root, lambda: menu.chat.winfo_ismapped(), what="the menu open")
    settle(root)
    capture(display, out)
    menu.chat.unpost()
    settle(root)


def capture(display: str, out: Path, width: int = WIDTH, height: int = HEIGHT) -> None:
    """The top left ``width`` x ``height`` of the screen (where the window is) into ``out``."""
    subprocess.run(
        ["import", "-display", display, "-window", "root", "-crop", f"{width}x{height}+0+0", out],
        check=True,
    )
    subprocess.run(["convert", out, "+repage", out], check=True)


def capture_with_dialog(
    display: str,
    dialog: tk.Toplevel,
    out: Path,
    scratch: Path,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> None:
    """The window (the top left ``width`` x ``height``) with ``dialog`` over it: drawn beside
    the window (there is no window manager under Xvfb to frame it), then laid over the window's
    centre with a border and a soft shadow, as a desktop would show it."""
    dialog.update_idletasks()
    w, h = dialog.winfo_width(), dialog.winfo_height()
    x, y = dialog.winfo_rootx(), dialog.winfo_rooty()
    screen, window, card = scratch / "screen.png", scratch / "window.png", scratch / "card.png"
    subprocess.run(["import", "-display", display, "-window", "root", screen], check=True)
    crop = ("-crop", f"{width}x{height}+0+0", "+repage")
    subprocess.run(["convert", screen, *crop, window], check=True)
    subprocess.run(
        [
            *("convert", screen, "-crop", f"{w}x{h}+{x}+{y}", "+repage"),
            *("-bordercolor", "#9ca3af", "-border", "1"),
            *("(", "+clone", "-background", SHADOW, "-shadow", "45x10+0+6", ")"),
            *("+swap", "-background", "none", "-layers", "merge", "+repage", card),
        ],
        check=True,
    )
    subprocess.run(
        [
            *("convert", window, "-fill", "#00000033", "-draw", f"rectangle 0,0 {width},{height}"),
            *(card, "-gravity", "center", "-geometry", "+0+10", "-composite", out),
        ],
        check=True,
    )


def _has_glyph(codepoint: str) -> bool:
    """Whether fontconfig knows a font with ``codepoint`` (hex); True if it cannot say."""
    if shutil.which("fc-list") is None:
        return True
    found = subprocess.run(["fc-list", f":charset={codepoint}", "family"], capture_output=True)
    return bool(found.stdout.strip())


def bob_says(app: DesktopApp, bob: CliProcess, text: str) -> None:
    """bob (a JSON client) writes ``text`` to alice; until her window shows it."""
    bob.send(cmd="send", to="alice", body=text)
    pump(app.root, lambda: text in app.view.conversation_text(), timeout=20, what=text)


def alice_says(app: DesktopApp, bob: CliProcess, text: str, delivered: bool = True) -> None:
    """alice types ``text`` and presses Enter; until her window shows it (and, if
    ``delivered``, bob has it)."""
    entry = app.view.widgets.entry
    entry.insert("1.0", text)
    press(entry, "<Return>")
    pump(app.root, lambda: text in app.view.conversation_text(), timeout=20, what=text)
    if delivered:
        bob.wait_event("message", body=text, timeout=20)


def alive(root: tk.Tk) -> bool:
    try:
        return bool(root.winfo_exists())
    except tk.TclError:
        return False


if __name__ == "__main__":
    main()
