"""The new chat dialog in a real Tk window under Xvfb (issue 12): it searches who is online as
the person types, once per pause, and a name found is picked with the mouse or the keys."""

from __future__ import annotations

import tkinter as tk

import pytest

from chinwag.adapters.gui.tk_new_chat import NewChatDialog
from chinwag.adapters.gui.tk_view import TkChatView
from tests.gui_support import centre_of, press, pump, settle
from tests.integration.test_tk_view import RecordingListener, listener, main, root, view

__all__ = ["listener", "main", "root", "view"]  # fixtures

pytestmark = pytest.mark.timeout(60)


def opened(main: TkChatView, root: tk.Tk) -> NewChatDialog:
    dialog = main.widgets.new_chat
    main.widgets.menu.invoke("New chat…")
    pump(root, dialog.visible, what="the new chat dialog")
    return dialog


def searches(listener: RecordingListener) -> list[str]:
    return [text for (text,) in listener.named("new_chat_search_requested")]


def test_it_asks_who_is_online_on_opening_then_once_per_pause_in_typing(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    dialog = opened(main, root)
    assert searches(listener) == [""]  # at once: who is online
    dialog.entry.insert("end", "b")
    dialog.entry.insert("end", "o")  # before the pause is over: one search, for "bo"
    pump(root, lambda: len(searches(listener)) == 2, what="the search after the pause")
    assert searches(listener) == ["", "bo"]
    dialog.entry.delete(0, "end")
    pump(root, lambda: len(searches(listener)) == 3, what="the search for nothing")
    assert searches(listener)[-1] == ""


def test_what_was_found_is_listed_with_the_note_and_picked_with_a_double_click(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    dialog = opened(main, root)
    main.show_new_chat_results(["bea", "bob"], "Only the first 50 are shown")
    settle(root)
    assert dialog.found() == ["bea", "bob"]
    assert dialog.note_text() == "Only the first 50 are shown"
    tree = dialog.results
    x, y = centre_of(tree, "r:bob")
    tree.focus_force()
    # Clicks carry their time: a double-click is two within Tk's interval (half a second).
    tree.event_generate("<Button-1>", x=x, y=y, time=1_000)
    tree.event_generate("<ButtonRelease-1>", x=x, y=y, time=1_050)
    pump(root, lambda: dialog.entry.get() == "bob", what="bob's name in the box")
    assert listener.named("new_chat_requested") == []  # one click picks, no more
    for at in (60_000, 60_100):  # a double-click, a minute later
        tree.event_generate("<Button-1>", x=x, y=y, time=at)
        tree.event_generate("<ButtonRelease-1>", x=x, y=y, time=at + 50)
    pump(root, lambda: bool(listener.named("new_chat_requested")), what="the chat asked for")
    assert listener.named("new_chat_requested") == [("bob",)]
    assert searches(listener) == [""]  # picking is not typing: no search for "bob"


def test_down_goes_from_the_box_to_the_first_found_and_enter_starts_the_chat(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    dialog = opened(main, root)
    main.show_new_chat_results(["bea", "bob"], "")
    press(dialog.entry, "<Down>")
    assert dialog.results.selection() == ("r:bea",)
    assert dialog.entry.get() == "bea"
    press(dialog.results, "<Return>")
    assert listener.named("new_chat_requested") == [("bea",)]
    main.set_new_chat_busy(True)  # looking bea up: a second Enter does nothing
    press(dialog.results, "<Return>")
    assert listener.named("new_chat_requested") == [("bea",)]


def test_nobody_found_says_so_and_a_whole_name_still_starts_a_chat(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    dialog = opened(main, root)
    dialog.entry.insert(0, "dave")
    main.show_new_chat_results([], "Nobody online starts with “dave”.")
    settle(root)
    assert dialog.found() == []
    assert dialog.note_text() == "Nobody online starts with “dave”."
    press(dialog.entry, "<Return>")  # dave may be offline: the presenter decides
    assert listener.named("new_chat_requested") == [("dave",)]
    main.show_new_chat_error("Nobody called dave is registered; check the spelling")
    pump(root, dialog.error.winfo_ismapped, what="the error")
    dialog.entry.insert("end", "y")  # typing again: the error was about the old name
    pump(root, lambda: not dialog.error.winfo_ismapped(), what="the error gone")


def test_opening_again_starts_afresh(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    dialog = opened(main, root)
    dialog.entry.insert(0, "zed")
    main.show_new_chat_results([], "Nobody online starts with “zed”.")
    main.close_new_chat()
    pump(root, lambda: not dialog.visible(), what="the dialog closed")
    dialog = opened(main, root)
    assert (dialog.entry.get(), dialog.found(), dialog.note_text()) == ("", [], "")
    dialog.entry.insert(0, "q")
    pump(root, lambda: searches(listener)[-1] == "q", what="the search for q")
    assert searches(listener) == ["", "", "q"]  # the search for "zed" went with the close


def test_the_link_beside_the_chats_opens_the_dialog(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    link = main.widgets.new_chat_link
    assert link.winfo_ismapped() and link.cget("text") == "+ New chat"
    link.event_generate("<Button-1>")
    pump(root, main.widgets.new_chat.visible, what="the new chat dialog")
    assert searches(listener) == [""]
