"""What tests and scripts read off the chat window: its text, marks, tooltips, status and
banners, as a person would see them. Reading only: nothing here changes the window or decides
anything, so it lives apart from the window's behaviour (``tk_view``)."""

from __future__ import annotations

from uuid import UUID

from chinwag.adapters.gui.tk_file_rows import FileCard
from chinwag.adapters.gui.tk_header import ConversationHeader
from chinwag.adapters.gui.tk_identity import KeyChangeBanner, OwnKey
from chinwag.adapters.gui.tk_messages import MessageList
from chinwag.adapters.gui.tk_search import SearchResults
from chinwag.adapters.gui.tk_status import StatusBar


class WindowReadings:
    """The window's accessors; the window sets the parts they read when it builds itself."""

    _messages: MessageList
    _status_bar: StatusBar
    _results: SearchResults
    _banner: KeyChangeBanner
    _own_key: OwnKey
    _header: ConversationHeader

    # == accessors for tests (read the widgets, decide nothing) ====================================

    def conversation_text(self) -> str:
        """Everything in the conversation pane."""
        return self._messages.content()

    def visible_text(self) -> str:
        """The lines of the conversation pane that are (at least partly) on screen."""
        return self._messages.visible_text()

    def mark_of(self, message_id: UUID) -> str:
        """The delivery mark shown for an outgoing message, read from the pane ("" if none)."""
        return self._messages.mark_of(message_id)

    def file_card(self, transfer: UUID) -> FileCard | None:
        """The card of a shown file row (its labels, bar and buttons), if shown."""
        return self._messages.cards.card(transfer)

    def failure_reason(self, message_id: UUID) -> str | None:
        """The reason the hover tooltip of a failed (or waiting) message's mark shows."""
        return self._messages.reason_of(message_id)

    def delivery_detail(self, message_id: UUID) -> str | None:
        """What the mark of a group message of ours says on hover (who has it, who not)."""
        return self._messages.detail_of(message_id)

    def tooltip_text(self) -> str | None:
        """The tooltip on screen, if any."""
        return self._messages.tooltip_text()

    def is_at_bottom(self) -> bool:
        return self._messages.scroll.at_bottom()

    def new_messages_hint_visible(self) -> bool:
        return self._messages.scroll.hint_visible()

    def highlighted_message(self) -> UUID | None:
        return self._messages.highlighted

    def status_text(self) -> str:
        return self._status_bar.text

    def status_tip(self) -> str | None:
        """The status bar's tooltip (the whole of a cut status), if shown."""
        return self._status_bar.tip.text()

    def search_results_visible(self) -> bool:
        return self._results.visible()

    def key_change_visible(self) -> bool:
        return self._banner.visible()

    def own_key_text(self) -> str:
        return self._own_key.text()

    def divider_before(self) -> UUID | None:
        return self._messages.divider_before()

    def presence_text(self) -> str:
        """What the header says of the open conversation's person ("● online · relayed")."""
        return self._header.presence_text()
