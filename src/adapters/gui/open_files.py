"""Opening a file, or its folder, with what the desktop has for it: ``xdg-open`` (Linux and
other freedesktop systems), ``open`` (macOS), ``os.startfile`` (Windows).

The presenter calls an :class:`Opener` (tests give it a fake that records); this is the real
one. Each call returns at once (the program it starts runs on its own) and raises ``OSError``
with a readable text when nothing can open the file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class Opener(Protocol):
    def open(self, path: str) -> None:
        """Open ``path`` with the desktop's application for its type."""
        ...

    def show(self, path: str) -> None:
        """Show ``path`` in its folder (the file manager)."""
        ...


class SystemOpener:
    """The desktop's own opener."""

    def __init__(self, platform: str = sys.platform) -> None:
        self._platform = platform

    def open(self, path: str) -> None:
        if self._platform == "win32":
            os.startfile(path)  # type: ignore[attr-defined,unused-ignore]
        elif self._platform == "darwin":
            _start(["open", "--", path])
        else:
            _start(["xdg-open", path])

    def show(self, path: str) -> None:
        if self._platform == "win32":
            _start(["explorer", f"/select,{path}"])
        elif self._platform == "darwin":
            _start(["open", "-R", "--", path])
        else:  # xdg-open cannot select a file: it opens the folder
            _start(["xdg-open", str(Path(path).parent)])


def _start(command: Sequence[str]) -> None:
    """Start ``command`` detached (no window waits for it); OSError if it is not there."""
    if shutil.which(command[0]) is None:
        raise OSError(f"{command[0]} is not installed, so the desktop cannot open files")
    subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
