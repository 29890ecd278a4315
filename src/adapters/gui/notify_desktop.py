"""The :class:`~chinwag.adapters.gui.notifier.Notifier` port over ``desktop-notifier``.

desktop-notifier is asyncio (D-Bus on Linux, the notification centres of macOS and Windows), so
its calls run on the network's loop, never on the Tk thread: :meth:`notify` only submits them.
Clicks come back on that loop and are handed to the Tk thread through ``post`` (the queue the
window drains).

Where there is no notification service (no D-Bus session bus: a server, a container, a test
under Xvfb), the first notification finds out, says so once in the log at INFO, and every later
one is dropped at once: the app goes on without notifications, never with a warning per message.

On Linux the notification goes over D-Bus, and servers with body markup (GNOME, KDE, dunst)
read ``<b>``, ``<a href>`` and ``<img src>`` in it; desktop-notifier passes the text on as it
is. What a peer wrote must show as text, never as markup (nor fetch an image), so the title and
the body are escaped there; macOS and Windows show plain text and get it unchanged.
"""

from __future__ import annotations

import asyncio
import html
import logging
import platform
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)

APP_NAME = "chinwag"
PROBE_SECONDS = 5.0
"""How long the first notification waits for the notification service to answer."""

Submit = Callable[[Coroutine[Any, Any, None]], "Future[None]"]
Post = Callable[[Callable[[], None]], None]


class DesktopNotifications:
    """Desktop notifications through desktop-notifier; quiet where there is no service."""

    def __init__(
        self, submit: Submit, post: Post, app_name: str = APP_NAME, markup: bool | None = None
    ) -> None:
        """``submit`` runs a coroutine on the network's loop; ``post`` runs a callable on the Tk
        thread; ``markup`` says whether the service reads markup (by default: on Linux, where
        desktop-notifier uses D-Bus)."""
        self._markup = platform.system() == "Linux" if markup is None else markup
        self._submit = submit
        self._post = post
        self._app_name = app_name
        self._notifier: Any = None
        self._clicks = False
        self._starting: asyncio.Future[None] | None = None
        self.available: bool | None = None
        """None until the first notification has found out whether there is a service."""

    def notify(self, title: str, body: str, clicked: Callable[[], None]) -> None:
        if self.available is False:
            return
        self._submit(self._send(title, body, clicked)).add_done_callback(_log_failure)

    async def _send(self, title: str, body: str, clicked: Callable[[], None]) -> None:
        if self.available is None:  # the first ones wait for one look at the service
            if self._starting is None:
                self._starting = asyncio.ensure_future(self._start())
            await asyncio.shield(self._starting)
        if not self.available:
            return
        on_clicked = (lambda: self._post(clicked)) if self._clicks else None
        if self._markup:
            title, body = html.escape(title, quote=False), html.escape(body, quote=False)
        await self._notifier.send(title=title, message=body, on_clicked=on_clicked)

    async def _start(self) -> None:
        """Find out once whether notifications can be shown here, and whether clicks are told."""
        try:
            from desktop_notifier import Capability, DesktopNotifier

            notifier = DesktopNotifier(app_name=self._app_name, app_icon=None)
            capabilities = await asyncio.wait_for(notifier.get_capabilities(), PROBE_SECONDS)
        except Exception as exc:  # no bus, no service, no backend for this platform
            self.available = False
            log.info(
                "desktop notifications are not available here (%s); going on without them",
                _reason(exc),
            )
            return
        self._notifier = notifier
        self._clicks = Capability.ON_CLICKED in capabilities
        self.available = True


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _log_failure(future: Future[None]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.warning("a desktop notification failed: %s", _reason(exc))
