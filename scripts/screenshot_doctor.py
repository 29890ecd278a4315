"""Make docs/screenshot-doctor.png: the desktop app's connection doctor, with carol reached
directly and bob only through the registry's relay (``--listen none``).

Run from the repository: ``.venv/bin/python scripts/screenshot_doctor.py`` (needs Debian's
``xvfb`` and ``imagemagick``; ``make screenshot`` installs both and runs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chinwag.entrypoints.gui import DesktopApp  # noqa: E402
from scripts.screenshot import (  # noqa: E402
    alice_says,
    alive,
    bob_says,
    capture_with_dialog,
    first_from,
    open_app,
)
from tests.gui_support import pump, settle, xvfb  # noqa: E402
from tests.processes import CliProcess, RegistryProcess  # noqa: E402

DOCTOR_SIZE = (1000, 660)
"""alice's window in the doctor's scene: the doctor's window (about 810 pixels wide) lies over
it with a margin, under the conversation header ("online · relayed")."""
REGISTRY_DELAY = 0.010
"""Seconds the link to the registry holds each chunk, each way (see :class:`SlowLink`)."""
DOCTOR_CHAT = [
    ("carol", "carol", "Are we still on for the quiz on Thursday?"),
    ("carol", "alice", "Yes! I'll bring the snacks 🥨"),
    ("bob", "bob", "On the train, writing from my phone's hotspot"),
    ("bob", "alice", "Got it. See you at the station at six?"),
]
"""(conversation, who writes, text): bob's conversation comes last and stays open."""


class SlowLink:
    """A TCP forwarder to ``target`` on 127.0.0.1 that holds every chunk ``delay`` seconds
    each way, in order: the registry as if it ran a few hundred kilometres away. On loopback a
    relayed round trip takes under a millisecond; through this link it takes about four
    delays, as across the internet. Direct connections between clients do not go through it,
    so the doctor shows both kinds of round trip as they compare in life."""

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self._target, self._delay = target, delay
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        started = threading.Event()
        threading.Thread(target=self._run, args=(started,), daemon=True).start()
        if not started.wait(10):
            sys.exit("screenshot.py: the slow link to the registry did not start")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        """Cut every connection and stop (bounded: the loop's thread is a daemon anyway)."""
        with contextlib.suppress(TimeoutError):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=5)

    async def _stop(self) -> None:
        for writer in self._writers:
            writer.transport.abort()  # each pipe then ends by itself
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:  # none when every pipe has ended already (asyncio.wait refuses an empty set)
            await asyncio.wait(tasks, timeout=2)
        asyncio.get_running_loop().stop()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = int(server.sockets[0].getsockname()[1])
        started.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._writers -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy ``reader`` to ``writer``, each chunk ``delay`` after it was read; then close."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            with contextlib.suppress(OSError):
                while data := (item := await chunks.get())[1]:
                    await asyncio.sleep(max(0.0, item[0] - loop.time()))
                    writer.write(data)
                    await writer.drain()
            writer.close()

        sender = loop.create_task(deliver())
        try:
            while data := await reader.read(65536):
                chunks.put_nowait((loop.time() + self._delay, data))
        except OSError:
            pass
        finally:
            chunks.put_nowait((loop.time() + self._delay, b""))
            await sender


def doctor_scene(display: str) -> None:
    """alice's window and its Connection doctor: she is reachable directly; carol (a real
    ``chinwag-cli``) too, bob only through the registry's relay (``--listen none``, as on a
    phone's hotspot). The registry sits behind a :class:`SlowLink`, so relayed round trips are
    those of a registry elsewhere."""
    out = ROOT / "docs" / "screenshot-doctor.png"
    width, height = DOCTOR_SIZE
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        registry = RegistryProcess(data_dir=data / "registry")
        link = SlowLink((registry.host, registry.port), REGISTRY_DELAY)
        peers = {
            "carol": CliProcess("carol", link.address, data / "carol"),
            "bob": CliProcess("bob", link.address, data / "bob", "--listen", "none"),
        }
        app: DesktopApp | None = None
        try:
            for peer in peers.values():
                peer.wait_event("ready")
            app = open_app(
                display, "alice", ("127.0.0.1", link.port), data / "alice", 0, (width, height)
            )
            _doctor_chat(app, peers)
            view = app.view
            view.widgets.menu.invoke("Connection doctor…")
            doctor = view.widgets.doctor
            pump(app.root, doctor.visible, timeout=20, what="the doctor's window")

            def answered() -> bool:
                said = doctor.content()
                return "Checking" not in said and "checking…" not in said

            pump(app.root, answered, timeout=20, what="the doctor's answers")
            said = doctor.content()
            if "bob   relayed" not in said or "carol   direct" not in said:
                sys.exit(f"screenshot.py: the doctor did not find the paths expected:\n{said}")
            window = doctor.window
            assert window is not None
            window.geometry(f"+{width + 20}+10")  # beside the window; laid over it below
            settle(app.root)
            pump(app.root, lambda: window.winfo_rootx() > width, what="the doctor placed")
            settle(app.root)
            capture_with_dialog(display, window, out, data, width, height)
        finally:
            if app is not None:
                root = app.root
                app.presenter.close_requested()
                pump(root, lambda: not alive(root), timeout=20, what="the window to close")
                app.shutdown()
            for peer in peers.values():
                peer.kill()
            link.close()
            registry.kill()
    print(f"wrote {out.relative_to(ROOT)}")


def _doctor_chat(app: DesktopApp, peers: dict[str, CliProcess]) -> None:
    """A few messages with carol, then with bob (whose conversation stays open: its header
    shows the path). Each writes first, so each joins alice's list and she opens them there."""
    people = app.view.widgets.people
    for peer in peers.values():
        peer.wait_online("alice")
    for name, who, text in DOCTOR_CHAT:
        if f"p:{name}" not in people.selection():
            assert who == name, "each conversation starts with the other side writing"
            first_from(app, peers[name], name, text)
        elif who == "alice":
            alice_says(app, peers[name], text)
        else:
            bob_says(app, peers[name], text)  # any peer's JSON client writes the same way
    pump(app.root, lambda: "◷" not in app.view.conversation_text(), timeout=20, what="delivered")


def main() -> None:
    width, height = DOCTOR_SIZE
    with xvfb(screen=f"{2 * width}x{height + 100}x24") as display:
        os.environ["DISPLAY"] = display
        doctor_scene(display)


if __name__ == "__main__":
    main()
