"""The presenter's part for the status bar and the new chat dialog. No Tk.

The status bar says a lasting condition (signed in, the registry connection); a remark about one
person ("bob is offline: …", said when a chat with somebody offline opens) gives way to it again
as soon as it is no longer true, so it never stays wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.session import Runner
from chinwag.adapters.gui.view import StatusLevel
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.use_cases.start_chat import StartedChat
from chinwag.domain.errors import DomainError

log = logging.getLogger(__name__)


def sentence(text: str) -> str:
    """``text`` with a capital first letter (errors are written lower case)."""
    return text[:1].upper() + text[1:] if text else text


Host = PresenterHost


class StatusLine:
    """What the status bar says, and the remark that gives way to it."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self._lasting = ("", StatusLevel.OK)
        self._offline: str | None = None  # whom "… is offline" in the status bar is about

    def lasting(self, text: str, level: StatusLevel = StatusLevel.OK) -> None:
        self._lasting = (text, level)
        self._offline = None
        self._host.view.set_status(text, level)

    def registry(self, status: RegistryStatus, detail: str) -> None:
        if status is RegistryStatus.CONNECTED:
            self.lasting("Connected to the registry")
        elif status is RegistryStatus.RECONNECTING:
            self.lasting(sentence(detail), StatusLevel.WARNING)
        else:
            self.lasting(f"Disconnected: {detail}", StatusLevel.ERROR)

    def offline(self, name: str) -> None:
        self._offline = name
        self._host.view.set_status(
            f"{name} is offline: what you write waits and goes out when they are back.",
            StatusLevel.OK,
        )

    def presence(self, online: frozenset[str]) -> None:
        if self._offline is not None and self._offline in online:
            self.lasting(*self._lasting)


class NewChat:
    """The new chat dialog: anybody the registry knows, by name."""

    def __init__(
        self, host: Host, runner: Runner, status: StatusLine, opened: Callable[[str], None]
    ) -> None:
        """``opened(name)`` lists ``name`` and opens the conversation with them."""
        self._host = host
        self._runner = runner
        self._status = status
        self._opened = opened

    def requested(self, name: str) -> None:
        session = self._host.usable_session()
        if session is None:
            return
        view = self._host.view
        if not name.strip():
            view.show_new_chat_error("Type the name of the person to chat with.")
            return
        view.set_new_chat_busy(True)

        def started(chat: StartedChat) -> None:
            if self._host.closing:
                return
            view.close_new_chat()
            self._opened(chat.name)
            if not chat.online:
                self._status.offline(chat.name)

        def refused(exc: Exception) -> None:
            if self._host.closing:
                return
            view.set_new_chat_busy(False)
            if not isinstance(exc, DomainError):
                log.error("could not start a chat", exc_info=exc)
            view.show_new_chat_error(sentence(str(exc)))

        self._runner.run(lambda: session.start_chat(name), started, refused)
