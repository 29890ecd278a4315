"""The conversation pane: one read-only :class:`tkinter.Text` showing the open conversation.

A batch of messages becomes one ``insert`` call (chars and tags interleaved) and one Tcl call
that sets its marks, so hundreds of rows cost one layout pass, never one redraw per line. Each
shown message has two marks: ``h<id>`` at its first line (right gravity, so it travels with the
text when older pages are inserted above) and, for outgoing ones, ``s<id>`` just before the
delivery mark (left gravity, so the mark can be replaced in place). Positions are only ever
computed in whole lines, or in columns of the ASCII time stamp: Tcl 8.6 counts a character
outside the BMP (most emoji) as two, so columns in a body or a name would drift.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from tkinter import ttk
from uuid import UUID

from chinwag.adapters.gui.tk_look import (
    MARKS,
    PANE,
    TEXT,
    Fonts,
    message_tags,
)
from chinwag.adapters.gui.tk_widgets import Timers, Tooltip, writable
from chinwag.adapters.gui.view import MessageRow
from chinwag.domain.message import MessageState

INSET = 10
"""Pixels between a message block's edge and its text."""

EXPLAINED = {MessageState.FAILED: "Not delivered", MessageState.QUEUED: "Waiting"}
"""The states whose reason the mark explains on hover, and how the explanation starts."""

# One Tcl call sets every mark of a batch: heads keep the default right gravity, delivery marks
# get left gravity so a new mark inserted at them stays after them.
_SET_MARKS = (
    "w heads states",
    "foreach {m i} $heads {$w mark set $m $i}\n"
    "foreach {m i} $states {$w mark set $m $i; $w mark gravity $m left}",
)


@dataclass
class _Shown:
    """What the pane remembers of a message it shows."""

    lines: int
    outgoing: bool
    mark: str


