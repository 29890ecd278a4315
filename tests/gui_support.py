"""Helpers for tests of real Tk windows: a private X server (Xvfb) and bounded event pumping."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
import tkinter as tk
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from tkinter import ttk

import pytest

SCREEN = "1280x800x24"
START_TIMEOUT = 15.0
MISSING = (
    "Xvfb is not installed, so the Tk window tests cannot open a display. Run the test suite "
    "with `make test` (scripts/test.sh installs Xvfb when it is missing), or install it "
    "yourself: `sudo apt-get install xvfb`."
)


@contextmanager
def xvfb(timeout: float = START_TIMEOUT, screen: str = SCREEN) -> Iterator[str]:
    """Run ``Xvfb`` on a free display for the duration of the block; yield its name (``:N``).

    Xvfb picks the display number itself and writes it to a pipe (``-displayfd``), so parallel
    runs never race for a number. Fails the test with a clear message when Xvfb is missing.
    """
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.fail(MISSING, pytrace=False)
    read_end, write_end = os.pipe()
    with tempfile.TemporaryFile() as log:
        try:
            process = subprocess.Popen(
                [binary, "-displayfd", str(write_end), "-screen", "0", screen, "-nolisten", "tcp"],
                pass_fds=(write_end,),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            os.close(write_end)
        try:
            try:
                number = _read_display(read_end, process, timeout)
            finally:
                os.close(read_end)
            if number is None:
                log.seek(0)
                output = log.read().decode(errors="replace").strip()
                pytest.fail(f"Xvfb did not start within {timeout}s:\n{output}", pytrace=False)
            yield f":{number}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _read_display(fd: int, process: subprocess.Popen[bytes], timeout: float) -> str | None:
    """The display number Xvfb writes to ``fd`` (a line), or None if it exits or times out."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            return None
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:  # Xvfb closed the pipe without a number
                return None
            data += chunk
    number = data.split(b"\n", 1)[0].strip().decode()
    return number if number.isdigit() else None


def pump(root: tk.Misc, until: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Process Tk events until ``until()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        root.update()
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or until}")
        time.sleep(0.005)  # let the X server (another process) run


def settle(root: tk.Misc) -> None:
    """Process every pending event and idle callback (layout, redisplay, deferred calls)."""
    for _ in range(3):
        root.update_idletasks()
        root.update()


def press(widget: tk.Misc, sequence: str, **fields: int) -> None:
    """Give ``widget`` the keyboard focus and generate ``sequence`` on it."""
    widget.focus_force()
    widget.update()
    widget.event_generate(sequence, **fields)  # type: ignore[arg-type]
    widget.update()


def centre_of(tree: ttk.Treeview, item: str) -> tuple[int, int]:
    box = tree.bbox(item)
    assert box, f"{item} is not on screen"
    x, y, width, height = box
    return x + min(width // 2, 40), y + height // 2
