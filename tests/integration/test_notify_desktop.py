"""The desktop-notifier adapter: quiet where there is no notification service, and clicks
handed back to the Tk thread where there is one."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, ClassVar

import desktop_notifier
import pytest

from chinwag.adapters.gui.notify_desktop import DesktopNotifications

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop on a thread of its own, as the app's network thread is."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


class Posted:
    """Stands in for the Tk queue: what the adapter hands to the Tk thread, run on demand."""

    def __init__(self) -> None:
        self.items: list[Callable[[], None]] = []

    def __call__(self, item: Callable[[], None]) -> None:
        self.items.append(item)


def adapter(
    loop: asyncio.AbstractEventLoop, posted: Posted, markup: bool | None = None
) -> tuple[DesktopNotifications, list[Future[None]]]:
    futures: list[Future[None]] = []

    def submit(work: Coroutine[Any, Any, None]) -> Future[None]:
        future = asyncio.run_coroutine_threadsafe(work, loop)
        futures.append(future)
        return future

    return DesktopNotifications(submit, posted, markup=markup), futures


def test_without_a_session_bus_it_says_so_once_at_info_and_goes_on(
    loop: asyncio.AbstractEventLoop,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/chinwag-test-bus")
    notifications, futures = adapter(loop, Posted())
    with caplog.at_level(logging.DEBUG):
        for n in range(3):  # at once, before the first has found out
            notifications.notify("bob", f"hi {n}", lambda: None)
        for future in futures:
            future.result(10)
        notifications.notify("bob", "later", lambda: None)
    assert notifications.available is False
    assert len(futures) == 3  # the later one was dropped at once
    ours = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [(r.name, r.levelname) for r in ours] == [
        ("chinwag.adapters.gui.notify_desktop", "INFO")
    ]
    assert "not available" in ours[0].getMessage()


class FakeDesktopNotifier:
    """desktop-notifier's DesktopNotifier as a notification service that reports clicks."""

    sent: ClassVar[list[tuple[str, str, Callable[[], Any] | None]]] = []

    def __init__(self, app_name: str, app_icon: object = None) -> None:
        self.app_name = app_name

    async def get_capabilities(self) -> frozenset[desktop_notifier.Capability]:
        return frozenset({desktop_notifier.Capability.ON_CLICKED})

    async def send(
        self, title: str, message: str, on_clicked: Callable[[], Any] | None = None
    ) -> str:
        self.sent.append((title, message, on_clicked))
        return "id"


def test_a_click_is_handed_to_the_tk_thread(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desktop_notifier, "DesktopNotifier", FakeDesktopNotifier)
    FakeDesktopNotifier.sent = []
    posted = Posted()
    notifications, futures = adapter(loop, posted)
    clicked: list[str] = []
    notifications.notify("bob", "lunch?", lambda: clicked.append("bob"))
    futures[0].result(10)
    [(title, body, on_clicked)] = FakeDesktopNotifier.sent
    assert (title, body) == ("bob", "lunch?")
    assert on_clicked is not None
    on_clicked()  # on the loop's side, as desktop-notifier calls it
    assert clicked == []  # not on that thread: handed over
    [item] = posted.items
    item()
    assert clicked == ["bob"]


@pytest.mark.parametrize(
    ("markup", "shown"),
    [
        (True, ("a&lt;b&gt;", '&lt;b&gt;hi&lt;/b&gt; &lt;img src=x&gt; &amp; "q"')),
        (False, ("a<b>", '<b>hi</b> <img src=x> & "q"')),
    ],
)
def test_what_a_peer_wrote_reaches_a_markup_service_escaped(
    loop: asyncio.AbstractEventLoop,
    monkeypatch: pytest.MonkeyPatch,
    markup: bool,
    shown: tuple[str, str],
) -> None:
    monkeypatch.setattr(desktop_notifier, "DesktopNotifier", FakeDesktopNotifier)
    FakeDesktopNotifier.sent = []
    notifications, futures = adapter(loop, Posted(), markup=markup)
    notifications.notify("a<b>", '<b>hi</b> <img src=x> & "q"', lambda: None)
    futures[0].result(10)
    [(title, body, _)] = FakeDesktopNotifier.sent
    assert (title, body) == shown


def test_on_linux_the_service_is_taken_to_read_markup(
    monkeypatch: pytest.MonkeyPatch, loop: asyncio.AbstractEventLoop
) -> None:
    monkeypatch.setattr(desktop_notifier, "DesktopNotifier", FakeDesktopNotifier)
    monkeypatch.setattr("platform.system", lambda: "Linux")
    FakeDesktopNotifier.sent = []
    notifications, futures = adapter(loop, Posted())
    notifications.notify("bob", "<i>x</i>", lambda: None)
    futures[0].result(10)
    assert FakeDesktopNotifier.sent[0][1] == "&lt;i&gt;x&lt;/i&gt;"
