"""The conversation pane: one read-only :class:`tkinter.Text` showing the open conversation.

A batch of messages becomes one ``insert`` call (chars and tags interleaved, built by
``tk_message_rows``) and one Tcl call that sets its marks, so hundreds of rows cost one layout
pass, never one redraw per line. Each shown message has two marks: ``h<id>`` at its first line
(right gravity, so it travels with the text when older pages are inserted above) and, for
outgoing ones, ``s<id>`` just before the delivery mark (left gravity, so the mark can be
replaced in place). Positions are only ever computed in whole lines, or in columns of the ASCII
time stamp: Tcl 8.6 counts a character outside the BMP (most emoji) as two, so columns in a
body or a name would drift. A file offer's row is a card (``tk_file_rows``) embedded on a line
of its own, updated in place. Scrolling (following the bottom, the "New messages ↓" hint, asking
for older pages) is ``tk_scroll``'s.
"""

from __future__ import annotations

import tkinter as tk
import webbrowser
from collections.abc import Callable, Sequence
from datetime import date
from tkinter import ttk
from uuid import UUID

from chinwag.adapters.gui.tk_file_rows import CARD_WIDTH, Act, FileCards
from chinwag.adapters.gui.tk_links import Links, Opener
from chinwag.adapters.gui.tk_look import PANE, TEXT, Fonts, message_tags
from chinwag.adapters.gui.tk_marks import Glyphs, font_charset, mark_tooltip
from chinwag.adapters.gui.tk_message_rows import (
    DIVIDER,
    SET_MARKS,
    Batch,
    Bubbles,
    Shown,
    body_parts,
    demote,
    explained,
    groups_with,
    mark_tags,
    mark_text,
    message_at,
    promote,
)
from chinwag.adapters.gui.tk_scroll import Scroll
from chinwag.adapters.gui.tk_widgets import Timers, Tooltip, writable
from chinwag.adapters.gui.view import FileRow, MessageRow
from chinwag.domain.message import MessageState

INSET = 10
"""Pixels between a message block's edge and its text."""


