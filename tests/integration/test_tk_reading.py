"""What the real window (Xvfb) tells about what the person can see: the focus when it first
shows, the newest message coming into view, and where the divider leaves the view."""

from __future__ import annotations

import tkinter as tk

import pytest

from chinwag.adapters.gui.tk_message_rows import DIVIDER
from chinwag.adapters.gui.tk_messages import MessageList
from chinwag.adapters.gui.tk_view import TkChatView
from tests.gui_support import pump, settle
from tests.integration.test_tk_messages import fonts, lines_of, pane
from tests.integration.test_tk_messages import row as message
from tests.integration.test_tk_view import (
    RecordingListener,
    listener,
    main,
    root,
    rows,
    view,
)

__all__ = ["fonts", "listener", "main", "pane", "root", "view"]  # fixtures

pytestmark = pytest.mark.timeout(60)


def test_the_focus_is_told_once_the_window_shows_even_with_no_focus_event(
    root: tk.Tk, listener: RecordingListener
) -> None:
    root.withdraw()
    TkChatView(root, listener)
    settle(root)
    assert listener.named("focus_changed") == []  # not shown yet: nothing known
    root.deiconify()
    pump(root, lambda: listener.named("focus_changed") != [], what="the focus told")
    assert listener.named("focus_changed") == [(bool(root.tk.call("focus")),)]


def test_scrolling_down_to_the_newest_message_is_told(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.open_conversation("bob", rows(0, 80), more_before=False)
    settle(root)
    assert main.newest_visible()
    text = main.widgets.messages
    text.yview_moveto(0.3)
    settle(root)
    main.append_messages(rows(80, 85))
    settle(root)
    assert not main.newest_visible()
    told = len(listener.named("bottom_reached"))
    text.yview_moveto(0.5)  # further down, not yet at the bottom
    settle(root)
    assert len(listener.named("bottom_reached")) == told
    main.widgets.new_messages.invoke()
    pump(root, lambda: len(listener.named("bottom_reached")) > told, what="the bottom told")
    assert main.newest_visible()


def test_a_divider_with_more_news_than_fit_goes_to_the_top_and_the_hint_shows(
    main: TkChatView, root: tk.Tk
) -> None:
    shown = rows(0, 80)
    main.open_conversation("bob", shown, more_before=False)
    main.set_divider(shown[20].id)
    settle(root)
    assert main.visible_text().split("\n")[0] == DIVIDER
    assert not main.newest_visible()
    assert main.new_messages_hint_visible()


def test_a_divider_over_news_that_fits_keeps_the_newest_in_view(
    main: TkChatView, root: tk.Tk
) -> None:
    shown = rows(0, 80)
    main.open_conversation("bob", shown, more_before=False)
    main.set_divider(shown[77].id)
    settle(root)
    assert main.newest_visible()
    assert DIVIDER in main.visible_text()
    assert "message 79" in main.visible_text()
    assert not main.new_messages_hint_visible()


def test_a_divider_that_moves_or_goes_puts_its_message_back_in_its_group(
    root: tk.Tk, pane: tuple[MessageList, list[str]]
) -> None:
    messages = pane[0]
    shown = [message(0, "one"), message(1, "two"), message(2, "three"), message(3, "four")]
    messages.open("bob", shown, more_before=False)
    plain = lines_of(messages)
    assert plain.count("bob  12:00") == 1  # one group
    messages.set_divider(shown[1].id)
    assert "bob  12:01" in lines_of(messages)
    messages.set_divider(shown[3].id)  # moves: "two" rejoins the group
    lines = lines_of(messages)
    assert "bob  12:01" not in lines
    assert lines[lines.index(DIVIDER) + 1 : lines.index(DIVIDER) + 3] == ["bob  12:03", "four"]
    messages.set_divider(None)
    assert lines_of(messages) == plain


def test_a_divider_drawn_with_its_page_also_gives_way_to_the_group(
    root: tk.Tk, pane: tuple[MessageList, list[str]]
) -> None:
    messages = pane[0]
    shown = [message(0, "one"), message(1, "two")]
    messages.open("bob", [], more_before=True)
    messages.set_divider(shown[1].id)  # not shown yet: drawn when its page comes
    messages.prepend(shown, more_before=False)
    assert "bob  12:01" in lines_of(messages)
    messages.set_divider(None)
    assert "bob  12:01" not in lines_of(messages)
    assert DIVIDER not in lines_of(messages)
