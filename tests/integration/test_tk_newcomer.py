"""What a newcomer tripped over in the real window (issue 8, on Xvfb): the focus after opening
a conversation, Ctrl+A in the message box, the people list's selection across refreshes, and
links that no browser opens."""

from __future__ import annotations

import tkinter as tk
import uuid
from collections.abc import Callable
from tkinter import font as tkfont
from tkinter import ttk

import pytest

from chinwag.adapters.gui.tk_look import Fonts
from chinwag.adapters.gui.tk_messages import MessageList
from chinwag.adapters.gui.tk_search import SearchResults
from chinwag.adapters.gui.tk_view import TkChatView
from chinwag.adapters.gui.view import PersonRow, SearchResultRow, StatusLevel
from tests.gui_support import centre_of, press, pump, settle
from tests.integration.test_tk_messages import fonts, pane
from tests.integration.test_tk_messages import row as message
from tests.integration.test_tk_view import BASE, RecordingListener, listener, main, root, view

__all__ = ["fonts", "listener", "main", "pane", "root", "view"]  # fixtures

pytestmark = pytest.mark.timeout(60)

PEOPLE = [PersonRow("bob", True, 0), PersonRow("carol", True, 0), PersonRow("dave", True, 0)]


def test_clicking_a_person_puts_the_focus_in_the_message_box_so_enter_sends(
    main: TkChatView, root: tk.Tk, listener: RecordingListener
) -> None:
    main.set_people(PEOPLE)
    settle(root)
    tree = main.widgets.people
    x, y = centre_of(tree, tree.get_children()[0])
    tree.focus_force()
    tree.event_generate("<Button-1>", x=x, y=y)
    tree.event_generate("<ButtonRelease-1>", x=x, y=y)
    pump(root, lambda: bool(listener.named("conversation_selected")), what="a selection")
    main.open_conversation("bob", [], more_before=False)  # as the presenter answers
    entry = main.widgets.entry
    pump(root, lambda: root.focus_get() is entry, what="the focus in the message box")


def test_the_selection_stays_on_the_same_person_when_their_dot_changes(
    main: TkChatView, root: tk.Tk
) -> None:
    main.set_people(PEOPLE)
    main.open_conversation("carol", [], more_before=False)
    settle(root)
    tree = main.widgets.people
    main.set_people(
        [PersonRow("bob", True, 0), PersonRow("carol", False, 0), PersonRow("dave", True, 0)]
    )
    settle(root)
    assert tree.selection() == ("p:carol",)
    assert [tree.item(i, "text").strip() for i in tree.get_children()] == ["bob", "carol", "dave"]


def test_ctrl_a_in_the_message_box_selects_everything_so_delete_clears_it(
    main: TkChatView, root: tk.Tk
) -> None:
    entry = main.widgets.entry
    entry.insert("end", "a long paste\nover two lines")
    entry.mark_set("insert", "2.3")
    press(entry, "<Control-a>")
    assert entry.get("sel.first", "sel.last") == "a long paste\nover two lines"
    press(entry, "<Delete>")
    assert entry.get("1.0", "end-1c") == ""


def link_point(messages: MessageList) -> tuple[int, int]:
    t = messages.text
    start = t.search("example.org", "1.0")
    box = t.bbox(f"{start} + 3 chars")
    assert box is not None
    return box[0] + 1, box[1] + box[3] // 2


def no_browser(url: str) -> bool:
    raise OSError("gio: Operation not supported")


@pytest.mark.parametrize("opener", [lambda url: False, no_browser], ids=["false", "raises"])
def test_a_link_no_browser_opens_is_told_and_copied(
    root: tk.Tk, pane: tuple[MessageList, list[str]], opener: Callable[[str], object]
) -> None:
    messages, _ = pane
    told: list[str] = []
    messages.links.failed = told.append
    messages.links.opener = opener
    root.clipboard_clear()
    messages.open("bob", [message(0, "see https://example.org/a")], more_before=False)
    settle(root)
    x, y = link_point(messages)
    messages.text.event_generate("<Motion>", x=5, y=5)
    settle(root)
    messages.text.event_generate("<Motion>", x=x, y=y)
    settle(root)
    messages.text.event_generate("<ButtonPress-1>", x=x, y=y)
    messages.text.event_generate("<ButtonRelease-1>", x=x, y=y)
    settle(root)
    assert told == [
        "Could not open a browser for https://example.org/a; "
        "the address is copied to the clipboard."
    ]
    assert root.clipboard_get() == "https://example.org/a"


def test_a_right_click_on_a_link_offers_to_copy_its_address(
    root: tk.Tk, pane: tuple[MessageList, list[str]]
) -> None:
    messages, opened = pane
    messages.open("bob", [message(0, "see https://example.org/b")], more_before=False)
    settle(root)
    root.clipboard_clear()
    x, y = link_point(messages)
    messages.text.event_generate("<Motion>", x=x, y=y)
    messages.text.event_generate("<Button-3>", x=x, y=y)
    settle(root)
    menu = messages.links.menu
    assert menu.entrycget(0, "label") == "Copy link address"
    menu.invoke(0)
    menu.unpost()
    settle(root)
    assert root.clipboard_get() == "https://example.org/b"
    assert opened == []


def test_a_cut_status_shows_whole_on_hover(main: TkChatView, root: tk.Tk) -> None:
    long = "bob is offline: what you write waits and goes out when they are back. " * 4
    main.set_status(long.strip(), StatusLevel.OK)
    settle(root)
    label = main.widgets.status
    assert str(label.cget("text")).endswith("…")
    label.event_generate("<Enter>", x=5, y=5)
    settle(root)
    assert main.status_tip() == long.strip()
    label.event_generate("<Leave>", x=5, y=5)
    settle(root)
    assert main.status_tip() is None


def test_search_results_spell_out_what_no_font_draws_and_show_the_whole_time(
    root: tk.Tk, fonts: Fonts
) -> None:
    results = SearchResults(root, lambda _r: None, lambda text: text.replace("🫎", ":moose:"))
    results.panel.pack(fill="both", expand=True)
    # A big font, so the time does not fit the column's first width.
    ttk.Style(root).configure("Results.Treeview", font=fonts.bold)
    tkfont.nametofont(str(fonts.bold)).configure(size=22)
    when = BASE.replace(hour=23, minute=58)
    results.show("moose", [SearchResultRow(uuid.uuid4(), "bob", "bob", "a 🫎 moose", when)])
    settle(root)
    tree = results.tree
    (item,) = tree.get_children()
    assert tree.set(item, "message") == "a :moose: moose"
    shown = tree.set(item, "when")
    assert shown.endswith(when.astimezone().strftime("%H:%M"))
    font = tkfont.nametofont(str(fonts.bold))
    assert font.measure(shown) < int(tree.column("when", "width"))


def test_the_window_spells_out_search_results_as_it_does_messages(main: TkChatView) -> None:
    assert main._results._readable == main._messages.glyphs.readable
