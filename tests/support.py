"""Helpers shared by the tests: bounded waiting, never fixed sleeps."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from uuid import UUID

import pytest

from chinwag.application.errors import PeerUnreachable
from chinwag.application.ports.directory import PeerLocation
from chinwag.application.ports.peer_transport import TransferNotice


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``condition`` on the event loop until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(0.005)


def wait_until_sync(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """The same for code outside an event loop (processes, threads)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.01)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = ""
) -> None:
    """Like :func:`wait_until` for a condition that must itself be awaited (a database read)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(0.02)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 0 for the test: any mode a file gets is then chinwag's doing, not the umask's."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    """The permission bits of ``path`` itself (a link is not followed)."""
    return stat.S_IMODE(os.lstat(path).st_mode)


class NoFileTransfers:
    """Mix into a fake ``PeerTransport`` of a test that moves no files: every ask fails as a
    peer that cannot be reached would."""

    async def fetch_piece(
        self, peer: str, location: PeerLocation, transfer: UUID, index: int, timeout: float
    ) -> bytes:
        raise PeerUnreachable(f"{peer}: this test moves no files")

    async def fetch_hashes(
        self, peer: str, location: PeerLocation, transfer: UUID, start: int
    ) -> bytes:
        raise PeerUnreachable(f"{peer}: this test moves no files")

    async def send_notice(self, peer: str, location: PeerLocation, notice: TransferNotice) -> None:
        raise PeerUnreachable(f"{peer}: this test moves no files")