class MessageList:
    """The pane's widgets and what rendering needs to remember; its :attr:`scroll` asks for
    older messages through ``older_requested`` when the person reaches the top, and it opens
    links with ``opener``."""

    highlight_seconds: float = 4.0
    """How long :meth:`focus` highlights the message."""

    def __init__(
        self,
        parent: tk.Misc,
        root: tk.Misc,
        fonts: Fonts,
        timers: Timers,
        older_requested: Callable[[], None],
        opener: Opener = webbrowser.open,
        bottom_reached: Callable[[], None] = lambda: None,
        file_act: Act = lambda _action, _transfer: None,
    ) -> None:
        """``file_act(action, transfer)``: a file row's button was pressed."""
        self._fonts = fonts
        self._timers = timers
        self._tip = Tooltip(root, fonts.small)
        self.peer: str | None = None
        """Who the open conversation is with, or the open group's name."""
        self._group = False
        self._shown: dict[UUID, Shown] = {}
        self._first: UUID | None = None
        self._last: UUID | None = None
        self._divider: UUID | None = None
        self._promoted: UUID | None = None  # grouped, but heads its group for the divider
        self._has_start = False
        self._first_day: date | None = None
        self._last_day: date | None = None
        self.highlighted: UUID | None = None
        self._margin = self._width = 0
        family = str(fonts.normal.actual("family"))
        self.glyphs = Glyphs(root, fonts.normal, font_charset(family))

        self.frame = area = ttk.Frame(parent, style="Pane.TFrame")
        area.columnconfigure(0, weight=1)
        area.rowconfigure(0, weight=1)
        self.text = tk.Text(
            area,
            wrap="word",
            state="disabled",
            font=fonts.gap,  # every message is tagged with its font; the last line is thin
            background=PANE,
            foreground=TEXT,
            borderwidth=0,
            highlightthickness=0,
            padx=14,
            pady=8,
            spacing2=2,
            insertwidth=0,
            cursor="xterm",
            selectbackground="#b9d2fb",
            inactiveselectbackground="#d6e3fa",
            exportselection=True,
            takefocus=True,
        )
        self.text.grid(row=0, column=0, sticky="nsew")
        self.scroll = Scroll(
            area, self.text, root, lambda: self.peer is not None, older_requested, bottom_reached
        )
        self.text.bind("<Configure>", lambda e: self._set_margins(e.width))
        self._bubbles = Bubbles(self.text, fonts.normal, INSET)
        self._tags()
        self.links = Links(self.text, self._tip, opener)
        self.cards = FileCards(self.text, fonts, file_act)
        with writable(self.text):
            self.text.insert(
                "end",
                "Pick someone on the left, or find anybody online with New chat (Ctrl+N).",
                ("placeholder",),
            )

    # == what the window asks ======================================================================

    def open(
        self, peer: str, messages: Sequence[MessageRow], more_before: bool, *, group: bool = False
    ) -> None:
        """Show the conversation with ``peer`` (with ``group``: of the group so named)."""
        self.peer, self._group = peer, group
        self.scroll.loaded(more_before)
        self._has_start = False
        self._first_day = self._last_day = None
        self._divider = self._promoted = None
        self.unhighlight()
        t = self.text
        with writable(t):
            t.delete("1.0", "end")
        if self._shown:
            t.mark_unset(*(f"h{i.hex}" for i in self._shown))
            t.mark_unset(*(f"s{i.hex}" for i, s in self._shown.items() if s.outgoing))
        self.links.clear()
        self.cards.clear()  # deleting the text destroyed them
        self._shown.clear()
        self._first = self._last = None
        self._insert(self._unseen(messages), at_top=True, more_before=more_before)
        self.scroll.to_bottom()
        self.scroll.older_when_idle()

    def append(self, messages: Sequence[MessageRow]) -> None:
        if self.peer is None:
            return
        fresh = self._unseen(messages)
        if not fresh:
            return
        # Follow when at the bottom, and always to a message the person has just sent.
        following = self.scroll.at_bottom() or any(
            r.outgoing and r.state is MessageState.PENDING for r in fresh
        )
        self._insert(fresh, at_top=False, more_before=True)
        if following:
            self.scroll.to_bottom()
        else:
            self.scroll.show_hint()

    def prepend(self, messages: Sequence[MessageRow], more_before: bool) -> None:
        if self.peer is None:
            return
        self.scroll.loaded(more_before)
        fresh = self._unseen(messages)
        with self.scroll.kept_in_place():
            self._insert(fresh, at_top=True, more_before=more_before)
        self.scroll.older_when_idle()

    def update(self, message: MessageRow) -> None:
        shown = self._shown.get(message.id)
        if shown is None or not shown.outgoing:
            return
        glyph = mark_text(message)
        reason = explained(message)
        if (glyph, message.state, reason, message.detail) == (
            shown.mark,
            shown.state,
            shown.reason,
            shown.detail,
        ):
            return
        t = self.text
        mark = f"s{message.id.hex}"
        with writable(t):
            t.delete(mark, f"{mark} + {len(shown.mark)} chars")
            t.insert(mark, glyph, mark_tags(message.state))
        shown.mark, shown.state, shown.reason = glyph, message.state, reason
        shown.detail = message.detail

    def update_file(self, row: FileRow) -> None:
        """A shown file row changed: its card shows it in place."""
        self.cards.update(row)

    def focus(self, message_id: UUID) -> None:
        shown = self._shown.get(message_id)
        if shown is None:
            return
        self.unhighlight()
        head = f"h{message_id.hex}"
        end = f"{head} + {shown.lines - 1} lines"  # not the gap after it
        t = self.text
        t.tag_add("focus_out" if shown.outgoing else "focus_in", head, end)
        t.see(end)
        t.see(head)
        self.highlighted = message_id
        self._timers.later("focus", self.highlight_seconds, self.unhighlight)

    def unhighlight(self) -> None:
        self._timers.cancel("focus")
        self.text.tag_remove("focus_in", "1.0", "end")
        self.text.tag_remove("focus_out", "1.0", "end")
        self.highlighted = None

    def set_divider(self, before: UUID | None) -> None:
        """Show a "new messages" line just above message ``before`` (now, or once it is shown);
        ``None`` removes it. Opening another conversation removes it too. The message it
        leaves goes back into its group; a view at the bottom stays there, unless the divider
        would go out of sight: then it goes to the top and the hint says there is more below."""
        t = self.text
        following = self.scroll.at_bottom()
        ranges = t.tag_ranges("divider")
        if ranges:
            with writable(t):
                t.delete(ranges[0], ranges[1])
        regroup, self._promoted = self._promoted, None
        left = self._shown.get(regroup) if regroup is not None else None
        if regroup is not None and left is not None and left.head and regroup != before:
            demote(t, regroup.hex, left)
        self._divider = before
        shown = self._shown.get(before) if before is not None else None
        if before is None or shown is None:
            return
        if not shown.head:
            promote(t, before.hex, shown)
            self._promoted = before
        with writable(t):
            t.insert(f"h{before.hex}", DIVIDER + "\n", ("divider",))
        if following:
            self.scroll.to_bottom()
            if t.dlineinfo("divider.first") is None:
                self.scroll.show_from("divider.first")

    def divider_before(self) -> UUID | None:
        return self._divider

    # == reading the pane (for tests; decides nothing) =============================================

    def content(self) -> str:
        return self.text.get("1.0", "end-1c")

    def visible_text(self) -> str:
        t = self.text
        first = t.index("@0,0")
        last = t.index(f"@0,{t.winfo_height()}")
        return t.get(f"{first} linestart", f"{last} lineend")

    def mark_of(self, message_id: UUID) -> str:
        shown = self._shown.get(message_id)
        if shown is None or not shown.outgoing:
            return ""
        mark = f"s{message_id.hex}"
        return self.text.get(mark, f"{mark} + {len(shown.mark)} chars")

    def reason_of(self, message_id: UUID) -> str | None:
        shown = self._shown.get(message_id)
        return None if shown is None else shown.reason

    def detail_of(self, message_id: UUID) -> str | None:
        """What the mark of a group message of ours says on hover (``None`` if not one)."""
        shown = self._shown.get(message_id)
        return None if shown is None else shown.detail

    def tooltip_text(self) -> str | None:
        return self._tip.text()

    # == rendering =================================================================================

    def _unseen(self, messages: Sequence[MessageRow]) -> list[MessageRow]:
        fresh: list[MessageRow] = []
        ids: set[UUID] = set()
        for row in messages:
            if row.id in self._shown or row.id in ids:
                self.update(row)
                if row.file is not None:
                    self.cards.update(row.file)
            else:
                ids.add(row.id)
                fresh.append(row)
        return fresh

    def _insert(self, rows: Sequence[MessageRow], *, at_top: bool, more_before: bool) -> None:
        """Render ``rows`` (oldest first) at the top or the bottom, in one insert."""
        t = self.text
        if at_top:
            batch = self._batch(2 if self._has_start else 1, None, None)
        else:
            last = self._shown.get(self._last) if self._last is not None else None
            batch = self._batch(int(t.index("end-1c").split(".")[0]), self._last_day, last)
        first_line = batch.line
        if at_top and not more_before and not self._has_start:
            start = (
                f"This is the start of the group “{self.peer}”."
                if self._group
                else f"This is the start of your conversation with {self.peer}."
            )
            batch.text(start, "start")
            self._has_start = True
        for row in rows:
            batch.add(row)
        if not batch.parts:
            return
        old_first = self._shown.get(self._first) if self._first is not None else None
        with writable(t):
            t.insert(f"{first_line}.0" if at_top else "end", "", (), *batch.parts)
            for index, row, tags in batch.files:  # before the marks: they go before each card
                assert row.file is not None
                t.window_create(index, window=self.cards.make(row.file, row.outgoing), pady=3)
                for tag in tags:
                    t.tag_add(tag, index)
            if rows and at_top and batch.day == self._first_day:
                # The batch ends on the day the shown messages start: say that day once.
                t.delete("chinwag_day", "chinwag_day + 1 lines")
        t.tk.call("apply", SET_MARKS, str(t), tuple(batch.heads), tuple(batch.states))
        self._shown.update(batch.shown)
        if batch.divider_grouped:
            self._promoted = self._divider
        if not rows:
            return
        joins = old_first is not None and old_first.head and groups_with(batch.before, old_first)
        if at_top and joins and self._first is not None:
            assert old_first is not None
            if self._first != self._divider:
                demote(t, self._first.hex, old_first)
            else:  # it heads its group for the divider only
                self._promoted = self._first
        if at_top or self._first is None:
            self._first = rows[0].id
            self._first_day = rows[0].sent_at.astimezone().date()
            t.mark_set("chinwag_day", f"{batch.first_day_line}.0")
        if not at_top or self._last is None:
            self._last = rows[-1].id
            self._last_day = batch.day

    def _batch(self, line: int, day: date | None, before: Shown | None) -> Batch:
        divider = self._divider if not self.text.tag_ranges("divider") else None

        def body(text: str, tag: str) -> list[str | tuple[str, ...]]:
            if tag == "notice":  # names in it are not links, whatever they look like
                return [self.glyphs.readable(text), (tag,)]
            width = self._bubbles.tag(text) if tag == "body_out" else None
            tags = (tag,) if width is None else (tag, width)
            return body_parts(text, tags, self.glyphs.readable, self.links.tags)

        card = (self._bubbles.width_tag(CARD_WIDTH),)
        return Batch(line, day, before, divider, body, card_tags=card)

    def _set_margins(self, width: int) -> None:
        margin = max(48, min(int(width * 0.22), 260))
        if abs(width - self._width) < 8:
            return
        self._width = width
        self._margin = margin
        self._bubbles.resize(width - 2 * int(self.text.cget("padx")), margin)
        t = self.text
        t.tag_configure("body_in", rmargin=margin)
        t.tag_configure("meta_in", rmargin=margin)
        t.tag_configure("body_out", lmargin1=margin, lmargin2=margin)
        t.tag_configure("meta_out", lmargin1=margin, lmargin2=margin)

    def _tags(self) -> None:
        t = self.text
        message_tags(t, self._fonts, INSET)
        t.tag_bind("mark", "<Enter>", self._tip_enter)
        t.tag_bind("mark", "<Leave>", lambda _e: self._tip.hide())
        t.tag_bind("mark", "<Button-1>", self._tip_enter)
        self._set_margins(480)

    def _tip_enter(self, event: tk.Event[tk.Text]) -> None:
        """The mark under the pointer is just after its message's ``s`` mark: find that."""
        message = message_at(self.text, "current")
        shown = self._shown.get(message) if message is not None else None
        if shown is None or self.peer is None:
            return
        words = shown.detail or mark_tooltip(shown.state, self.peer, shown.reason)
        self._tip.show(words, event.x_root, event.y_root)
