"""The presenter's part for desktop notifications: when to notify, with what words, and the
setting that turns them off. No Tk.

A message notifies only while the window is in the background and notifications are on. One
notification per burst per conversation: after one for a conversation, further messages of it
notify again only once the window had focus in between, or after :data:`BURST_GAP` seconds with
nothing from that conversation; a burst of 5,000 messages is one notification, not 5,000.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from chinwag.adapters.gui.notifier import Notifier
from chinwag.adapters.gui.preferences import Preferences
from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.session import Runner
from chinwag.adapters.gui.view import Chat
from chinwag.domain.message import Message

BURST_GAP = 60.0
"""Seconds without a message from a conversation after which the next one notifies again."""
MAX_BODY = 120
"""Characters of a message shown in its notification."""


class Host(PresenterHost, Protocol):
    """What this part needs of the chat presenter, besides what every part needs."""

    def notification_clicked(self, peer: Chat) -> None: ...


def preview(body: str, limit: int = MAX_BODY) -> str:
    """A message as a notification shows it: one line, spaces collapsed, cut at ``limit``."""
    text = " ".join(body.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class Alerts:
    """Notifies of messages the person cannot see, as often as is useful."""

    def __init__(
        self,
        host: Host,
        runner: Runner,
        notifier: Notifier,
        allowed: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host = host
        self._runner = runner
        self._notifier = notifier
        self.enabled = allowed
        """On for this run: the stored setting, unless ``--no-notifications`` said off."""
        self._allowed = allowed
        self._clock = clock
        self._focused = False  # until the window says it has the focus (once it is mapped)
        self._notified: set[Chat] = set()  # since the window last had focus
        self._last: dict[Chat, float] = {}  # when each conversation's latest message came

    @property
    def focused(self) -> bool:
        return self._focused

    def signed_in(self) -> None:
        """Read the stored setting and show it in the menu."""
        session = self._host.usable_session()
        if session is None:
            return
        self._host.view.set_notifications(self.enabled)
        self._runner.run(session.load_preferences, self._loaded, self._host.failed)

    def _loaded(self, preferences: Preferences) -> None:
        self.enabled = self._allowed and preferences.notifications
        if not self._host.closing:
            self._host.view.set_notifications(self.enabled)

    def toggled(self, enabled: bool) -> None:
        """The person turned notifications on or off: for now and later runs."""
        self.enabled = self._allowed = enabled
        session = self._host.usable_session()
        if session is None:
            return
        self._host.view.set_notifications(enabled)
        self._runner.run(
            lambda: session.save_preferences(Preferences(notifications=enabled)),
            lambda _: None,
            self._host.failed,
        )

    def focus_changed(self, focused: bool) -> None:
        self._focused = focused
        if focused:
            self._notified.clear()

    def arrived(self, peer: Chat, message: Message, group: str | None = None) -> None:
        """A message from ``peer`` (or in the group ``peer`` called ``group``) arrived: notify
        if the person would not see it otherwise."""
        now = self._clock()
        last, self._last[peer] = self._last.get(peer), now
        if self._focused or not self.enabled:
            return
        if peer in self._notified and last is not None and now - last < BURST_GAP:
            return  # the same burst
        self._notified.add(peer)
        title = str(peer) if group is None else group
        body = preview(message.body if group is None else f"{message.sender}: {message.body}")
        self._notifier.notify(title, body, lambda: self._host.notification_clicked(peer))
