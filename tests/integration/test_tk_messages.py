"""The conversation pane, the composer and the search results in a real Tk window (Xvfb):
what only a window shows (responsiveness at the size limit, glyphs, links, the divider,
groups, alignment, what fits at 790 px)."""

from __future__ import annotations

import time
import tkinter as tk
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from tkinter import font as tkfont
from tkinter import ttk

import pytest

from chinwag.adapters.excerpt import excerpt
from chinwag.adapters.gui.tk_composer import Composer, room_left, utf8_size
from chinwag.adapters.gui.tk_links import split_links
from chinwag.adapters.gui.tk_look import Fonts, apply_styles
from chinwag.adapters.gui.tk_marks import MARKS, Glyphs, font_charset, mark_tooltip
from chinwag.adapters.gui.tk_message_rows import DIVIDER
from chinwag.adapters.gui.tk_messages import MessageList
from chinwag.adapters.gui.tk_search import SearchResults
from chinwag.adapters.gui.tk_widgets import Timers
from chinwag.adapters.gui.view import MessageRow, SearchResultRow
from chinwag.domain.message import MAX_BODY_BYTES, MessageState
from tests.gui_support import pump, settle
from tests.integration import test_tk_view

pytestmark = pytest.mark.timeout(60)

root = test_tk_view.root  # the same window fixture: a Tk on the session's Xvfb

BASE = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
RESPONSIVE = 5.0
"""Seconds an edit at the size limit may take before the entry counts as frozen (it took 33)."""


def row(
    minutes: float, body: str = "hi", *, outgoing: bool = False, state: MessageState | None = None
) -> MessageRow:
    return MessageRow(
        id=uuid.uuid4(),
        sender="alice" if outgoing else "bob",
        body=body,
        sent_at=BASE + timedelta(minutes=minutes),
        outgoing=outgoing,
        state=state or (MessageState.DELIVERED if outgoing else MessageState.RECEIVED),
    )


@pytest.fixture
def fonts(root: tk.Tk) -> Fonts:
    fonts = Fonts(root)
    apply_styles(root, fonts)
    root.geometry("790x600")
    return fonts


@pytest.fixture
def pane(root: tk.Tk, fonts: Fonts) -> Iterator[tuple[MessageList, list[str]]]:
    """A conversation pane filling the window, and the URLs it was asked to open."""
    opened: list[str] = []
    pane = MessageList(root, root, fonts, Timers(root), lambda: None, opener=opened.append)
    pane.frame.pack(fill="both", expand=True)
    pump(root, pane.text.winfo_viewable, what="the pane")
    yield pane, opened
    pane.peer = None
    settle(root)  # its idle callbacks run while it exists


@pytest.fixture
def composer(root: tk.Tk, fonts: Fonts) -> tuple[Composer, list[str]]:
    sent: list[str] = []
    composer = Composer(root, fonts, sent.append)
    composer.frame.pack(side="bottom", fill="x")
    pump(root, composer.entry.winfo_viewable, what="the composer")
    settle(root)
    return composer, sent


def lines_of(pane: MessageList) -> list[str]:
    return pane.content().split("\n")


# -- the composer ------------------------------------------------------------------------------


def test_the_counter_says_the_room_left_near_the_limit_and_how_much_is_over() -> None:
    assert room_left(58_000, 65_536) is None
    assert room_left(64_512, 65_536) == ("1,024 bytes left", False)
    assert room_left(65_535, 65_536) == ("1 byte left", False)
    assert room_left(65_536, 65_536) == ("0 bytes left", False)
    assert room_left(69_536, 65_536) == ("4,000 bytes over the 65,536-byte limit", True)
    assert utf8_size("é👍") == 6


