"""How messages become text in the conversation pane: one batch of rows at a time.

A batch is built as one list of chars and tags (for a single ``insert``) and the marks to set,
counting lines as it goes. Consecutive messages of one person within :data:`GROUP` on the same
day form a group: only the first (the head) shows the name (incoming) or the time (outgoing).
A notice (a group's membership change) is one centred line of its own, between messages.
"""

from __future__ import annotations

import math
import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from tkinter import font as tkfont
from uuid import UUID

from chinwag.adapters.gui.tk_links import split_links
from chinwag.adapters.gui.tk_marks import EXPLAINED, MARKS
from chinwag.adapters.gui.tk_widgets import writable
from chinwag.adapters.gui.view import MessageRow
from chinwag.domain.message import MessageState

GROUP = timedelta(minutes=5)
"""The longest gap between two messages of one person that still groups them."""

DIVIDER = "new messages"
"""The text of the line above the first unread message."""


# One Tcl call sets every mark of a batch: heads keep the default right gravity, delivery marks
# get left gravity so a new mark inserted at them stays after them.
SET_MARKS = (
    "w heads states",
    "foreach {m i} $heads {$w mark set $m $i}\n"
    "foreach {m i} $states {$w mark set $m $i; $w mark gravity $m left}",
)


@dataclass
class Shown:
    """What the pane remembers of a message it shows."""

    lines: int
    outgoing: bool
    mark: str
    sender: str
    at: datetime
    """Local time."""
    head: bool
    """Whether it shows its name (incoming) or time (outgoing): the first of its group."""
    state: MessageState = MessageState.RECEIVED
    reason: str | None = None
    detail: str | None = None
    """What the mark says on hover, worded by the presenter (a group message's deliveries)."""
    notice: bool = False


def groups_with(before: Shown | None, after: Shown) -> bool:
    """Whether ``after`` continues the group of ``before`` (shown just above it)."""
    return (
        before is not None
        and not before.notice
        and not after.notice
        and before.sender == after.sender
        and before.outgoing == after.outgoing
        and before.at.date() == after.at.date()
        and timedelta(0) <= after.at - before.at <= GROUP
    )


def explained(row: MessageRow) -> str | None:
    """The reason the mark of ``row`` explains on hover, if its state has one."""
    return row.reason if row.state in EXPLAINED else None


def mark_text(row: MessageRow) -> str:
    """The mark of an outgoing row: its state's glyph, and a group message's tally ("✓ 3/4")."""
    glyph = MARKS[row.state]
    return f"{glyph} {row.tally}" if row.tally else glyph


def day_label(day: date) -> str:
    return f"{day:%A}, {day.day} {day:%B %Y}"


def head_text(shown: Shown) -> str:
    """The line a head adds above an incoming body, or before an outgoing mark."""
    hhmm = shown.at.strftime("%H:%M")
    return f"{hhmm} " if shown.outgoing else f"{shown.sender}  {hhmm}\n"


@dataclass
class Batch:
    """One insert's worth of rows, starting at line ``line`` after ``before`` (or at the top)."""

    line: int
    day: date | None
    before: Shown | None
    divider: UUID | None
    body: Callable[[str, str], list[str | tuple[str, ...]]]
    """The parts of a body: text and tags (links get theirs), given its base tag."""
    parts: list[str | tuple[str, ...]] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    shown: dict[UUID, Shown] = field(default_factory=dict)
    first_day_line: int | None = None
    divider_line: int | None = None
    divider_grouped: bool = False
    """Whether the divider's message heads its group only because of the divider."""
    card_tags: tuple[str, ...] = ()
    """The tags that size an outgoing file row's block (as wide as its card)."""
    files: list[tuple[str, MessageRow, tuple[str, ...]]] = field(default_factory=list)
    """File rows: where each one's card goes (an empty line of its own), and its tags."""

    def text(self, text: str, *tags: str) -> None:
        """A line of its own (the conversation's start, say)."""
        self.parts += [text + "\n", tags]
        self.line += text.count("\n") + 1

    def add(self, row: MessageRow) -> None:
        at = row.sent_at.astimezone()
        if at.date() != self.day:
            self.day = at.date()
            self.before = None
            if self.first_day_line is None:
                self.first_day_line = self.line
            self.text(day_label(self.day), "day")
        if row.notice:
            self._notice(row, at)
            return
        glyph = mark_text(row) if row.outgoing else ""
        shown = Shown(
            0, row.outgoing, glyph, row.sender, at, True, row.state, explained(row), row.detail
        )
        if row.id == self.divider:
            self.divider_line = self.line
            self.divider_grouped = groups_with(self.before, shown)
            self.before = None
            self.text(DIVIDER, "divider")
        key = row.id.hex
        start = self.line
        shown.head = head = not groups_with(self.before, shown)
        self.heads += [f"h{key}", f"{start}.0"]
        lines = 1 if row.file is not None else row.body.count("\n") + 1
        if row.outgoing:
            self.parts += [*self._body(row, start, "body_out"), "\n", ("body_out",)]
            prefix = head_text(shown) if head else ""
            self.parts += [prefix, ("meta_out",), glyph, mark_tags(row.state)]
            self.parts += ["\n", ("meta_out",)]
            self.states += [f"s{key}", f"{start + lines}.{len(prefix)}"]
            lines += 1
        else:
            if head:
                self.parts += [row.sender, ("meta_in", "sender")]
                self.parts += [head_text(shown)[len(row.sender) :], ("meta_in",)]
                lines += 1
            self.parts += [*self._body(row, start + lines - 1, "body_in"), "\n", ("body_in",)]
        self.parts += ["\n", ("gap",)]
        self.line = start + lines + 1
        shown.lines = lines + 1
        self.shown[row.id] = shown
        self.before = shown

    def _body(self, row: MessageRow, line: int, tag: str) -> list[str | tuple[str, ...]]:
        """The parts of a message's body; a file row's is an empty line its card goes on."""
        if row.file is None:
            return self.body(row.body, tag)
        tags = (tag, *self.card_tags) if row.outgoing else (tag,)
        self.files.append((f"{line}.0", row, tags))
        return ["", tags]

    def _notice(self, row: MessageRow, at: datetime) -> None:
        """A line about the conversation, with its time; the next message heads its group."""
        shown = Shown(1, False, "", row.sender, at, True, notice=True)
        self.heads += [f"h{row.id.hex}", f"{self.line}.0"]
        self.parts += [*self.body(row.body, "notice"), f"  {at:%H:%M}\n", ("notice", "notice_time")]
        self.line += 1
        self.shown[row.id] = shown
        self.before = None


