"""The presenter's part for search: listing results, and opening one in its conversation.
No Tk."""

from __future__ import annotations

from uuid import UUID

from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.presenter_pane import PAGE, Pane
from chinwag.adapters.gui.rows import Rows
from chinwag.adapters.gui.session import Runner
from chinwag.adapters.gui.view import SearchResultRow
from chinwag.domain.message import Message

MAX_PAGES_TO_FIND = 40
"""How far back opening a search result pages to find its message."""


Host = PresenterHost


class Search:
    """Searches the history and opens what the person picks."""

    def __init__(self, host: Host, runner: Runner, rows: Rows, pane: Pane) -> None:
        self._host = host
        self._runner = runner
        self._rows = rows
        self._pane = pane

    def requested(self, text: str) -> None:
        session = self._host.usable_session()
        if session is None or not text.strip():
            return
        self._runner.run(
            lambda: session.search(text),
            lambda found: self._results(text, found),
            self._host.failed,
        )

    def _results(self, text: str, found: list[Message]) -> None:
        if not self._host.closing:
            self._host.view.show_search_results(text, [self._rows.result(m) for m in found])

    def result_selected(self, result: SearchResultRow) -> None:
        """Open the conversation and page back until the message is shown, then point at it."""
        session = self._host.usable_session()
        if session is None:
            return
        pane = self._pane
        conversation = pane.switch_to(result.peer)

        async def load_until_found() -> tuple[list[Message], bool]:
            messages: list[Message] = []
            before: UUID | None = None
            for _ in range(MAX_PAGES_TO_FIND):
                page = await session.history(result.peer, PAGE, before)
                messages[:0] = page
                if len(page) < PAGE:
                    return messages, False
                if any(m.id == result.message_id for m in page):
                    break
                before = page[0].id
            return messages, True

        def found(loaded: tuple[list[Message], bool]) -> None:
            if pane.open is not conversation or self._host.closing:
                return
            pane.first_page(conversation, *loaded)
            if result.message_id in conversation.shown:
                self._host.view.focus_message(result.message_id)
            else:
                self._host.view.show_error("That message is too far back to open.")

        self._runner.run(
            load_until_found, found, lambda exc: pane.first_page_failed(conversation, exc)
        )
