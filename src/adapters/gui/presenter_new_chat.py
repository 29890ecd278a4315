"""The presenter's part for the new chat dialog: find who is online by the start of their name,
and start a chat with anybody the registry knows. No Tk.

The search asks the registry (``find_online``), never the presence set: on a big registry the
registry pushes only the people the user watches (contacts, conversations, groups), so
``online()`` does not hold the stranger being looked for. The dialog asks as the person types
(it waits for a pause itself); at most one search is on the network at a time, and what was typed
meanwhile is searched next, the latest text only, so a fast typist never queues a search per key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.presenter_status import StatusLine, sentence
from chinwag.adapters.gui.session import Runner
from chinwag.application.errors import RegistryUnavailable
from chinwag.application.use_cases.start_chat import StartedChat
from chinwag.domain.errors import DomainError

log = logging.getLogger(__name__)

FOUND_AT_MOST = 50
"""The most names a search shows; two more are asked for: the user (online too, never shown)
and one to know that there are more."""

OUT_OF_REACH = "The registry is out of reach: who is online cannot be searched now."

Host = PresenterHost


def nobody(prefix: str) -> str:
    """What the dialog says when nobody online matches ``prefix``."""
    return f"Nobody online starts with “{prefix}”." if prefix else "Nobody else is online."


MORE = f"Only the first {FOUND_AT_MOST} are shown: type more of the name."


class NewChat:
    """The new chat dialog: find who is online by name, and chat with anybody by name."""

    def __init__(
        self,
        host: Host,
        runner: Runner,
        status: StatusLine,
        opened: Callable[[str], None],
        me: Callable[[], str],
    ) -> None:
        """``opened(name)`` lists ``name`` and opens the conversation with them; ``me()`` is
        the signed-in user (left out of what a search finds)."""
        self._host = host
        self._runner = runner
        self._status = status
        self._opened = opened
        self._me = me
        self._searching = False
        self._next: str | None = None  # typed while a search was on the network

    # -- searching --------------------------------------------------------------------------------

    def search(self, text: str) -> None:
        """Show who is online whose name starts with ``text`` (the dialog's box, as typed)."""
        if self._host.usable_session() is None:
            return
        if self._searching:
            self._next = text
            return
        self._search(text)

    def _search(self, text: str) -> None:
        session = self._host.usable_session()
        if session is None:
            return
        prefix = text.strip()
        view = self._host.view
        self._searching = True

        def found(names: list[str]) -> None:
            if self._superseded():
                return
            me = self._me()
            others = [name for name in names if name != me]
            shown = others[:FOUND_AT_MOST]
            note = nobody(prefix) if not shown else MORE if len(others) > len(shown) else ""
            view.show_new_chat_results(shown, note)

        def failed(exc: Exception) -> None:
            if self._superseded():
                return
            if isinstance(exc, RegistryUnavailable):
                note = OUT_OF_REACH
            elif isinstance(exc, ValueError):  # DomainError is one too
                note = sentence(str(exc))
            else:
                log.error("could not search who is online", exc_info=exc)
                note = f"Could not search who is online: {exc}"
            view.show_new_chat_results([], note)

        self._runner.run(lambda: session.find_online(prefix, FOUND_AT_MOST + 2), found, failed)

    def _superseded(self) -> bool:
        """A search came back: True if its answer is not to be shown (closing, or newer text
        was typed meanwhile: that is searched now instead)."""
        self._searching = False
        if self._host.closing:
            return True
        text, self._next = self._next, None
        if text is None:
            return False
        self._search(text)
        return True

    # -- starting a chat --------------------------------------------------------------------------

    def requested(self, name: str) -> None:
        """Chat with ``name``: anybody the registry knows, online or not."""
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
