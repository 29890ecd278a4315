"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gui_support import xvfb
from tests.processes import CliProcess, RegistryProcess


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """One private X server for every Tk test of the run.

    One for the whole session, not per module: a Tk interpreter keeps its display open until it
    is garbage collected, and Xlib ends the process when a display it still holds goes away.
    """
    with xvfb() as name:
        yield name


@pytest.fixture
def registry() -> Iterator[RegistryProcess]:
    """A real ``chinwag-registry`` process on a free port, killed afterwards."""
    process = RegistryProcess()
    yield process
    process.kill()


@pytest.fixture
def clients() -> Iterator[list[CliProcess]]:
    """Client processes a test starts (see ``tests.processes.start``), killed afterwards."""
    started: list[CliProcess] = []
    yield started
    for client in started:
        client.kill()