def test_the_entry_stays_responsive_at_the_size_limit(
    root: tk.Tk, composer: tuple[Composer, list[str]]
) -> None:
    entry, sent = composer[0].entry, composer[1]
    root.clipboard_clear()
    root.clipboard_append("lorem ipsum " * (MAX_BODY_BYTES // 12) + "x" * (MAX_BODY_BYTES % 12))
    entry.focus_force()
    started = time.monotonic()
    entry.event_generate("<<Paste>>")
    answered: list[float] = []
    root.after_idle(lambda: answered.append(time.monotonic()))
    pump(root, lambda: bool(answered), timeout=50, what="the loop to answer after the paste")
    assert answered[0] - started < RESPONSIVE, f"frozen {answered[0] - started:.1f}s by a paste"
    assert utf8_size(entry.get("1.0", "end-1c")) == MAX_BODY_BYTES
    assert composer[0].counter_text() == "0 bytes left"

    started = time.monotonic()
    entry.insert("end", "é" * 2000)  # 4,000 bytes over, typed at the end of one long line
    settle(root)
    entry.event_generate("<Return>")
    settle(root)
    assert time.monotonic() - started < RESPONSIVE
    assert sent == []  # refused by the composer itself: the presenter never sees it
    refusal = composer[0].counter_text()
    assert refusal.startswith("Too long to send") and "Remove 4,000 bytes" in refusal
    assert str(composer[0].counter.cget("style")) == "Over.Counter.TLabel"
    for _ in range(20):  # it stays while the text does not fit
        entry.insert("end", "")
        settle(root)
    assert composer[0].counter_text() == refusal

    entry.delete("end-2002c", "end-1c")
    settle(root)
    assert composer[0].counter_text() == "1 byte left"
    entry.event_generate("<Return>")
    assert len(sent) == 1 and utf8_size(sent[0]) == MAX_BODY_BYTES - 1


def test_the_placeholder_fits_the_entry_at_790_px(
    root: tk.Tk, composer: tuple[Composer, list[str]]
) -> None:
    box = composer[0].entry
    label = next(w for w in box.winfo_children() if isinstance(w, tk.Label))
    pump(root, label.winfo_ismapped, what="the placeholder")
    settle(root)
    assert label.winfo_x() + label.winfo_reqwidth() <= box.winfo_width()
    assert composer[0].placeholder_text().startswith("Write a message")


# -- marks and glyphs --------------------------------------------------------------------------


def test_every_mark_is_drawn_by_the_base_font_not_a_fallback_or_a_box(
    root: tk.Tk, fonts: Fonts
) -> None:
    """Tk names the font that draws a character; fontconfig says that font has it. ⧗ failed:
    only Symbola has it, and without Symbola it was an empty box."""
    for font in (fonts.small, fonts.small_bold):
        family = str(font.actual("family"))
        has = font_charset(family)
        assert has is not None, "fontconfig's fc-match is needed to check the marks"
        glyphs = Glyphs(root, font, has)
        for mark in "".join(MARKS.values()):
            assert glyphs.family_of(mark) == family, f"{mark!r} is not in {family}"
            assert has(ord(mark)), f"{family} has no {mark!r} (U+{ord(mark):04X})"


def test_symbols_no_font_has_are_spelled_out(root: tk.Tk, fonts: Fonts) -> None:
    class NoFallback(Glyphs):
        """As if no other font had any character: Tk answers with the base family."""

        def family_of(self, char: str) -> str:
            return str(fonts.normal.actual("family"))

    glyphs = NoFallback(root, fonts.normal, lambda point: point < 0x2000)
    assert glyphs.readable("ok 👍 é") == "ok :thumbs up sign: é"
    assert glyphs.readable("plain text") == "plain text"


def test_every_emoji_shown_is_drawn_by_some_font(
    root: tk.Tk, pane: tuple[MessageList, list[str]]
) -> None:
    messages = pane[0]
    messages.open("bob", [row(0, "party 🎉 👍 ❤ 🙂 ☃ 🫠 ✓")], more_before=False)
    settle(root)
    for char in set(messages.content()):
        if char >= "\u2000" and unicodedata.category(char) == "So":
            assert messages.glyphs.drawable(char), f"{char!r} would be a box"


def test_every_mark_has_a_tooltip(root: tk.Tk, pane: tuple[MessageList, list[str]]) -> None:
    messages = pane[0]
    states = [MessageState.PENDING, MessageState.SENT, MessageState.DELIVERED]
    mine = [row(n * 10, f"mine {n}", outgoing=True, state=s) for n, s in enumerate(states)]
    messages.open("bob", mine, more_before=False)
    settle(root)
    for message, state in zip(mine, states, strict=True):
        box = messages.text.bbox(f"s{message.id.hex}")
        assert box is not None
        messages.text.event_generate("<Motion>", x=5, y=5)
        settle(root)
        messages.text.event_generate("<Motion>", x=box[0] + box[2] // 2, y=box[1] + box[3] // 2)
        expected = mark_tooltip(state, "bob", None)

        def shown(expected: str = expected) -> bool:
            return messages.tooltip_text() == expected

        pump(root, shown, what=f"the tooltip {expected!r}")
    assert mark_tooltip(MessageState.QUEUED, "bob", None).startswith("Waiting")
    assert mark_tooltip(MessageState.FAILED, "bob", "refused") == "Not delivered: refused"


# -- links -------------------------------------------------------------------------------------


def test_links_are_found_in_text_and_only_web_links() -> None:
    assert list(split_links("see https://x.org/a_(b), then www.python.org.")) == [
        ("see ", None),
        ("https://x.org/a_(b)", "https://x.org/a_(b)"),
        (", then ", None),
        ("www.python.org", "https://www.python.org"),
        (".", None),
    ]
    assert list(split_links("(http://x.org/y)")) == [
        ("(", None),
        ("http://x.org/y", "http://x.org/y"),
        (")", None),
    ]
    for text in ("javascript:alert(1)", "file:///etc/passwd", "http:// nothing", "www."):
        assert all(url is None for _, url in split_links(text)), text


def test_a_link_opens_on_click_and_shows_its_url_on_hover(
    root: tk.Tk, pane: tuple[MessageList, list[str]]
) -> None:
    messages, opened = pane
    body = "look: www.example.org/page?q=[1] and <b>*bold*</b>"
    messages.open("bob", [row(0, body)], more_before=False)
    settle(root)
    assert body in messages.content()  # the text as sent, nothing parsed away
    t = messages.text
    start = t.search("www.example.org", "1.0")
    assert start and "link" in t.tag_names(start)
    assert "link" not in t.tag_names(t.search("<b>", "1.0"))
    box = t.bbox(f"{start} + 3 chars")
    assert box is not None
    x, y = box[0] + 1, box[1] + box[3] // 2
    t.event_generate("<Motion>", x=5, y=5)
    settle(root)
    t.event_generate("<Motion>", x=x, y=y)
    url = "https://www.example.org/page?q=[1]"
    pump(root, lambda: messages.tooltip_text() == url, what="the URL on hover")
    assert str(t.cget("cursor")) == "hand2"
    t.event_generate("<ButtonPress-1>", x=x, y=y)
    t.event_generate("<ButtonRelease-1>", x=x, y=y)
    settle(root)
    assert opened == [url]


# -- the divider -------------------------------------------------------------------------------


def test_the_divider_stands_above_its_message_and_survives_paging(
    root: tk.Tk, pane: tuple[MessageList, list[str]]
) -> None:
    messages = pane[0]
    older, shown, later = [row(0, "older")], [row(30, "seen"), row(60, "unread")], row(90, "new")
    messages.open("bob", shown, more_before=True)
    messages.set_divider(later.id)  # not shown yet
    assert messages.divider_before() == later.id
    assert DIVIDER not in messages.content()
    messages.append([later])
    assert lines_of(messages)[-5:-3] == [DIVIDER, "bob  13:30"]

    messages.set_divider(shown[1].id)  # shown: it moves
    messages.prepend(older, more_before=False)
    messages.append([row(95, "newest")])
    settle(root)
    lines = lines_of(messages)
    assert lines.count(DIVIDER) == 1
    assert lines[lines.index(DIVIDER) + 1 : lines.index(DIVIDER) + 3] == ["bob  13:00", "unread"]
    assert "divider" in messages.text.tag_names(f"{lines.index(DIVIDER) + 1}.0")

    messages.set_divider(None)
    assert DIVIDER not in messages.content() and messages.divider_before() is None
    messages.set_divider(shown[0].id)
    messages.open("carol", [row(0, "hello")], more_before=False)
    assert DIVIDER not in messages.content() and messages.divider_before() is None


def test_a_divider_above_a_grouped_message_shows_its_name(
    root: tk.Tk, pane: tuple[MessageList, list[str]]
) -> None:
    messages = pane[0]
    first, second = row(0, "one"), row(1, "two")
    messages.open("bob", [first, second], more_before=False)
    assert lines_of(messages).count("bob  12:00") == 1
    messages.set_divider(second.id)
    lines = lines_of(messages)
    assert lines[lines.index(DIVIDER) + 1 : lines.index(DIVIDER) + 3] == ["bob  12:01", "two"]
    messages.focus(second.id)
    assert messages.text.get("focus_in.first", "focus_in.last") == "bob  12:01\ntwo\n"


# -- groups and alignment ----------------------------------------------------------------------


def test_consecutive_messages_of_one_person_show_name_and_time_once(
    root: tk.Tk, pane: tuple[MessageList, list[str]]
) -> None:
    messages = pane[0]
    theirs = [row(0, "a"), row(2, "b"), row(6, "c"), row(20, "d")]
    mine = [
        row(21, "e", outgoing=True),
        row(22, "f", outgoing=True, state=MessageState.SENT),
    ]
    messages.open("bob", [*theirs, *mine], more_before=True)
    text = messages.content()
    assert text.count("bob  12:00") == 1 and "12:02" not in text and "12:06" not in text
    assert text.count("bob  12:20") == 1  # 14 minutes later: a new group
    assert text.count("12:21 ✓✓") == 1 and "12:22" not in text
    assert messages.mark_of(mine[1].id) == "✓"
    messages.update(MessageRow(**{**mine[1].__dict__, "state": MessageState.DELIVERED}))
    assert messages.mark_of(mine[1].id) == "✓✓"

    messages.append([row(24, "g", outgoing=True)])  # continues the group below
    assert "12:24" not in messages.content()
    messages.prepend([row(-1, "z")], more_before=False)  # joins the group above
    text = messages.content()
    assert text.count("bob  11:59") == 1 and "bob  12:00" not in text
    messages.focus(theirs[0].id)
    assert messages.text.get("focus_in.first", "focus_in.last") == "a\n"


def test_your_own_multi_line_message_is_left_aligned_in_a_block_at_the_right(
    root: tk.Tk, pane: tuple[MessageList, list[str]]
) -> None:
    messages = pane[0]
    mine = row(0, "yes!\nI read it twice,\nit is good", outgoing=True)
    messages.open("bob", [row(-1, "did you read it?"), mine], more_before=False)
    settle(root)
    t = messages.text
    head = f"h{mine.id.hex}"
    starts = [t.bbox(f"{head} + {n} lines") for n in range(3)]
    assert all(box is not None for box in starts)
    lefts = {box[0] for box in starts if box is not None}
    assert len(lefts) == 1, f"lines start at {sorted(lefts)}: not left-aligned"
    width = t.winfo_width()
    assert lefts.pop() > width // 2, "a short message of yours sits at the right"


# -- search results ----------------------------------------------------------------------------


def test_the_excerpt_is_cut_around_the_match() -> None:
    body = "I was thinking that maybe we could get lunch today if you are free, or tomorrow"
    assert excerpt(body, ["lunch"], 20) == "…get lunch today if…"
    assert excerpt(body, ["LUN"], 200) == body
    assert excerpt("x" * 50 + " lunch", ["lunch"], 20).endswith("lunch")
    assert excerpt(body, ["nowhere"], 20) == "I was thinking that…"


def test_a_search_result_shows_its_match_at_790_px(root: tk.Tk, fonts: Fonts) -> None:
    ttk.Frame(root, width=250).pack(side="left", fill="y")  # the side list of the window
    panel = ttk.Frame(root)
    panel.pack(side="left", fill="both", expand=True)
    panel.columnconfigure(0, weight=1)
    panel.rowconfigure(0, weight=1)
    results = SearchResults(panel, lambda _r: None)
    body = "So I was thinking, after everything that happened this week, we could get lunch."
    found = SearchResultRow(uuid.uuid4(), "bob", "bob", body, BASE)
    results.show("lunch", [found])
    settle(root)
    tree = results.tree
    shown = tree.set("0", "message")
    assert "lunch" in shown and shown.startswith("…")
    width = int(tree.column("message", "width"))
    assert ttk.Style(tree).lookup("Results.Treeview", "font") in ("", "TkDefaultFont")
    assert tkfont.nametofont("TkDefaultFont").measure(shown) <= width
