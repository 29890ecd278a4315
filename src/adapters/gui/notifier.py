"""The notifier port: desktop notifications, as the presenter asks for them.

It lives beside the view port, not among the application's ports, because notifying is a way of
showing, like the window: when to notify (the window is in the background, once per burst of a
conversation, not when the person turned it off) is the presenter's decision, made from what the
application already reports through ``ChatEvents``; the terminal client never notifies. Adapters:
``notify_desktop`` (desktop-notifier: D-Bus on Linux, the notification centre on macOS and
Windows), and :class:`RecordingNotifier` for tests and embedders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Notifier(Protocol):
    """Shows desktop notifications. Called on the Tk thread; must never block it or raise."""

    def notify(self, title: str, body: str, clicked: Callable[[], None]) -> None:
        """Show a notification; ``clicked`` is called on the Tk thread if the person clicks it
        (where the platform reports clicks)."""
        ...


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    clicked: Callable[[], None]


@dataclass
class RecordingNotifier:
    """Remembers every notification; :meth:`click` does what a click on one would."""

    shown: list[Notification] = field(default_factory=list)

    def notify(self, title: str, body: str, clicked: Callable[[], None]) -> None:
        self.shown.append(Notification(title, body, clicked))

    def click(self, index: int = -1) -> None:
        self.shown[index].clicked()


class NoNotifier:
    """Shows nothing: for a window that must never notify."""

    def notify(self, title: str, body: str, clicked: Callable[[], None]) -> None:
        return None
