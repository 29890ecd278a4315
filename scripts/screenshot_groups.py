"""Make docs/screenshot-groups.png: a group in the desktop app, with its membership lines and
the per-member delivery of alice's last message on hover ("Delivered to 3 of 4", and who is
missing and why).

alice (the desktop app, under Xvfb) creates the group "Lisbon trip" with bob, carol and dave
(real ``chinwag-cli --json`` processes on a real registry process) through the New group
dialog, typing their names (her list holds only the people she has chatted with); they write;
she adds erin; dave's client quits; alice asks who is in for dinner, and hovers over the mark
of that message.

Run from the repository: ``.venv/bin/python scripts/screenshot_groups.py`` (needs Debian's
``xvfb`` and ``imagemagick``: ``apt-get install xvfb imagemagick``).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chinwag.entrypoints.gui import DesktopApp  # noqa: E402
from scripts.screenshot import alive, capture, open_app  # noqa: E402
from tests.gui_support import press, pump, settle, xvfb  # noqa: E402
from tests.processes import CliProcess, RegistryProcess  # noqa: E402

WIDTH, HEIGHT = 960, 640
MEMBERS = ("bob", "carol", "dave")
CHAT = [
    ("alice", "Flights are booked ✈ We land on Friday at 9:40."),
    ("bob", "Great! I found a flat near Alfama, two minutes from the tram 🚋"),
    ("carol", "Can we do the castle on Saturday morning? 🏰"),
    ("alice", "Yes! And erin is coming too, I'll add her."),
]
LAST = "Who's in for dinner at 8 on Friday? 🐟"


def alice_says(app: DesktopApp, text: str) -> UUID:
    """alice types ``text`` and presses Enter; the id of her message once it shows."""
    view = app.view
    entry = view.widgets.entry
    entry.insert("1.0", text)
    press(entry, "<Return>")
    pump(app.root, lambda: text in view.conversation_text(), timeout=20, what=text)
    t = view.widgets.messages

    def line(message: UUID) -> int:
        return int(t.index(f"s{message.hex}").split(".")[0])

    ours = [UUID(hex=m[1:]) for m in t.mark_names() if m.startswith("s") and len(m) == 33]
    return max(ours, key=line)  # the delivery marks of ours: the last one is this message's


def main() -> None:
    if shutil.which("import") is None or shutil.which("convert") is None:
        sys.exit("screenshot_groups.py needs ImageMagick: apt-get install imagemagick")
    logging.basicConfig(level=logging.ERROR)
    out = ROOT / "docs" / "screenshot-groups.png"
    with (
        tempfile.TemporaryDirectory() as tmp,
        xvfb(screen=f"{WIDTH + 200}x{HEIGHT + 100}x24") as display,
    ):
        os.environ["DISPLAY"] = display
        data = Path(tmp)
        registry = RegistryProcess(data_dir=data / "registry")
        peers = {name: CliProcess(name, registry.address, data / name) for name in MEMBERS}
        app: DesktopApp | None = None
        try:
            for name, peer in peers.items():
                peer.wait_event("ready", user=name)
            # erin signs in once, so the registry knows her; she is online when she is added.
            erin = peers["erin"] = CliProcess("erin", registry.address, data / "erin")
            erin.wait_event("ready", user="erin")
            app = open_app(
                display,
                "alice",
                (registry.host, registry.port),
                data / "alice",
                size=(WIDTH, HEIGHT),
            )
            view = app.view
            tree = view.widgets.people
            for peer in peers.values():
                peer.wait_online("alice")

            view.widgets.menu.invoke("New group…")
            dialog = view.widgets.group_dialog
            pump(app.root, dialog.visible, timeout=20, what="the new group dialog")
            dialog.name.insert(0, "Lisbon trip")
            dialog.others.insert(0, " ".join(MEMBERS))  # not in her list: typed
            dialog.button.invoke()
            pump(app.root, lambda: view.widgets.header.cget("text") == "Lisbon trip", timeout=20)
            group = next(UUID(hex=i[2:]) for i in tree.get_children() if i.startswith("g:"))
            for name in MEMBERS:
                peers[name].wait_event("group", id=str(group))

            for who, text in CHAT:
                if who == "alice":
                    alice_says(app, text)
                else:
                    peers[who].send(cmd="send", group=str(group), body=text)
                    pump(app.root, lambda t=text: t in view.conversation_text(), timeout=20)  # type: ignore[misc]
            members = view.widgets.members
            view.widgets.members_button.invoke()
            pump(app.root, members.visible, timeout=20, what="the members window")
            members.add_button.invoke()
            dialog.others.insert(0, "erin")
            dialog.button.invoke()
            pump(app.root, lambda: "You added erin" in view.conversation_text(), timeout=20)
            erin.wait_event("group", id=str(group))
            members.close()

            peers.pop("dave").quit()  # dave's laptop is shut: his copy waits for him
            pump(app.root, lambda: "4 of 5" not in view.presence_text(), timeout=5)
            last = alice_says(app, LAST)
            for name in ("bob", "carol", "erin"):
                peers[name].wait_event("message", body=LAST)
            pump(
                app.root,
                lambda: view.mark_of(last).endswith("3/4"),
                timeout=20,
                what=f"3/4 (the mark is {view.mark_of(last)!r})",
            )
            settle(app.root)
            t = view.widgets.messages
            t.see(f"s{last.hex}")
            settle(app.root)
            box = t.bbox(f"s{last.hex}")
            assert box is not None
            t.event_generate("<Motion>", x=5, y=5)
            settle(app.root)
            t.event_generate("<Motion>", x=box[0] + box[2] // 2, y=box[1] + box[3] // 2)
            pump(app.root, lambda: view.tooltip_text() is not None, what="the tooltip")
            settle(app.root)
            capture(display, out, WIDTH, HEIGHT)
        finally:
            if app is not None:
                root = app.root
                app.presenter.close_requested()
                pump(root, lambda: not alive(root), timeout=20, what="the window to close")
                app.shutdown()
            for peer in peers.values():
                peer.kill()
            registry.kill()
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
