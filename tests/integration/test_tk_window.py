"""The window-level parts of the real Tk window under Xvfb: the title, the menu bar and its
shortcuts, Quit, the new chat dialog, the divider and the notifications check mark."""

from __future__ import annotations

import tkinter as tk

import pytest

from chinwag.adapters.gui.tk_view import TkChatView
from tests.gui_support import press, pump, settle
from tests.integration.test_tk_view import (
    RecordingListener,
    listener,
    main,
    root,
    rows,
    view,
)

__all__ = ["listener", "main", "root", "view"]  # fixtures

pytestmark = pytest.mark.timeout(60)


def test_the_title_shows_the_unread_total(main: TkChatView, root: tk.Tk) -> None:
    assert root.title() == "chinwag — alice"
    main.set_title("(3) chinwag — alice")
    assert root.title() == "(3) chinwag — alice"


def test_the_chat_menu_is_on_the_window_once_signed_in(
    view: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    view.show_sign_in("", "127.0.0.1:7420")
    settle(root)
    assert not str(root.cget("menu"))
    view.show_main("alice")
    settle(root)
    assert str(root.cget("menu")) == str(view.widgets.menu.bar)
    assert list(view.widgets.menu.entries()) == [
        "New chat…",
        "New group…",
        "Search",
        "Connection doctor…",
        "Next conversation",
        "Previous conversation",
        "Notifications",
        "Quit",
    ]


def test_quit_in_the_menu_and_ctrl_q_ask_to_close(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.widgets.menu.invoke("Quit")
    assert listener.named("close_requested") == [()]
    press(main.widgets.entry, "<Control-q>")
    assert listener.named("close_requested") == [(), ()]
    assert main.widgets.entry.get("1.0", "end-1c") == ""  # not typed into the message


def test_ctrl_q_quits_from_the_sign_in_card_too(
    view: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    view.show_sign_in("", "127.0.0.1:7420")
    settle(root)
    press(view.widgets.username, "<Control-q>")
    assert listener.named("close_requested") == [()]


def test_ctrl_n_opens_the_new_chat_dialog_which_asks_for_a_name(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    dialog = main.widgets.new_chat
    press(main.widgets.entry, "<Control-n>")
    pump(root, dialog.visible, what="the new chat dialog")
    dialog.entry.insert(0, "dave")
    press(dialog.entry, "<Return>")
    assert listener.named("new_chat_requested") == [("dave",)]

    main.set_new_chat_busy(True)
    assert dialog.start_button.instate(["disabled"])
    assert dialog.start_button.cget("text") == "Looking up…"
    press(dialog.entry, "<Return>")
    assert len(listener.named("new_chat_requested")) == 1

    main.set_new_chat_busy(False)
    main.show_new_chat_error("Nobody called dave is registered; check the spelling")
    pump(root, dialog.error.winfo_ismapped, what="the error in the dialog")
    assert "Nobody called dave" in dialog.error_text()
    assert dialog.visible()

    main.close_new_chat()
    pump(root, lambda: not dialog.visible(), what="the dialog to close")
    main.widgets.menu.invoke("New chat…")  # opened again: empty, no old error
    pump(root, dialog.visible, what="the dialog again")
    assert dialog.entry.get() == ""
    assert not dialog.error.winfo_ismapped()


def test_shortcuts_step_through_conversations_and_focus_search(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    entry = main.widgets.entry
    press(entry, "<Control-Tab>")
    press(entry, "<Control-Next>")
    press(entry, "<Control-Prior>")
    assert listener.named("next_conversation_requested") == [(1,), (1,), (-1,)]
    press(entry, "<Control-f>")
    pump(root, lambda: root.focus_get() == main.widgets.search, what="the search box focused")


def test_the_notifications_check_mark_follows_the_setting_and_reports_a_change(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    menu = main.widgets.menu
    main.set_notifications(False)
    assert menu.notifications.get() is False
    menu.invoke("Notifications")
    assert listener.named("notifications_toggled") == [(True,)]


def test_the_divider_goes_above_the_message_it_is_given(main: TkChatView, root: tk.Tk) -> None:
    shown = rows(1, 8)
    main.open_conversation("bob", shown, more_before=False)
    main.set_divider(shown[4].id)
    settle(root)
    assert main.divider_before() == shown[4].id
    text = main.conversation_text()
    assert text.index("message 4") < text.index("new messages") < text.index("message 5")
    main.set_divider(None)
    assert "new messages" not in main.conversation_text()


def test_losing_and_gaining_the_focus_is_reported_once_each(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    other = tk.Toplevel(root)  # a window of this app: the focus stays in the app
    press(main.widgets.entry, "<FocusIn>")
    pump(root, lambda: listener.named("focus_changed") != [], what="the focus reported")
    before = list(listener.named("focus_changed"))
    press(main.widgets.search, "<FocusIn>")  # moving inside the window tells nothing
    settle(root)
    assert listener.named("focus_changed") == before
    other.destroy()
