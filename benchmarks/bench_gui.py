"""How the desktop app takes a burst: 5,000 incoming messages, and how long the Tk loop stalls.

A real window under Xvfb (alice, with the conversation open) and a sender in another process
(carol, real adapters) that sends 5,000 messages as fast as it can. A timer on the Tk loop beats
every 5 ms; the longest gap between two beats while the messages arrive is the longest the window
was unresponsive. Then a paste: 72 KB of text into the message box (over the 64 KiB limit), how
long until the loop answers again, and how long Enter takes to refuse it (it froze the window for
45 s and 3 minutes before). Run: ``python benchmarks/bench_gui.py`` (needs Debian's ``xvfb``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import sys
import tempfile
import time
import tkinter as tk
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_messages import Counter, make_client
from chinwag.adapters.gui.tk_composer import Composer
from chinwag.adapters.gui.tk_look import Fonts, apply_styles
from chinwag.domain.user import PeerAddress
from chinwag.entrypoints.common import run_event_loop
from chinwag.entrypoints.container import close_storage
from chinwag.entrypoints.gui import DesktopApp
from chinwag.entrypoints.settings import ClientSettings
from tests.gui_support import pump, xvfb

BEAT_MS = 5


def sender(folder: str, port: int, count: int, pipe: Connection) -> None:
    """carol: sign in, wait for the go, send ``count`` messages, wait until all are delivered."""

    async def main() -> None:
        events = Counter()
        container = make_client(Path(folder), port, "FULL", events)
        await container.use_cases.sign_in().execute("carol", PeerAddress(host="127.0.0.1", port=0))
        await events.until(lambda: "alice" in events.online)
        pipe.send("ready")
        await asyncio.to_thread(pipe.recv)
        send = container.use_cases.send_message()
        for offset in range(0, count, 500):
            await asyncio.gather(
                *(send.execute("alice", f"burst {n:04d}") for n in range(offset, offset + 500))
            )
        await events.until(lambda: events.delivered >= count, timeout=300)
        await container.use_cases.sign_out().execute()
        close_storage(container)

    run_event_loop(main())


def measure(display: str, count: int) -> tuple[float, float, float]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with tempfile.TemporaryDirectory() as data:
        root = tk.Tk(screenName=display, className="chinwag")
        app = DesktopApp(
            root,
            ClientSettings(
                user="alice",
                registry=("127.0.0.1", port),
                data_dir=Path(data),
                listen=("127.0.0.1", 0),
                log_level="WARNING",
            ),
        )
        app.start()
        pump(root, lambda: "alice" in root.title(), timeout=20, what="alice signed in")
        ours, theirs = mp.Pipe()
        carol = mp.get_context("spawn").Process(
            target=sender, args=(f"{data}/carol", port, count, theirs)
        )
        carol.start()
        people = app.view.widgets.people
        pump(root, lambda: "p:carol" in people.get_children(), timeout=30, what="carol online")
        people.selection_set("p:carol")
        pump(root, lambda: ours.poll(), timeout=30, what="carol ready")
        ours.recv()

        text = app.view.widgets.messages
        gaps: list[float] = []
        last = time.perf_counter()
        started = last
        done = False

        def beat() -> None:
            nonlocal last, done
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
            if f"burst {count - 1:04d}" in text.get("end-6l", "end"):
                done = True
            else:
                root.after(BEAT_MS, beat)

        ours.send("go")
        root.after(BEAT_MS, beat)
        pump(root, lambda: done, timeout=300, what="every message on screen")
        elapsed = time.perf_counter() - started
        shown = app.view.conversation_text().count("burst ")
        assert shown == count, f"{shown} of {count} messages on screen"
        carol.join(120)
        app.presenter.close_requested()
        pump(root, lambda: not _alive(root), timeout=30, what="the window to close")
        app.shutdown()
    gaps.sort()
    return elapsed, gaps[-1] * 1000, gaps[int(len(gaps) * 0.99)] * 1000


def measure_paste(display: str, size: int = 72_000) -> tuple[float, float, float]:
    """Seconds from pasting ``size`` bytes into the message box until the Tk loop answers, to
    type one more character at the end, and for Enter to refuse the text."""
    sent: list[str] = []
    root = tk.Tk(screenName=display)
    root.geometry("790x600")
    fonts = Fonts(root)
    apply_styles(root, fonts)
    composer = Composer(root, fonts, sent.append)
    composer.frame.pack(side="bottom", fill="x")
    pump(root, composer.entry.winfo_viewable, what="the composer")
    root.clipboard_clear()
    root.clipboard_append(("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size])
    entry = composer.entry
    entry.focus_force()

    def answered_after(action: Callable[[], object]) -> float:
        done: list[float] = []
        started = time.perf_counter()
        action()
        root.after_idle(lambda: done.append(time.perf_counter()))
        pump(root, lambda: bool(done), timeout=600, what="the loop to answer")
        return done[0] - started

    paste = answered_after(lambda: entry.event_generate("<<Paste>>"))
    typed = answered_after(lambda: entry.insert("end", "x"))
    refuse = answered_after(lambda: entry.event_generate("<Return>"))
    assert not sent and composer.counter_text().startswith("Too long"), "not refused"
    root.destroy()
    return paste, typed, refuse


def _alive(root: tk.Tk) -> bool:
    try:
        return bool(root.winfo_exists())
    except tk.TclError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--paste-only", action="store_true", help="only the paste figures")
    args = parser.parse_args()
    # One X server for both: Xlib ends the process when a server it has spoken to goes away.
    with xvfb() as display:
        if not args.paste_only:
            elapsed, worst, p99 = measure(display, args.messages)
            print(
                f"desktop app: {args.messages:,} incoming messages all shown in {elapsed:.2f} s; "
                f"longest Tk loop stall {worst:.0f} ms (99th percentile {p99:.0f} ms)",
                flush=True,
            )
        paste, typed, refuse = measure_paste(display)
    print(
        f"desktop app: 72 KB pasted into the message box, loop answering again in "
        f"{paste * 1000:.0f} ms; one more key {typed * 1000:.0f} ms; Enter refuses it "
        f"(over the limit, text kept) in {refuse * 1000:.0f} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
