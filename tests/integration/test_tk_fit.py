"""Long words in short room in the real window (Xvfb): the composer's refusal and the status
bar at the window's default width."""

from __future__ import annotations

import tkinter as tk

import pytest

from chinwag.adapters.gui.tk_view import TkChatView
from chinwag.adapters.gui.view import StatusLevel
from chinwag.domain.message import MAX_BODY_BYTES
from tests.gui_support import press, pump, settle
from tests.integration.test_tk_view import NEW, listener, main, root, view

__all__ = ["listener", "main", "root", "view"]  # fixtures

pytestmark = pytest.mark.timeout(60)


def right_edge(widget: tk.Misc) -> int:
    return widget.winfo_rootx() + widget.winfo_width()


def test_the_refusal_of_a_long_message_wraps_within_the_composer(
    main: TkChatView, root: tk.Tk
) -> None:
    entry = main.widgets.entry
    entry.insert("1.0", "x" * (MAX_BODY_BYTES + 6145))
    settle(root)
    press(entry, "<Return>")
    settle(root)
    counter = next(w for w in entry.master.winfo_children() if w.winfo_class() == "TLabel")
    assert "Remove 6,145 bytes" in str(counter.cget("text"))
    assert counter.winfo_reqwidth() <= entry.master.winfo_width()
    assert right_edge(counter) <= right_edge(root)


def test_a_long_status_is_cut_short_before_the_key_is(main: TkChatView, root: tk.Tk) -> None:
    main.show_own_key(NEW)
    long = "bob is offline: what you write waits and goes out when they are back. " * 4
    main.set_status(long.strip(), StatusLevel.OK)
    settle(root)
    copy = next(
        w for w in main.widgets.own_key.master.winfo_children() if w.winfo_class() == "TButton"
    )
    pump(root, lambda: right_edge(copy) <= right_edge(root), what="the Copy button in the window")
    assert main.widgets.own_key.winfo_ismapped()
    assert main.status_text() == long.strip()  # whole, for whoever reads it
    shown = str(main.widgets.status.cget("text"))
    assert shown.endswith("…") and long.startswith(shown[:-1].rstrip())
    assert right_edge(main.widgets.status) <= main.widgets.own_key.master.winfo_rootx()