def mark_tags(state: MessageState) -> tuple[str, ...]:
    return ("meta_out", "mark", f"mark_{state.value}")


def body_parts(
    body: str,
    tags: tuple[str, ...],
    readable: Callable[[str], str],
    link_tags: Callable[[str], tuple[str, ...]],
) -> list[str | tuple[str, ...]]:
    """The text of ``body`` tagged ``tags``, links also tagged as links, symbols no font draws
    spelled out. Links are found in the body as sent, so a spelled-out symbol is never one."""
    parts: list[str | tuple[str, ...]] = []
    for text, url in split_links(body):
        if url is None:
            parts += [readable(text), tags]
        else:
            parts += [text, (*tags, *link_tags(url))]
    return parts


class Bubbles:
    """Outgoing messages in blocks as wide as their text, at the right, text aligned left.

    A text widget's tag paints its background across the whole line, so each outgoing body
    gets a tag for its width (rounded up to :data:`STEP` pixels: a few dozen tags, not one per
    message) whose left margin puts the block's left edge just before the text.
    """

    STEP = 16
    LONGEST = 4000
    """Bodies longer than this (in characters) are not measured: they fill the width."""

    def __init__(self, text: tk.Text, font: tkfont.Font, inset: int) -> None:
        self._text = text
        self._font = font
        self._inset = inset
        self._widths: set[int] = set()
        self._room = 0
        self._margin = 0

    def tag(self, body: str) -> str | None:
        """The tag sizing the block of ``body``, or ``None`` for one as wide as it gets."""
        if len(body) > self.LONGEST:
            return None
        widest = max(self._font.measure(line) for line in body.split("\n"))
        return self.width_tag(widest)

    def width_tag(self, widest: int) -> str:
        """The tag sizing a block whose widest line is ``widest`` pixels (a file's card)."""
        width = math.ceil((widest + 2) / self.STEP) * self.STEP
        if width not in self._widths:
            self._widths.add(width)
            self._size(width)
        return f"w{width}"

    def resize(self, room: int, margin: int) -> None:
        """The pane now has ``room`` pixels for text, and outgoing blocks start at ``margin``."""
        self._room, self._margin = room, margin
        for width in self._widths:
            self._size(width)

    def _size(self, width: int) -> None:
        left = max(self._margin, self._room - width - 2 * self._inset)
        self._text.tag_configure(f"w{width}", lmargin1=left, lmargin2=left)


def promote(t: tk.Text, key: str, shown: Shown) -> None:
    """Make the shown message ``key`` the head of its group: show its name (or time)."""
    with writable(t):
        if shown.outgoing:
            prefix = head_text(shown)
            t.insert(f"s{key} linestart", prefix, ("meta_out",))
            t.mark_set(f"s{key}", f"s{key} linestart + {len(prefix)} chars")
        else:
            t.insert(f"h{key}", shown.sender, ("meta_in", "sender"))
            t.insert(f"h{key}", head_text(shown)[len(shown.sender) :], ("meta_in",))
            t.mark_set(f"h{key}", f"h{key} - 1 lines linestart")
            shown.lines += 1
    shown.head = True


def demote(t: tk.Text, key: str, shown: Shown) -> None:
    """Make the shown message ``key`` part of the group above it: its name (or time) goes."""
    with writable(t):
        if shown.outgoing:
            t.delete(f"s{key} linestart", f"s{key}")
        else:
            t.delete(f"h{key}", f"h{key} + 1 lines")
            shown.lines -= 1
    shown.head = False


def message_at(t: tk.Text, index: str) -> UUID | None:
    """The outgoing message whose delivery mark is on the line of ``index``: the ``s`` mark
    of that line names it."""
    line = t.index(index).split(".")[0]
    for _kind, name, _where in t.dump(f"{line}.0", f"{line}.0 lineend", mark=True):
        if name.startswith("s") and len(name) == 33:
            return UUID(hex=name[1:])
    return None
