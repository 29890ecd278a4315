"""The connection doctor's window: your own connection, then how you reach each contact.

A window of its own, made on first use and kept (withdrawn) when closed. It shows what the
presenter gives it (:class:`~chinwag.adapters.gui.view.DoctorView`) and decides nothing: "Check
again" asks the presenter, which answers with a new view as the checks come back.
"""

from __future__ import annotations

import math
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from chinwag.adapters.gui.tk_look import ACCENT, MUTED, ONLINE, PANE, TEXT, WARNING, Fonts
from chinwag.adapters.gui.tk_widgets import autohide, dialog, writable
from chinwag.adapters.gui.view import DoctorRow, DoctorView

COLUMNS = 64
"""The list's width, in characters: the window's lines (yours and each person's) wrap there."""
MIN_LINES = 4
MAX_LINES = 20
"""The list fits its rows (no empty area under two people) up to this many lines, then
scrolls."""

PATH_COLOURS = {"direct": ONLINE, "relayed": ACCENT, "none": WARNING, "offline": MUTED}


class DoctorWindow:
    """``again()`` is called by "Check again", ``closed()`` when the window is closed."""

    def __init__(
        self,
        root: tk.Misc,
        fonts: Fonts,
        again: Callable[[], None],
        closed: Callable[[], None],
    ) -> None:
        self._root = root
        self._fonts = fonts
        self._again = again
        self._closed = closed
        self.window: tk.Toplevel | None = None

    def show(self, report: DoctorView) -> None:
        shown = self.visible()
        window = self.window or self._build()
        self.summary.configure(text=report.summary)
        self.reason.configure(text=report.reason, foreground=TEXT if report.ok else WARNING)
        self._fill(report.people)
        self.again.state(["disabled"] if report.busy else ["!disabled"])
        self.again.configure(text="Checking…" if report.busy else "Check again")
        if not shown:
            window.deiconify()
            window.lift()
            self.close_button.focus_set()
        self._fit()

    def visible(self) -> bool:
        return self.window is not None and self.window.winfo_viewable() == 1

    def close(self) -> None:
        if self.window is not None and self.window.winfo_viewable():
            self.window.withdraw()
            self._closed()

    def content(self) -> str:
        """Everything the window says, top to bottom (for tests)."""
        if self.window is None:
            return ""
        head = f"{self.summary.cget('text')}\n{self.reason.cget('text')}\n"
        return head + self.people.get("1.0", "end-1c")

    def _fill(self, rows: tuple[DoctorRow, ...]) -> None:
        text = self.people
        top = text.yview()[0]
        with writable(text):
            text.delete("1.0", "end")
            if not rows:
                text.insert("end", "Nobody to check yet: start a chat first.", ("reason",))
            for index, row in enumerate(rows):
                if index:
                    text.insert("end", "\n\n")  # no line break after the last: no empty line
                text.insert("end", row.name, ("name",))
                if not row.path:
                    text.insert("end", "   checking…", ("muted",))
                    continue
                text.insert("end", f"   {row.path}", (f"path_{row.path}",))
                if row.rtt:
                    text.insert("end", f" · {row.rtt}", ("muted",))
                text.insert("end", "\n")
                text.insert("end", row.reason, ("reason" if row.ok else "problem",))
        text.yview_moveto(top)

    def lines(self) -> int:
        """How many of the list's lines (of its own font) its rows take, as wrapped now: rows
        mix fonts, so this goes by their height in pixels."""
        text = self.people
        text.tk.call(text, "sync")  # line heights are computed lazily: bring them up to date
        counted = text.count("1.0", "end", "ypixels")
        pixels = int(counted[0]) if isinstance(counted, tuple) else int(counted or 0)
        return max(1, math.ceil(pixels / self._fonts.normal.metrics("linespace")))

    def _fit(self) -> None:
        """Make the list as tall as its rows, between :data:`MIN_LINES` and :data:`MAX_LINES`."""
        wanted = max(MIN_LINES, min(MAX_LINES, self.lines()))
        if int(self.people.cget("height")) != wanted:
            self.people.configure(height=wanted)

    def _resized(self, event: tk.Event[tk.Text]) -> None:
        """The list's width changed: your own lines wrap where the rows do, and the list fits
        its rows again (they wrap differently now)."""
        if event.width > 1:
            for label in (self.summary, self.reason):
                label.configure(wraplength=event.width)
        self._fit()

    def _build(self) -> tk.Toplevel:
        window, card = dialog(self._root, self.close)
        self.window = window
        window.title("Connection doctor")
        window.resizable(True, True)
        card.rowconfigure(5, weight=1)
        ttk.Label(card, text="Connection doctor", style="Header.TLabel").grid(
            row=0, column=0, columnspan=2, sticky="w"
        )
        wrap = self._fonts.normal.measure("0") * COLUMNS  # as wide as the list, at first
        self.summary = ttk.Label(
            card, text="", style="Card.TLabel", font=self._fonts.bold, wraplength=wrap
        )
        self.summary.grid(row=1, column=0, columnspan=2, sticky="w", pady=(10, 0))
        self.reason = ttk.Label(card, text="", style="Card.TLabel", wraplength=wrap)
        self.reason.grid(row=2, column=0, columnspan=2, sticky="w", pady=(2, 0))
        ttk.Separator(card, orient="horizontal").grid(
            row=3, column=0, columnspan=2, sticky="ew", pady=12
        )
        ttk.Label(card, text="How you reach each person", style="Muted.Card.TLabel").grid(
            row=4, column=0, columnspan=2, sticky="w", pady=(0, 4)
        )
        self.people = self._build_list(card)
        self.again = ttk.Button(
            card, text="Check again", style="Accent.TButton", command=self._again
        )
        self.again.grid(row=6, column=0, sticky="w", pady=(14, 0))
        self.close_button = ttk.Button(card, text="Close", command=self.close)
        self.close_button.grid(row=6, column=1, sticky="e", pady=(14, 0))
        return window

    def _build_list(self, card: ttk.Frame) -> tk.Text:
        text = tk.Text(
            card,
            width=COLUMNS,
            height=MIN_LINES,
            wrap="word",
            background=PANE,
            foreground=TEXT,
            borderwidth=0,
            highlightthickness=0,
            font=self._fonts.normal,
            cursor="arrow",
            state="disabled",
        )
        text.grid(row=5, column=0, sticky="nsew")
        bar = ttk.Scrollbar(card, orient="vertical", command=text.yview)
        bar.grid(row=5, column=1, sticky="ns")
        text.configure(yscrollcommand=autohide(bar))
        text.tag_configure("name", font=self._fonts.bold)
        text.tag_configure("muted", foreground=MUTED, font=self._fonts.small)
        for path, colour in PATH_COLOURS.items():
            text.tag_configure(f"path_{path}", foreground=colour, font=self._fonts.small_bold)
        text.tag_configure("reason", foreground=MUTED, lmargin1=14, lmargin2=14)
        text.tag_configure("problem", foreground=WARNING, lmargin1=14, lmargin2=14)
        text.bind("<Configure>", self._resized, add="+")
        return text
