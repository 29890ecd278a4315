"""The composer: the message entry (Enter sends, Shift+Enter makes a new line), Send, a
paperclip that sends files (when the window offers files), and a counter of the room left that
appears near the size limit.

Everything here runs on each edit, so nothing may cost more than the text's length: Tk 8.6
counts the display lines of one long logical line in quadratic time (72 KB pasted as one line
took 41 s), so the entry's height counts display lines only for text short enough to fit in
the tallest entry, and is simply the tallest for anything longer.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont
from tkinter import ttk

from chinwag.adapters.gui.tk_look import ACCENT, LINE, MUTED, PANE, TEXT, Fonts
from chinwag.adapters.gui.tk_widgets import placeholder_for
from chinwag.domain.message import MAX_BODY_BYTES

MIN_ENTRY_LINES = 2
MAX_ENTRY_LINES = 5
ENTRY_BG = "#fbfbfc"
COUNTER_FROM = 0.9
"""The share of the limit from which the counter shows the room left."""
PAD_X = 14
"""Pixels between the composer's edges and the entry."""

PLACEHOLDERS = (
    "Write a message — Enter to send, Shift+Enter for a new line",
    "Write a message — Shift+Enter for a new line",
    "Write a message",
)
"""The entry's hint, longest first: the longest that fits the entry's width is shown."""


def utf8_size(text: str) -> int:
    """The bytes ``text`` takes on the wire (lone surrogates counted as the domain refuses them)."""
    return len(text.encode("utf-8", "surrogatepass"))


def room_left(size: int, limit: int) -> tuple[str, bool] | None:
    """What the counter says for a text of ``size`` bytes, and whether it is over the limit;
    ``None`` while the text is far from it."""
    if size > limit:
        return f"{size - limit:,} bytes over the {limit:,}-byte limit", True
    if size >= limit * COUNTER_FROM:
        left = limit - size
        return f"{left:,} {'byte' if left == 1 else 'bytes'} left", False
    return None


def too_long(size: int, limit: int) -> str:
    """Why a text of ``size`` bytes is not sent; shown until the text fits."""
    return (
        f"Too long to send: a message is at most {limit:,} bytes and this one has {size:,}. "
        f"Remove {size - limit:,} bytes, or send it in parts."
    )


CLIP = [11, 9, 11, 21, 9, 24, 6, 21, 6, 6, 9, 2, 13, 2, 16, 6, 16, 22, 13, 27, 7, 27, 3, 22, 3, 10]
"""A paperclip as a smooth line (x, y pairs) in a 20 x 30 box: DejaVu Sans, the stock font,
has no paperclip glyph (U+1F4CE), so it is drawn."""


def paperclip(parent: tk.Misc, pressed: Callable[[], None]) -> tk.Canvas:
    """The attach button: a drawn paperclip that darkens under the pointer."""
    canvas = tk.Canvas(
        parent, width=22, height=32, background=PANE, highlightthickness=0, cursor="hand2"
    )
    clip = canvas.create_line(
        CLIP, smooth=True, width=2, fill=MUTED, capstyle="round", joinstyle="round"
    )
    canvas.bind("<Enter>", lambda _e: canvas.itemconfigure(clip, fill=ACCENT))
    canvas.bind("<Leave>", lambda _e: canvas.itemconfigure(clip, fill=MUTED))
    canvas.bind("<Button-1>", lambda _e: pressed())
    return canvas