class MessageList:
    """The pane's widgets and what rendering and scrolling need to remember; it asks for older
    messages through ``older_requested`` when the person reaches the top."""

    highlight_seconds: float = 4.0
    """How long :meth:`focus` highlights the message."""

    def __init__(
        self,
        parent: tk.Misc,
        root: tk.Misc,
        fonts: Fonts,
        timers: Timers,
        older_requested: Callable[[], None],
    ) -> None:
        self._root = root
        self._fonts = fonts
        self._timers = timers
        self._older_requested = older_requested
        self._tip = Tooltip(root, fonts.small)
        self.peer: str | None = None
        self._shown: dict[UUID, _Shown] = {}
        self._reasons: dict[str, str] = {}
        self._more_before = False
        self._older_pending = False
        self._has_start = False
        self._first_day: date | None = None
        self._last_day: date | None = None
        self._pinned = True
        self._hint_shown = False
        self.highlighted: UUID | None = None
        self._margin = 0

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
        self._vbar = ttk.Scrollbar(area, orient="vertical", command=self.text.yview)
        self._vbar.grid(row=0, column=1, sticky="ns")
        self.text.configure(yscrollcommand=self._on_yscroll)
        self.text.bind("<Configure>", lambda e: self._set_margins(e.width))
        self._tags()
        self.hint = ttk.Button(
            area, text="New messages ↓", style="Hint.TButton", command=self.scroll_to_bottom
        )
        with writable(self.text):
            self.text.insert("end", "Pick someone on the left to start chatting.", ("placeholder",))

    # == what the window asks ======================================================================

    def open(self, peer: str, messages: Sequence[MessageRow], more_before: bool) -> None:
        self.peer = peer
        self._more_before = more_before
        self._older_pending = False
        self._has_start = False
        self._first_day = self._last_day = None
        self.unhighlight()
        t = self.text
        with writable(t):
            t.delete("1.0", "end")
        if self._shown:
            t.mark_unset(*(f"h{i.hex}" for i in self._shown))
            t.mark_unset(*(f"s{i.hex}" for i, s in self._shown.items() if s.outgoing))
        for tag in self._reasons:
            t.tag_delete(tag)
        self._shown.clear()
        self._reasons.clear()
        self._insert(self._unseen(messages), at_top=True, more_before=more_before)
        self.scroll_to_bottom()
        self._root.after_idle(self._maybe_request_older)

    def append(self, messages: Sequence[MessageRow]) -> None:
        if self.peer is None:
            return
        fresh = self._unseen(messages)
        if not fresh:
            return
        # Follow when at the bottom, and always to a message the person has just sent.
        following = self.at_bottom() or any(
            r.outgoing and r.state is MessageState.PENDING for r in fresh
        )
        self._insert(fresh, at_top=False, more_before=True)
        if following:
            self.scroll_to_bottom()
        else:
            self._show_hint()

    def prepend(self, messages: Sequence[MessageRow], more_before: bool) -> None:
        if self.peer is None:
            return
        self._older_pending = False
        self._more_before = more_before
        fresh = self._unseen(messages)
        t = self.text
        # Remember the line at the bottom of the view and where it is: the page goes in far
        # above it (and the top day line may go), then the view is put back around it.
        bottom = t.index(f"@0,{max(t.winfo_height() - 1, 0)}")
        before = t.dlineinfo(bottom)
        t.mark_set("chinwag_anchor", bottom)
        self._insert(fresh, at_top=True, more_before=more_before)
        t.yview("chinwag_anchor")
        after = t.dlineinfo("chinwag_anchor")
        if before is not None and after is not None and after[1] != before[1]:
            t.yview_scroll(after[1] - before[1], "pixels")
        t.mark_unset("chinwag_anchor")
        self._root.after_idle(self._maybe_request_older)

    def update(self, message: MessageRow) -> None:
        shown = self._shown.get(message.id)
        if shown is None or not shown.outgoing:
            return
        glyph = MARKS[message.state]
        key = message.id.hex
        tag = f"r{key}"
        reason = _explained(message)
        if glyph == shown.mark and reason == self._reasons.get(tag):
            return
        t = self.text
        mark = f"s{key}"
        with writable(t):
            t.delete(mark, f"{mark} + {len(shown.mark)} chars")
            t.insert(mark, glyph, self._mark_tags(message.state, key, reason))
        shown.mark = glyph
        if reason is None and tag in self._reasons:
            del self._reasons[tag]
            t.tag_delete(tag)

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
        tag = f"r{message_id.hex}"
        if tag in self._reasons and self.text.tag_ranges(tag):
            return self._reasons[tag]
        return None

    def tooltip_text(self) -> str | None:
        return self._tip.text()

    def hint_visible(self) -> bool:
        return self._hint_shown

    # == rendering =================================================================================

    def _unseen(self, messages: Sequence[MessageRow]) -> list[MessageRow]:
        fresh: list[MessageRow] = []
        ids: set[UUID] = set()
        for row in messages:
            if row.id in self._shown or row.id in ids:
                self.update(row)
            else:
                ids.add(row.id)
                fresh.append(row)
        return fresh

    def _insert(self, rows: Sequence[MessageRow], *, at_top: bool, more_before: bool) -> None:
        """Render ``rows`` (oldest first) at the top or the bottom, in one insert."""
        t = self.text
        if at_top:
            first_line = 2 if self._has_start else 1
            day: date | None = None
        else:
            first_line = int(t.index("end-1c").split(".")[0])
            day = self._last_day
        line = first_line
        parts: list[str | tuple[str, ...]] = []
        heads: list[str] = []
        states: list[str] = []
        if at_top and not more_before and not self._has_start:
            parts += [f"This is the start of your conversation with {self.peer}.\n", ("start",)]
            line += 1
            self._has_start = True
        first_separator: int | None = None
        for row in rows:
            local = row.sent_at.astimezone()
            if local.date() != day:
                day = local.date()
                if first_separator is None:
                    first_separator = line
                parts += [_day_label(day) + "\n", ("day",)]
                line += 1
            key = row.id.hex
            start = line
            heads += [f"h{key}", f"{line}.0"]
            hhmm = local.strftime("%H:%M")
            glyph = ""
            if row.outgoing:
                parts += [row.body + "\n", ("body_out",)]
                line += row.body.count("\n") + 1
                glyph = MARKS[row.state]
                tags = self._mark_tags(row.state, key, _explained(row))
                parts += [hhmm + " ", ("meta_out",), glyph, tags]
                parts += ["\n", ("meta_out",), "\n", ("gap",)]
                states += [f"s{key}", f"{line}.{len(hhmm) + 1}"]
                line += 2
            else:
                parts += [row.sender, ("meta_in", "sender"), f"  {hhmm}\n", ("meta_in",)]
                parts += [row.body + "\n", ("body_in",), "\n", ("gap",)]
                line += 1 + row.body.count("\n") + 1 + 1
            self._shown[row.id] = _Shown(lines=line - start, outgoing=row.outgoing, mark=glyph)
        if not parts:
            return
        with writable(t):
            t.insert(f"{first_line}.0" if at_top else "end", "", (), *parts)
            if rows and at_top and day == self._first_day:
                # The batch ends on the day the shown messages start: say that day once.
                t.delete("chinwag_day", "chinwag_day + 1 lines")
        t.tk.call("apply", _SET_MARKS, str(t), tuple(heads), tuple(states))
        if not rows:
            return
        first_day = rows[0].sent_at.astimezone().date()
        if at_top or self._first_day is None:
            self._first_day = first_day
            t.mark_set("chinwag_day", f"{first_separator}.0")
        if not at_top or self._last_day is None:
            self._last_day = day

    def _mark_tags(self, state: MessageState, key: str, reason: str | None) -> tuple[str, ...]:
        tags: tuple[str, ...] = ("meta_out", f"mark_{state.value}")
        if reason is not None:
            tag = f"r{key}"
            self._reasons[tag] = reason
            tags += (tag,)
        return tags

    def _set_margins(self, width: int) -> None:
        margin = max(48, min(int(width * 0.22), 260))
        if abs(margin - self._margin) < 8:
            return
        self._margin = margin
        t = self.text
        t.tag_configure("body_in", rmargin=margin)
        t.tag_configure("meta_in", rmargin=margin)
        t.tag_configure("body_out", lmargin1=margin, lmargin2=margin)
        t.tag_configure("meta_out", lmargin1=margin, lmargin2=margin)

    def _tags(self) -> None:
        t = self.text
        message_tags(t, self._fonts, INSET)
        for state in EXPLAINED:
            tag = f"mark_{state.value}"
            t.tag_bind(tag, "<Enter>", self._tip_enter)
            t.tag_bind(tag, "<Leave>", lambda _e: self._tip.hide())
            t.tag_bind(tag, "<Button-1>", self._tip_enter)
        self._set_margins(480)

    def _tip_enter(self, event: tk.Event[tk.Text]) -> None:
        names = self.text.tag_names("current")
        reason = next((self._reasons[tag] for tag in names if tag in self._reasons), None)
        state = next((s for s in EXPLAINED if f"mark_{s.value}" in names), None)
        if reason is None or state is None:
            return
        self._tip.show(f"{EXPLAINED[state]}: {reason}", event.x_root, event.y_root)

    # == scrolling =================================================================================

    def at_bottom(self) -> bool:
        t = self.text
        if t.winfo_height() <= 1 or not t.winfo_viewable():
            return self._pinned
        return t.dlineinfo("end-1c") is not None

    def scroll_to_bottom(self) -> None:
        self.text.see("end-1c")
        self._pinned = True
        self._hide_hint()

    def _show_hint(self) -> None:
        if not self._hint_shown:
            self._hint_shown = True
            self.hint.place(relx=0.5, rely=1.0, y=-14, anchor="s")
            self.hint.lift()

    def _hide_hint(self) -> None:
        if self._hint_shown:
            self._hint_shown = False
            self.hint.place_forget()

    def _on_yscroll(self, first: float | str, last: float | str) -> None:
        self._vbar.set(first, last)
        at_bottom = float(last) >= 1.0
        if self.text.winfo_viewable():
            self._pinned = at_bottom
        if at_bottom:
            self._hide_hint()
        if float(first) <= 0.0 and self._wants_older():
            # Not from inside Tk's redisplay: the presenter may answer at once.
            self._root.after_idle(self._maybe_request_older)

    def _wants_older(self) -> bool:
        return self.peer is not None and self._more_before and not self._older_pending

    def _maybe_request_older(self) -> None:
        if not self._wants_older():
            return
        if float(self.text.yview()[0]) > 0.0:
            return
        self._older_pending = True
        self._older_requested()


def _explained(row: MessageRow) -> str | None:
    """The reason the mark of ``row`` explains on hover, if its state has one."""
    return row.reason if row.state in EXPLAINED else None


def _day_label(day: date) -> str:
    return f"{day:%A}, {day.day} {day:%B %Y}"
