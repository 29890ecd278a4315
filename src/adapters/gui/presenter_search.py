"""The presenter's part for search: listing results, and opening one in its conversation.
No Tk."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from chinwag.adapters.gui.presenter_host import PresenterHost
from chinwag.adapters.gui.presenter_pane import PAGE, Extras, Pane
from chinwag.adapters.gui.rows import Rows
from chinwag.adapters.gui.session import Runner
from chinwag.adapters.gui.view import Chat, SearchResultRow
from chinwag.domain.message import Message

MAX_PAGES_TO_FIND = 40
"""How far back opening a search result pages to find its message."""


Host = PresenterHost


class Search:
    """Searches the history and opens what the person picks."""

    def __init__(
        self,
        host: Host,
        runner: Runner,
        rows: Rows,
        pane: Pane,
        group_name: Callable[[UUID], str | None] = lambda _group: None,
    ) -> None:
        """``group_name(group)``: the name a result in that group shows."""
        self._host = host
        self._runner = runner
        self._rows = rows
        self._pane = pane
        self._group_name = group_name

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
            results = [
                self._rows.result(m, None if m.group_id is None else self._group_name(m.group_id))
                for m in found
            ]
            self._host.view.show_search_results(text, results)

    def result_selected(self, result: SearchResultRow) -> None:
        """Open the conversation and page back until the message is shown, then point at it."""
        session = self._host.usable_session()
        if session is None:
            return
        pane = self._pane
        chat: Chat = result.peer if result.group is None else result.group
        conversation = pane.switch_to(chat)

        async def load_until_found() -> tuple[list[Message], bool, Extras]:
            messages: list[Message] = []
            before: UUID | None = None
            more = True
            for _ in range(MAX_PAGES_TO_FIND):
                page = await pane.fetch(session, chat, PAGE, before)
                messages[:0] = page
                if len(page) < PAGE:
                    more = False
                    break
                if any(m.id == result.message_id for m in page):
                    break
                before = page[0].id
            return messages, more, await pane.extras(session, chat, messages)

        def found(loaded: tuple[list[Message], bool, Extras]) -> None:
            if pane.open is not conversation or self._host.closing:
                return
            pane.first_page(conversation, *loaded)
            if result.message_id in conversation.shown:
                self._host.view.focus_message(result.message_id)
            elif pane.was_withdrawn(result.message_id):  # listed before it was taken out
                self._host.view.show_error("That message was withdrawn: it is no longer kept.")
            else:
                self._host.view.show_error("That message is too far back to open.")

        self._runner.run(
            load_until_found, found, lambda exc: pane.first_page_failed(conversation, exc)
        )