class Composer:
    """Calls ``send(text)`` with everything typed on Enter or Send, unless the text is over
    ``limit`` bytes: then it says so under the entry, keeps the text, and sends nothing. The
    presenter clears the entry once a message is taken."""

    def __init__(
        self,
        parent: tk.Misc,
        fonts: Fonts,
        send: Callable[[str], None],
        limit: int = MAX_BODY_BYTES,
        attach: Callable[[], None] | None = None,
    ) -> None:
        """``attach``: the paperclip was clicked (pick files to send); without it, no clip."""
        self._send = send
        self._limit = limit
        self._font: tkfont.Font = fonts.normal
        self._refused = False
        self.frame = ttk.Frame(parent, style="Pane.TFrame", padding=(PAD_X, 10))
        entry_column = 0 if attach is None else 1
        self.frame.columnconfigure(entry_column, weight=1)
        self.attach_button: tk.Canvas | None = None
        if attach is not None:
            self.attach_button = paperclip(self.frame, attach)
            self.attach_button.grid(row=0, column=0, sticky="s", padx=(0, 8), pady=(0, 4))
        self.entry = tk.Text(
            self.frame,
            height=MIN_ENTRY_LINES,
            wrap="word",
            font=fonts.normal,
            undo=True,
            background=ENTRY_BG,
            foreground=TEXT,
            relief="flat",
            borderwidth=0,
            highlightthickness=1,
            highlightbackground=LINE,
            highlightcolor=ACCENT,
            padx=10,
            pady=7,
            insertbackground=TEXT,
        )
        self.entry.grid(row=0, column=entry_column, sticky="ew")
        self.entry.bind("<Return>", self._send_key)
        self.entry.bind("<KP_Enter>", self._send_key)
        self.entry.bind("<Shift-Return>", self._newline_key)
        self.entry.bind("<Shift-KP_Enter>", self._newline_key)
        # Tk's Text moves to the line start on Ctrl+A (Emacs); here it selects everything, as in
        # every other text box, so an over-long paste goes with Ctrl+A then Delete.
        self.entry.bind("<Control-a>", self._select_all)
        self.entry.bind("<<Modified>>", self._modified)
        self.entry.bind("<Configure>", lambda e: self._fit_placeholder(e.width))
        self._placeholder = placeholder_for(self.entry, PLACEHOLDERS[0], ENTRY_BG)
        self.send_button = ttk.Button(
            self.frame, text="Send", style="Accent.TButton", command=self._send_pressed
        )
        self.send_button.grid(row=0, column=entry_column + 1, sticky="s", padx=(10, 0))
        self.counter = ttk.Label(
            self.frame, text="", style="Counter.TLabel", anchor="e", justify="right"
        )
        self.counter.grid(row=1, column=0, columnspan=entry_column + 2, sticky="ew", pady=(4, 0))
        self.counter.grid_remove()
        # A refusal is a sentence or two: wrapped to the composer's width, never clipped.
        self.frame.bind("<Configure>", lambda e: self._wrap_counter(e.width), add="+")

    def clear(self) -> None:
        self.entry.delete("1.0", "end")
        self.entry.edit_reset()
        self._fit()

    def restore(self, text: str) -> None:
        if self.entry.get("1.0", "end-1c").strip():
            return  # the person has typed something else since: keep it
        self.entry.delete("1.0", "end")
        self.entry.insert("1.0", text)
        self._fit()

    # == reading it (for tests; decides nothing) ===================================================

    def counter_text(self) -> str:
        """What the counter under the entry says ("" when hidden)."""
        return str(self.counter.cget("text")) if self.counter.winfo_manager() else ""

    def placeholder_text(self) -> str:
        return str(self._placeholder.cget("text"))

    # == reacting ==================================================================================

    def _send_pressed(self) -> None:
        text = self.entry.get("1.0", "end-1c")
        if utf8_size(text) > self._limit:
            self._refused = True
            self._show_room(text)
            return
        self._send(text)

    def _send_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._send_pressed()
        return "break"

    def _newline_key(self, _event: tk.Event[tk.Misc]) -> str:
        self.entry.insert("insert", "\n")
        self.entry.see("insert")
        return "break"

    def _select_all(self, _event: tk.Event[tk.Misc]) -> str:
        self.entry.tag_add("sel", "1.0", "end-1c")
        self.entry.mark_set("insert", "end-1c")
        self.entry.see("insert")
        return "break"

    def _modified(self, _event: tk.Event[tk.Misc]) -> None:
        if self.entry.edit_modified():
            self.entry.edit_modified(False)
            self._fit()

    def _fit(self) -> None:
        text = self.entry.get("1.0", "end-1c")
        height = self._height(text)
        if int(self.entry.cget("height")) != height:
            self.entry.configure(height=height)
        if not text and not self._placeholder.winfo_manager():
            self._placeholder.place(x=12, y=8)
        elif text and self._placeholder.winfo_manager():
            self._placeholder.place_forget()
        self._show_room(text)

    def _height(self, text: str) -> int:
        """Lines the entry shows for ``text``: as many as it takes, between the bounds."""
        logical = text.count("\n") + 1
        # Any text longer than this needs the tallest entry, even in its narrowest glyphs.
        fits = max(self.entry.winfo_width(), 200) // max(self._font.measure("i"), 1)
        if logical >= MAX_ENTRY_LINES or len(text) > fits * MAX_ENTRY_LINES:
            return MAX_ENTRY_LINES
        counted = self.entry.count("1.0", "end-1c", "displaylines")
        lines = (counted[0] if isinstance(counted, tuple) else counted or 0) + 1
        return max(MIN_ENTRY_LINES, min(MAX_ENTRY_LINES, lines))

    def _show_room(self, text: str) -> None:
        size = utf8_size(text)
        room = room_left(size, self._limit)
        if size <= self._limit:
            self._refused = False
        if room is None:
            self.counter.grid_remove()
            return
        words, over = room
        if over and self._refused:
            words = too_long(size, self._limit)
        self.counter.configure(
            text=words, style="Over.Counter.TLabel" if over else "Counter.TLabel"
        )
        self.counter.grid()

    def _wrap_counter(self, width: int) -> None:
        self.counter.configure(wraplength=max(width - 2 * PAD_X - 4, 100))

    def _fit_placeholder(self, width: int) -> None:
        """The longest hint that fits: the label is clipped at the entry's edge otherwise."""
        label = self._placeholder
        room = width - 24

        def measure(text: str) -> int:
            return int(label.tk.call("font", "measure", label.cget("font"), text))

        fitting = next((t for t in PLACEHOLDERS if measure(t) <= room), PLACEHOLDERS[-1])
        if self._placeholder.cget("text") != fitting:
            self._placeholder.configure(text=fitting)
