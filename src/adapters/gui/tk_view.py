"""The Tk window: a passive :class:`~chinwag.adapters.gui.view.ChatView`.

It renders what the presenter gives it and reports what the person does to a
:class:`~chinwag.adapters.gui.view.ViewListener`; it knows nothing about the network or storage
and decides nothing about chat. Everything here runs on the Tk thread.

The conversation pane is one read-only :class:`tkinter.Text`. A batch of messages becomes one
``insert`` call (chars and tags interleaved) and one Tcl call that sets its marks, so hundreds of
rows cost one layout pass, never one redraw per line. Each shown message has two marks: ``h<id>``
at its first line (right gravity, so it travels with the text when older pages are inserted
above) and, for outgoing ones, ``s<id>`` just before the delivery mark (left gravity, so the mark
can be replaced in place). Positions are only ever computed in whole lines, or in columns of the
ASCII time stamp: Tcl 8.6 counts a character outside the BMP (most emoji) as two, so columns in a
body or a name would drift.
"""

from __future__ import annotations

import contextlib
import gc
import math
import re
import tkinter as tk
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from tkinter import font as tkfont
from tkinter import ttk
from uuid import UUID

from chinwag.adapters.gui.view import (
    MessageRow,
    PersonRow,
    SearchResultRow,
    StatusLevel,
    ViewListener,
)
from chinwag.domain.message import MessageState

# -- look ------------------------------------------------------------------------------------------

_BG = "#f6f7f9"
_SIDE = "#eef0f4"
_PANE = "#ffffff"
_LINE = "#dfe3e8"
_TEXT = "#1f2329"
_MUTED = "#6b7280"
_ACCENT = "#2563eb"
_ACCENT_DARK = "#1d4ed8"
_OUT_BG = "#dbe8fe"
_IN_BG = "#f0f2f5"
_ONLINE = "#22a559"
_OFFLINE = "#c3c8cf"
_WARNING = "#b26b00"
_ERROR = "#c62828"
_FOCUS = "#ffe9a8"
_TIP_BG = "#2b2f36"

_LEVEL_COLOURS = {StatusLevel.OK: _ONLINE, StatusLevel.WARNING: _WARNING, StatusLevel.ERROR: _ERROR}

_MARKS = {
    MessageState.PENDING: "◷",
    MessageState.QUEUED: "⧗",
    MessageState.SENT: "✓",
    MessageState.DELIVERED: "✓✓",
    MessageState.FAILED: "⚠",
    MessageState.RECEIVED: "",
}
"""Every mark is in the BMP, so Tcl and Python agree on its length."""

_MIN_ENTRY_LINES = 2
_MAX_ENTRY_LINES = 5
_EXCERPT = 80
_INSET = 10
"""Pixels between a message block's edge and its text."""

# One Tcl call sets every mark of a batch: heads keep the default right gravity, delivery marks
# get left gravity so a new mark inserted at them stays after them.
_SET_MARKS = (
    "w heads states",
    "foreach {m i} $heads {$w mark set $m $i}\n"
    "foreach {m i} $states {$w mark set $m $i; $w mark gravity $m left}",
)


@dataclass
class _Shown:
    """What the view remembers of a message it shows."""

    lines: int
    outgoing: bool
    mark: str


@dataclass(frozen=True)
class TkWidgets:
    """The widgets tests drive with ``event_generate`` (not for the presenter)."""

    username: ttk.Entry
    registry: ttk.Entry
    sign_in_button: ttk.Button
    sign_in_error: ttk.Label
    search: ttk.Entry
    people: ttk.Treeview
    header: ttk.Label
    messages: tk.Text
    new_messages: ttk.Button
    entry: tk.Text
    send_button: ttk.Button
    results: ttk.Treeview
    results_title: ttk.Label
    status: ttk.Label


class TkChatView:
    """The chat window. ``root`` is owned by the caller until :meth:`close` destroys it."""

    error_seconds: float = 6.0
    """How long :meth:`show_error` shows its text in the status bar."""
    highlight_seconds: float = 4.0
    """How long :meth:`focus_message` highlights the message."""

    def __init__(self, root: tk.Tk, listener: ViewListener) -> None:
        self._root = root
        self._listener = listener
        # conversation state (only what rendering needs)
        self._peer: str | None = None
        self._shown: dict[UUID, _Shown] = {}
        self._reasons: dict[str, str] = {}
        self._more_before = False
        self._older_pending = False
        self._has_start = False
        self._first_day: date | None = None
        self._last_day: date | None = None
        self._pinned = True
        self._hint_shown = False
        self._highlighted: UUID | None = None
        self._reported_peer: str | None = None
        self._online: dict[str, bool] = {}
        self._results: list[SearchResultRow] = []
        self._busy = False
        self._status = ("", StatusLevel.OK)
        self._jobs: dict[str, str] = {}
        self._tip: tk.Toplevel | None = None
        self._tip_label: tk.Label | None = None
        self._margin = 0

        self._fonts()
        self._styles()
        self._dots = {True: _dot(root, _ONLINE, ring=False), False: _dot(root, _OFFLINE, ring=True)}

        root.title("chinwag")
        root.configure(background=_BG)
        root.geometry("1000x660")
        root.minsize(680, 440)
        root.protocol("WM_DELETE_WINDOW", self._close_requested)

        self._status_bar = self._build_status_bar()
        self._status_bar.pack(side="bottom", fill="x")
        self._sign_in = self._build_sign_in()
        self._main = self._build_main()
        self.widgets = TkWidgets(
            username=self._username,
            registry=self._registry,
            sign_in_button=self._sign_in_button,
            sign_in_error=self._sign_in_error,
            search=self._search,
            people=self._people,
            header=self._header,
            messages=self._text,
            new_messages=self._hint,
            entry=self._entry,
            send_button=self._send_button,
            results=self._results_tree,
            results_title=self._results_title,
            status=self._status_label,
        )
        self._placeholder()

    # == ChatView: signing in ======================================================================

    def show_sign_in(self, username: str, registry: str) -> None:
        self._main.pack_forget()
        if not self._sign_in.winfo_manager():
            self._sign_in.pack(fill="both", expand=True)
        self._root.title("chinwag — sign in")
        _set_entry(self._username, username)
        _set_entry(self._registry, registry)
        self._sign_in_error.configure(text="")
        self._sign_in_error.grid_remove()
        self._username.focus_set()
        self._username.icursor("end")

    def set_sign_in_busy(self, busy: bool) -> None:
        self._busy = busy
        self._sign_in_button.configure(text="Signing in…" if busy else "Sign in")
        self._sign_in_button.state(["disabled"] if busy else ["!disabled"])
        self._sign_in.configure(cursor="watch" if busy else "")

    def show_sign_in_error(self, text: str) -> None:
        self._sign_in_error.configure(text=text)
        self._sign_in_error.grid()

    def show_main(self, user: str) -> None:
        self._sign_in.pack_forget()
        if not self._main.winfo_manager():
            self._main.pack(fill="both", expand=True)
        self._root.title(f"chinwag — {user}")
        self._me.configure(text=user)
        self._entry.focus_set()

    # == ChatView: the side list ===================================================================

    def set_people(self, people: Sequence[PersonRow]) -> None:
        tree = self._people
        wanted = {_iid(p.name) for p in people}
        gone = [iid for iid in tree.get_children() if iid not in wanted]
        if gone:
            tree.delete(*gone)
        self._online = {}
        for position, person in enumerate(people):
            iid = _iid(person.name)
            self._online[person.name] = person.online
            unread = (
                "" if person.unread <= 0 else "99+" if person.unread > 99 else str(person.unread)
            )
            text = f" {person.name}"
            image = self._dots[person.online]
            tags = ("unread",) if person.unread > 0 else ()
            if tree.exists(iid):
                tree.item(iid, text=text, image=image, values=(unread,), tags=tags)
                if tree.index(iid) != position:
                    tree.move(iid, "", position)
            else:
                tree.insert(
                    "", position, iid=iid, text=text, image=image, values=(unread,), tags=tags
                )
        self._show_presence()

    # == ChatView: the open conversation ===========================================================

    def open_conversation(
        self, peer: str, messages: Sequence[MessageRow], more_before: bool
    ) -> None:
        self._hide_results()
        self._peer = peer
        self._more_before = more_before
        self._older_pending = False
        self._has_start = False
        self._first_day = self._last_day = None
        self._unhighlight()
        t = self._text
        with _writable(t):
            t.delete("1.0", "end")
        if self._shown:
            t.mark_unset(*(f"h{i.hex}" for i in self._shown))
            t.mark_unset(*(f"s{i.hex}" for i, s in self._shown.items() if s.outgoing))
        for tag in self._reasons:
            t.tag_delete(tag)
        self._shown.clear()
        self._reasons.clear()
        self._header.configure(text=peer)
        self._show_presence()
        self._reported_peer = peer
        iid = _iid(peer)
        if not self._people.exists(iid):
            self._people.selection_remove(*self._people.selection())
        elif self._people.selection() != (iid,):
            self._people.selection_set(iid)
            self._people.see(iid)
        self._insert(self._unseen(messages), at_top=True, more_before=more_before)
        self._scroll_to_bottom()
        self._root.after_idle(self._maybe_request_older)

    def append_messages(self, messages: Sequence[MessageRow]) -> None:
        if self._peer is None:
            return
        fresh = self._unseen(messages)
        if not fresh:
            return
        # Follow when at the bottom, and always to a message the person has just sent.
        following = self._at_bottom() or any(
            r.outgoing and r.state is MessageState.PENDING for r in fresh
        )
        self._insert(fresh, at_top=False, more_before=True)
        if following:
            self._scroll_to_bottom()
        else:
            self._show_hint()

    def prepend_messages(self, messages: Sequence[MessageRow], more_before: bool) -> None:
        if self._peer is None:
            return
        self._older_pending = False
        self._more_before = more_before
        fresh = self._unseen(messages)
        t = self._text
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

    def update_message(self, message: MessageRow) -> None:
        shown = self._shown.get(message.id)
        if shown is None or not shown.outgoing:
            return
        glyph = _MARKS[message.state]
        key = message.id.hex
        tag = f"r{key}"
        reason = message.reason if message.state is MessageState.FAILED else None
        if glyph == shown.mark and reason == self._reasons.get(tag):
            return
        t = self._text
        mark = f"s{key}"
        with _writable(t):
            t.delete(mark, f"{mark} + {len(shown.mark)} chars")
            t.insert(mark, glyph, self._mark_tags(message.state, key, reason))
        shown.mark = glyph
        if reason is None and tag in self._reasons:
            del self._reasons[tag]
            t.tag_delete(tag)

    def focus_message(self, message_id: UUID) -> None:
        shown = self._shown.get(message_id)
        if shown is None:
            return
        self._unhighlight()
        head = f"h{message_id.hex}"
        end = f"{head} + {shown.lines - 1} lines"  # not the gap after it
        t = self._text
        t.tag_add("focus_out" if shown.outgoing else "focus_in", head, end)
        t.see(end)
        t.see(head)
        self._highlighted = message_id
        self._later("focus", self.highlight_seconds, self._unhighlight)

    def clear_entry(self) -> None:
        self._entry.delete("1.0", "end")
        self._entry.edit_reset()
        self._fit_entry()

    def restore_entry(self, text: str) -> None:
        if self._entry.get("1.0", "end-1c").strip():
            return  # the person has typed something else since: keep it
        self._entry.delete("1.0", "end")
        self._entry.insert("1.0", text)
        self._fit_entry()

    # == ChatView: search ==========================================================================

    def show_search_results(self, text: str, results: Sequence[SearchResultRow]) -> None:
        self._results = list(results)
        tree = self._results_tree
        tree.delete(*tree.get_children())
        words = text.split()
        for index, row in enumerate(self._results):
            when = row.sent_at.astimezone().strftime("%d %b %Y %H:%M")
            tree.insert(
                "",
                "end",
                iid=str(index),
                values=(when, row.sender, row.peer, _excerpt(row.body, words)),
                tags=("odd",) if index % 2 else (),
            )
        if self._results:
            count = len(self._results)
            noun = "message matches" if count == 1 else "messages match"
            self._results_title.configure(text=f"{count} {noun} “{text}”")
            self._results_frame.grid()
            tree.focus("0")
            tree.selection_set("0")
            tree.focus_set()
        else:
            self._results_title.configure(text=f"No messages match “{text}”.")
            self._results_frame.grid_remove()
        self._results_panel.grid()
        self._results_panel.tkraise()

    # == ChatView: status ==========================================================================

    def set_status(self, text: str, level: StatusLevel) -> None:
        self._status = (text, level)
        if "error" not in self._jobs:
            self._render_status()

    def show_error(self, text: str) -> None:
        self._status_dot.configure(foreground=_ERROR)
        self._status_label.configure(text=f"⚠ {text}", foreground=_ERROR)
        self._later("error", self.error_seconds, self._render_status)

    def close(self) -> None:
        self._peer = None
        for job in self._jobs.values():
            self._root.after_cancel(job)
        self._jobs.clear()
        with contextlib.suppress(tk.TclError):  # already gone
            self._root.destroy()
        # Tk images and variables delete themselves in Tcl when collected, which works only on
        # this thread; left to the garbage collector they may be collected on the network's
        # thread ("main thread is not in main loop"). Collect them here and now.
        self._dots.clear()
        gc.collect()

    # == accessors for tests (read the widgets, decide nothing) ====================================

    def conversation_text(self) -> str:
        """Everything in the conversation pane."""
        return self._text.get("1.0", "end-1c")

    def visible_text(self) -> str:
        """The lines of the conversation pane that are (at least partly) on screen."""
        t = self._text
        first = t.index("@0,0")
        last = t.index(f"@0,{t.winfo_height()}")
        return t.get(f"{first} linestart", f"{last} lineend")

    def mark_of(self, message_id: UUID) -> str:
        """The delivery mark shown for an outgoing message, read from the pane ("" if none)."""
        shown = self._shown.get(message_id)
        if shown is None or not shown.outgoing:
            return ""
        mark = f"s{message_id.hex}"
        return self._text.get(mark, f"{mark} + {len(shown.mark)} chars")

    def failure_reason(self, message_id: UUID) -> str | None:
        """The reason the hover tooltip of a failed message's mark shows, if it has one."""
        tag = f"r{message_id.hex}"
        if tag in self._reasons and self._text.tag_ranges(tag):
            return self._reasons[tag]
        return None

    def tooltip_text(self) -> str | None:
        """The tooltip on screen, if any."""
        if self._tip is None or self._tip_label is None or not self._tip.winfo_viewable():
            return None
        return str(self._tip_label.cget("text"))

    def is_at_bottom(self) -> bool:
        return self._at_bottom()

    def new_messages_hint_visible(self) -> bool:
        return self._hint_shown

    def highlighted_message(self) -> UUID | None:
        return self._highlighted

    def status_text(self) -> str:
        return str(self._status_label.cget("text"))

    def search_results_visible(self) -> bool:
        return bool(self._results_panel.winfo_manager())

    # == building ==================================================================================

    def _fonts(self) -> None:
        base = tkfont.nametofont("TkDefaultFont")
        family = base.actual("family")
        for name in ("TkDefaultFont", "TkTextFont", "TkMenuFont", "TkHeadingFont"):
            tkfont.nametofont(name).configure(size=10)
        tkfont.nametofont("TkHeadingFont").configure(weight="bold")
        self._font = tkfont.Font(self._root, family=family, size=11)
        self._font_bold = tkfont.Font(self._root, family=family, size=11, weight="bold")
        self._font_small = tkfont.Font(self._root, family=family, size=9)
        self._font_small_bold = tkfont.Font(self._root, family=family, size=9, weight="bold")
        self._font_italic = tkfont.Font(self._root, family=family, size=9, slant="italic")
        self._font_gap = tkfont.Font(self._root, family=family, size=2)
        self._font_header = tkfont.Font(self._root, family=family, size=13, weight="bold")
        self._font_title = tkfont.Font(self._root, family=family, size=22, weight="bold")

    def _styles(self) -> None:
        style = ttk.Style(self._root)
        if style.theme_use() in ("default", "alt", "classic"):
            style.theme_use("clam")
        style.configure(".", background=_BG, foreground=_TEXT)
        style.configure("TFrame", background=_BG)
        style.configure("TLabel", background=_BG, foreground=_TEXT)
        style.configure("Card.TFrame", background=_PANE, relief="solid", borderwidth=1)
        style.configure("Card.TLabel", background=_PANE)
        style.configure("Title.TLabel", background=_PANE, foreground=_ACCENT, font=self._font_title)
        style.configure("Muted.Card.TLabel", background=_PANE, foreground=_MUTED)
        style.configure("Error.TLabel", background=_PANE, foreground=_ERROR, font=self._font_small)
        style.configure("Pane.TFrame", background=_PANE)
        style.configure("Header.TLabel", background=_PANE, font=self._font_header)
        style.configure("Presence.TLabel", background=_PANE, foreground=_MUTED)
        style.configure("Side.TFrame", background=_SIDE)
        style.configure("Side.TLabel", background=_SIDE, foreground=_MUTED, font=self._font_small)
        style.configure("Me.TLabel", background=_SIDE, foreground=_TEXT, font=self._font_bold)
        style.configure("Placeholder.TLabel", background=_PANE, foreground="#9aa1ab")
        style.configure(
            "Accent.TButton",
            background=_ACCENT,
            foreground="#ffffff",
            bordercolor=_ACCENT,
            lightcolor=_ACCENT,
            darkcolor=_ACCENT,
            focuscolor=_ACCENT,
            padding=(16, 6),
        )
        style.map(
            "Accent.TButton",
            background=[
                ("disabled", "#9db7ef"),
                ("pressed", _ACCENT_DARK),
                ("active", _ACCENT_DARK),
            ],
            foreground=[("disabled", "#eef3fd")],
            bordercolor=[("disabled", "#9db7ef")],
            lightcolor=[("disabled", "#9db7ef"), ("active", _ACCENT_DARK)],
            darkcolor=[("disabled", "#9db7ef"), ("active", _ACCENT_DARK)],
        )
        style.configure(
            "Hint.TButton",
            background=_ACCENT,
            foreground="#ffffff",
            bordercolor=_ACCENT,
            lightcolor=_ACCENT,
            darkcolor=_ACCENT,
            padding=(12, 3),
            font=self._font_small_bold,
        )
        style.map("Hint.TButton", background=[("active", _ACCENT_DARK)])
        style.configure("Flat.TButton", padding=(8, 2))
        style.configure("TEntry", padding=(6, 4), fieldbackground=_PANE)
        linespace = self._font.metrics("linespace")
        style.configure(
            "People.Treeview",
            background=_SIDE,
            fieldbackground=_SIDE,
            foreground=_TEXT,
            borderwidth=0,
            rowheight=linespace + 14,
            font=self._font,
        )
        style.layout("People.Treeview", [("Treeview.treearea", {"sticky": "nswe"})])
        style.map(
            "People.Treeview",
            background=[("selected", _OUT_BG)],
            foreground=[("selected", _TEXT)],
        )
        style.configure(
            "Results.Treeview", background=_PANE, fieldbackground=_PANE, rowheight=linespace + 10
        )
        style.map(
            "Results.Treeview", background=[("selected", _OUT_BG)], foreground=[("selected", _TEXT)]
        )
        style.configure(
            "Results.Treeview.Heading",
            background=_SIDE,
            foreground=_MUTED,
            relief="flat",
            borderwidth=0,
            font=self._font_small_bold,
            padding=(6, 4),
        )
        style.map("Results.Treeview.Heading", background=[("active", _LINE)])
        style.configure("Status.TFrame", background=_SIDE)
        style.configure("Status.TLabel", background=_SIDE, font=self._font_small)

    def _build_status_bar(self) -> ttk.Frame:
        bar = ttk.Frame(self._root, style="Status.TFrame", padding=(10, 3))
        ttk.Separator(self._root, orient="horizontal").pack(side="bottom", fill="x")
        self._status_dot = ttk.Label(bar, text="●", style="Status.TLabel", foreground=_OFFLINE)
        self._status_dot.pack(side="left")
        self._status_label = ttk.Label(bar, text="", style="Status.TLabel", foreground=_MUTED)
        self._status_label.pack(side="left", padx=(4, 0), fill="x", expand=True)
        self._status_label.bind("<Button-1>", lambda _e: self._render_status())
        return bar

    def _build_sign_in(self) -> ttk.Frame:
        outer = ttk.Frame(self._root)
        outer.rowconfigure(0, weight=1)
        outer.rowconfigure(2, weight=2)
        outer.columnconfigure(0, weight=1)
        card = ttk.Frame(outer, style="Card.TFrame", padding=(36, 28))
        card.grid(row=1, column=0)
        card.columnconfigure(0, weight=1, minsize=300)
        ttk.Label(card, text="chinwag", style="Title.TLabel").grid(row=0, column=0, sticky="w")
        ttk.Label(card, text="Sign in to start chatting", style="Muted.Card.TLabel").grid(
            row=1, column=0, sticky="w", pady=(0, 18)
        )
        ttk.Label(card, text="Username", style="Card.TLabel").grid(row=2, column=0, sticky="w")
        self._username = ttk.Entry(card, width=34, font=self._font)
        self._username.grid(row=3, column=0, sticky="ew", pady=(2, 12))
        ttk.Label(card, text="Registry (host:port)", style="Card.TLabel").grid(
            row=4, column=0, sticky="w"
        )
        self._registry = ttk.Entry(card, width=34, font=self._font)
        self._registry.grid(row=5, column=0, sticky="ew", pady=(2, 12))
        self._sign_in_error = ttk.Label(card, text="", style="Error.TLabel", wraplength=320)
        self._sign_in_error.grid(row=6, column=0, sticky="ew", pady=(0, 12))
        self._sign_in_error.grid_remove()
        self._sign_in_button = ttk.Button(
            card, text="Sign in", style="Accent.TButton", command=self._submit_sign_in
        )
        self._sign_in_button.grid(row=7, column=0, sticky="ew")
        for widget in (self._username, self._registry, self._sign_in_button):
            widget.bind("<Return>", self._submit_sign_in_key)
            widget.bind("<KP_Enter>", self._submit_sign_in_key)
        return outer

    def _build_main(self) -> ttk.Frame:
        main = ttk.Frame(self._root)
        panes = ttk.PanedWindow(main, orient="horizontal")
        panes.pack(fill="both", expand=True)
        panes.add(self._build_side(panes), weight=0)
        panes.add(self._build_conversation(panes), weight=1)
        self._root.bind("<Control-f>", lambda _e: self._search.focus_set())
        return main

    def _build_side(self, parent: tk.Misc) -> ttk.Frame:
        side = ttk.Frame(parent, style="Side.TFrame", padding=(12, 12, 0, 8), width=250)
        side.columnconfigure(0, weight=1)
        side.rowconfigure(4, weight=1)
        self._me = ttk.Label(side, text="", style="Me.TLabel")
        self._me.grid(row=0, column=0, columnspan=2, sticky="w", padx=(2, 12), pady=(0, 10))
        self._search = ttk.Entry(side, font=self._font)
        self._search.grid(row=1, column=0, columnspan=2, sticky="ew", padx=(0, 12))
        self._search.bind("<Return>", self._search_key)
        self._search.bind("<KP_Enter>", self._search_key)
        self._search.bind("<Escape>", lambda _e: self._hide_results())
        _placeholder_for(self._search, "Search messages  (Ctrl+F)", _PANE)
        ttk.Label(side, text="PEOPLE", style="Side.TLabel").grid(
            row=3, column=0, sticky="w", padx=(2, 0), pady=(16, 4)
        )
        self._people = ttk.Treeview(
            side, style="People.Treeview", columns=("unread",), show="tree", selectmode="browse"
        )
        self._people.column("#0", width=180, stretch=True)
        self._people.column("unread", width=46, anchor="center", stretch=False)
        self._people.tag_configure("unread", font=self._font_bold, foreground=_ACCENT)
        self._people.grid(row=4, column=0, sticky="nsew")
        bar = ttk.Scrollbar(side, orient="vertical", command=self._people.yview)
        bar.grid(row=4, column=1, sticky="ns")
        self._people.configure(yscrollcommand=_autohide(bar))
        self._people.bind("<<TreeviewSelect>>", self._person_selected)
        return side

    def _build_conversation(self, parent: tk.Misc) -> ttk.Frame:
        right = ttk.Frame(parent, style="Pane.TFrame")
        right.columnconfigure(0, weight=1)
        right.rowconfigure(2, weight=1)

        top = ttk.Frame(right, style="Pane.TFrame", padding=(18, 10))
        top.grid(row=0, column=0, sticky="ew")
        self._header = ttk.Label(top, text="No conversation", style="Header.TLabel")
        self._header.pack(side="left")
        self._presence = ttk.Label(top, text="", style="Presence.TLabel")
        self._presence.pack(side="left", padx=(10, 0), pady=(3, 0))
        ttk.Separator(right, orient="horizontal").grid(row=1, column=0, sticky="ew")

        area = ttk.Frame(right, style="Pane.TFrame")
        area.grid(row=2, column=0, sticky="nsew")
        area.columnconfigure(0, weight=1)
        area.rowconfigure(0, weight=1)
        self._text = tk.Text(
            area,
            wrap="word",
            state="disabled",
            font=self._font_gap,  # every message is tagged with its font; the last line is thin
            background=_PANE,
            foreground=_TEXT,
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
        self._text.grid(row=0, column=0, sticky="nsew")
        self._vbar = ttk.Scrollbar(area, orient="vertical", command=self._text.yview)
        self._vbar.grid(row=0, column=1, sticky="ns")
        self._text.configure(yscrollcommand=self._on_yscroll)
        self._text.bind("<Configure>", self._on_resize)
        self._tags()
        self._hint = ttk.Button(
            area, text="New messages ↓", style="Hint.TButton", command=self._scroll_to_bottom
        )

        self._results_panel = self._build_results(right)
        self._results_panel.grid(row=2, column=0, sticky="nsew")
        self._results_panel.grid_remove()

        ttk.Separator(right, orient="horizontal").grid(row=3, column=0, sticky="ew")
        composer = ttk.Frame(right, style="Pane.TFrame", padding=(14, 10))
        composer.grid(row=4, column=0, sticky="ew")
        composer.columnconfigure(0, weight=1)
        self._entry = tk.Text(
            composer,
            height=_MIN_ENTRY_LINES,
            wrap="word",
            font=self._font,
            undo=True,
            background="#fbfbfc",
            foreground=_TEXT,
            relief="flat",
            borderwidth=0,
            highlightthickness=1,
            highlightbackground=_LINE,
            highlightcolor=_ACCENT,
            padx=10,
            pady=7,
            insertbackground=_TEXT,
        )
        self._entry.grid(row=0, column=0, sticky="ew")
        self._entry.bind("<Return>", self._send_key)
        self._entry.bind("<KP_Enter>", self._send_key)
        self._entry.bind("<Shift-Return>", self._newline_key)
        self._entry.bind("<Shift-KP_Enter>", self._newline_key)
        self._entry.bind("<<Modified>>", self._entry_modified)
        self._entry_placeholder = _placeholder_for(
            self._entry, "Write a message — Enter to send, Shift+Enter for a new line", "#fbfbfc"
        )
        self._send_button = ttk.Button(
            composer, text="Send", style="Accent.TButton", command=self._send
        )
        self._send_button.grid(row=0, column=1, sticky="s", padx=(10, 0))
        return right

    def _build_results(self, parent: tk.Misc) -> ttk.Frame:
        panel = ttk.Frame(parent, style="Pane.TFrame", padding=(14, 10))
        panel.columnconfigure(0, weight=1)
        panel.rowconfigure(1, weight=1)
        head = ttk.Frame(panel, style="Pane.TFrame")
        head.grid(row=0, column=0, sticky="ew", pady=(0, 8))
        self._results_title = ttk.Label(head, text="", style="Header.TLabel")
        self._results_title.pack(side="left")
        ttk.Button(head, text="✕ Close", style="Flat.TButton", command=self._hide_results).pack(
            side="right"
        )
        self._results_frame = ttk.Frame(panel, style="Pane.TFrame")
        self._results_frame.grid(row=1, column=0, sticky="nsew")
        self._results_frame.columnconfigure(0, weight=1)
        self._results_frame.rowconfigure(0, weight=1)
        columns = ("when", "sender", "peer", "message")
        tree = ttk.Treeview(
            self._results_frame,
            style="Results.Treeview",
            columns=columns,
            show="headings",
            selectmode="browse",
        )
        for column, title, width, stretch in (
            ("when", "When", 140, False),
            ("sender", "From", 110, False),
            ("peer", "With", 110, False),
            ("message", "Message", 400, True),
        ):
            tree.heading(column, text=title, anchor="w")
            tree.column(column, width=width, stretch=stretch, anchor="w")
        tree.tag_configure("odd", background="#f7f8fa")
        tree.grid(row=0, column=0, sticky="nsew")
        bar = ttk.Scrollbar(self._results_frame, orient="vertical", command=tree.yview)
        bar.grid(row=0, column=1, sticky="ns")
        tree.configure(yscrollcommand=_autohide(bar))
        tree.bind("<ButtonRelease-1>", self._result_clicked)
        tree.bind("<Return>", self._result_key)
        tree.bind("<KP_Enter>", self._result_key)
        tree.bind("<Escape>", lambda _e: self._hide_results())
        self._results_tree = tree
        return panel

    def _tags(self) -> None:
        t = self._text
        t.tag_configure(
            "day",
            justify="center",
            foreground=_MUTED,
            font=self._font_small_bold,
            spacing1=14,
            spacing3=4,
        )
        t.tag_configure(
            "start",
            justify="center",
            foreground=_MUTED,
            font=self._font_italic,
            spacing1=10,
            spacing3=6,
        )
        t.tag_configure(
            "placeholder", justify="center", foreground=_MUTED, spacing1=120, font=self._font
        )
        t.tag_configure(
            "meta_in", font=self._font_small, foreground=_MUTED, spacing1=4, lmargin1=_INSET
        )
        t.tag_configure("gap", spacing3=8)
        t.tag_configure("sender", font=self._font_small_bold, foreground=_ACCENT_DARK)
        # Messages are blocks: the inner margin is painted in the block's colour, the outer one
        # (set by _set_margins, a share of the width) in the pane's.
        t.tag_configure(
            "body_in",
            font=self._font,
            background=_IN_BG,
            lmargin1=_INSET,
            lmargin2=_INSET,
            lmargincolor=_IN_BG,
            rmargincolor=_PANE,
            spacing1=2,
            spacing3=2,
        )
        t.tag_configure(
            "body_out",
            font=self._font,
            background=_OUT_BG,
            justify="right",
            rmargin=_INSET,
            rmargincolor=_OUT_BG,
            lmargincolor=_PANE,
            spacing1=2,
            spacing3=2,
        )
        t.tag_configure(
            "meta_out",
            font=self._font_small,
            foreground=_MUTED,
            justify="right",
            rmargin=_INSET,
            spacing1=2,
        )
        t.tag_configure("mark_pending", foreground=_MUTED)
        t.tag_configure("mark_sent", foreground=_MUTED)
        t.tag_configure("mark_delivered", foreground=_ACCENT)
        t.tag_configure("mark_failed", foreground=_ERROR, font=self._font_small_bold)
        # A highlighted block keeps its shape: its inner margin turns yellow, its outer one stays.
        t.tag_configure("focus_in", background=_FOCUS, lmargincolor=_FOCUS, rmargincolor=_PANE)
        t.tag_configure("focus_out", background=_FOCUS, lmargincolor=_PANE, rmargincolor=_FOCUS)
        t.tag_raise("focus_in")
        t.tag_raise("focus_out")
        t.tag_raise("sel")
        t.tag_bind("mark_failed", "<Enter>", self._tip_enter)
        t.tag_bind("mark_failed", "<Leave>", lambda _e: self._hide_tip())
        t.tag_bind("mark_failed", "<Button-1>", self._tip_enter)
        self._set_margins(480)

    # == rendering the conversation ================================================================

    def _unseen(self, messages: Sequence[MessageRow]) -> list[MessageRow]:
        fresh: list[MessageRow] = []
        ids: set[UUID] = set()
        for row in messages:
            if row.id in self._shown or row.id in ids:
                self.update_message(row)
            else:
                ids.add(row.id)
                fresh.append(row)
        return fresh

    def _insert(self, rows: Sequence[MessageRow], *, at_top: bool, more_before: bool) -> None:
        """Render ``rows`` (oldest first) at the top or the bottom, in one insert."""
        t = self._text
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
            parts += [f"This is the start of your conversation with {self._peer}.\n", ("start",)]
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
                glyph = _MARKS[row.state]
                reason = row.reason if row.state is MessageState.FAILED else None
                parts += [hhmm + " ", ("meta_out",), glyph, self._mark_tags(row.state, key, reason)]
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
        with _writable(t):
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

    def _placeholder(self) -> None:
        with _writable(self._text):
            self._text.insert(
                "end", "Pick someone on the left to start chatting.", ("placeholder",)
            )

    def _set_margins(self, width: int) -> None:
        margin = max(48, min(int(width * 0.22), 260))
        if abs(margin - self._margin) < 8:
            return
        self._margin = margin
        t = self._text
        t.tag_configure("body_in", rmargin=margin)
        t.tag_configure("meta_in", rmargin=margin)
        t.tag_configure("body_out", lmargin1=margin, lmargin2=margin)
        t.tag_configure("meta_out", lmargin1=margin, lmargin2=margin)

    # == scrolling =================================================================================

    def _at_bottom(self) -> bool:
        t = self._text
        if t.winfo_height() <= 1 or not t.winfo_viewable():
            return self._pinned
        return t.dlineinfo("end-1c") is not None

    def _scroll_to_bottom(self) -> None:
        self._text.see("end-1c")
        self._pinned = True
        self._hide_hint()

    def _show_hint(self) -> None:
        if not self._hint_shown:
            self._hint_shown = True
            self._hint.place(relx=0.5, rely=1.0, y=-14, anchor="s")
            self._hint.lift()

    def _hide_hint(self) -> None:
        if self._hint_shown:
            self._hint_shown = False
            self._hint.place_forget()

    def _on_yscroll(self, first: float | str, last: float | str) -> None:
        self._vbar.set(first, last)
        at_bottom = float(last) >= 1.0
        if self._text.winfo_viewable():
            self._pinned = at_bottom
        if at_bottom:
            self._hide_hint()
        if float(first) <= 0.0 and self._wants_older():
            # Not from inside Tk's redisplay: the presenter may answer at once.
            self._root.after_idle(self._maybe_request_older)

    def _wants_older(self) -> bool:
        return self._peer is not None and self._more_before and not self._older_pending

    def _maybe_request_older(self) -> None:
        if not self._wants_older():
            return
        if float(self._text.yview()[0]) > 0.0:
            return
        self._older_pending = True
        self._listener.older_requested()

    def _on_resize(self, event: tk.Event[tk.Misc]) -> None:
        self._set_margins(event.width)

    # == highlight and tooltips ====================================================================

    def _unhighlight(self) -> None:
        self._cancel("focus")
        self._text.tag_remove("focus_in", "1.0", "end")
        self._text.tag_remove("focus_out", "1.0", "end")
        self._highlighted = None

    def _tip_enter(self, event: tk.Event[tk.Text]) -> None:
        reason = next(
            (self._reasons[tag] for tag in self._text.tag_names("current") if tag in self._reasons),
            None,
        )
        if reason is None:
            return
        if self._tip is None or self._tip_label is None:
            self._tip = tk.Toplevel(self._root, background=_TIP_BG)
            self._tip.wm_overrideredirect(True)
            self._tip_label = tk.Label(
                self._tip,
                background=_TIP_BG,
                foreground="#ffffff",
                font=self._font_small,
                justify="left",
                wraplength=320,
                padx=8,
                pady=5,
            )
            self._tip_label.pack()
        self._tip_label.configure(text=f"Not delivered: {reason}")
        self._tip.update_idletasks()
        width = self._tip.winfo_reqwidth()
        x = event.x_root + 12
        if x + width > self._root.winfo_rootx() + self._root.winfo_width():
            x = event.x_root - width - 8  # marks sit at the right edge: open to the left
        self._tip.wm_geometry(f"+{max(x, 0)}+{event.y_root + 16}")
        self._tip.deiconify()
        self._tip.lift()

    def _hide_tip(self) -> None:
        if self._tip is not None:
            self._tip.withdraw()

    # == people, search, status ====================================================================

    def _show_presence(self) -> None:
        if self._peer is None:
            self._presence.configure(text="")
        elif self._online.get(self._peer):
            self._presence.configure(text="● online", foreground=_ONLINE)
        else:
            self._presence.configure(text="offline", foreground=_MUTED)

    def _person_selected(self, _event: tk.Event[tk.Misc]) -> None:
        selection = self._people.selection()
        if len(selection) != 1:
            return
        name = _name(selection[0])
        if name != self._reported_peer:
            self._reported_peer = name
            self._listener.conversation_selected(name)

    def _hide_results(self) -> None:
        self._results_panel.grid_remove()

    def _result_clicked(self, event: tk.Event[tk.Misc]) -> None:
        iid = self._results_tree.identify_row(event.y)
        if iid:
            self._activate_result(iid)

    def _result_key(self, _event: tk.Event[tk.Misc]) -> str:
        iid = self._results_tree.focus()
        if iid:
            self._activate_result(iid)
        return "break"

    def _activate_result(self, iid: str) -> None:
        index = int(iid)
        if 0 <= index < len(self._results):
            self._listener.search_result_selected(self._results[index])

    def _render_status(self) -> None:
        self._cancel("error")
        text, level = self._status
        self._status_dot.configure(foreground=_LEVEL_COLOURS[level] if text else _OFFLINE)
        colour = {StatusLevel.OK: _MUTED}.get(level, _LEVEL_COLOURS[level])
        self._status_label.configure(text=text, foreground=colour)

    # == input =====================================================================================

    def _submit_sign_in(self) -> None:
        if self._busy:
            return
        self._listener.sign_in_requested(self._username.get(), self._registry.get())

    def _submit_sign_in_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._submit_sign_in()
        return "break"

    def _search_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._listener.search_requested(self._search.get())
        return "break"

    def _send(self) -> None:
        self._listener.send_requested(self._entry.get("1.0", "end-1c"))

    def _send_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._send()
        return "break"

    def _newline_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._entry.insert("insert", "\n")
        self._entry.see("insert")
        return "break"

    def _entry_modified(self, _event: tk.Event[tk.Misc]) -> None:
        if self._entry.edit_modified():
            self._entry.edit_modified(False)
            self._fit_entry()

    def _fit_entry(self) -> None:
        counted = self._entry.count("1.0", "end-1c", "displaylines")
        lines = (counted[0] if isinstance(counted, tuple) else counted or 0) + 1
        height = max(_MIN_ENTRY_LINES, min(_MAX_ENTRY_LINES, lines))
        if int(self._entry.cget("height")) != height:
            self._entry.configure(height=height)
        empty = not self._entry.get("1.0", "end-1c")
        if empty and not self._entry_placeholder.winfo_manager():
            self._entry_placeholder.place(x=12, y=8)
        elif not empty and self._entry_placeholder.winfo_manager():
            self._entry_placeholder.place_forget()

    def _close_requested(self) -> None:
        self._listener.close_requested()

    # == timers ====================================================================================

    def _later(self, name: str, seconds: float, action: Callable[[], None]) -> None:
        self._cancel(name)

        def run() -> None:
            self._jobs.pop(name, None)
            action()

        self._jobs[name] = self._root.after(round(seconds * 1000), run)

    def _cancel(self, name: str) -> None:
        job = self._jobs.pop(name, None)
        if job is not None:
            self._root.after_cancel(job)


# -- helpers -----------------------------------------------------------------------------------


class _writable:
    """Make the read-only pane writable for the duration of a ``with`` block."""

    def __init__(self, text: tk.Text) -> None:
        self._text = text

    def __enter__(self) -> None:
        self._text.configure(state="normal")

    def __exit__(self, *_exc: object) -> None:
        self._text.configure(state="disabled")


def _autohide(bar: ttk.Scrollbar) -> Callable[[float | str, float | str], None]:
    """A ``yscrollcommand`` that shows ``bar`` (gridded) only while there is something to scroll."""

    def set_view(first: float | str, last: float | str) -> None:
        if float(first) <= 0.0 and float(last) >= 1.0:
            bar.grid_remove()
        else:
            bar.grid()
        bar.set(first, last)

    return set_view


def _iid(name: str) -> str:
    return f"p:{name}"


def _name(iid: str) -> str:
    return iid[2:]


def _set_entry(entry: ttk.Entry, value: str) -> None:
    entry.delete(0, "end")
    entry.insert(0, value)


def _day_label(day: date) -> str:
    return f"{day:%A}, {day.day} {day:%B %Y}"


def _excerpt(body: str, words: Sequence[str], width: int = _EXCERPT) -> str:
    """One line of ``body`` around the first of ``words`` it contains."""
    flat = " ".join(body.split())
    starts = [m.start() for w in words if (m := re.search(re.escape(w), flat, re.IGNORECASE))]
    hit = min(starts, default=0)
    start = max(0, min(hit - width // 3, len(flat) - width))
    end = start + width
    return ("…" if start > 0 else "") + flat[start:end] + ("…" if end < len(flat) else "")


def _dot(master: tk.Misc, colour: str, *, ring: bool, size: int = 10) -> tk.PhotoImage:
    """A small filled (or hollow) circle, for presence."""
    image = tk.PhotoImage(master=master, width=size + 4, height=size)
    radius = size / 2
    for y in range(size):
        for x in range(size):
            distance = math.hypot(x + 0.5 - radius, y + 0.5 - radius)
            if distance <= radius - 0.2 and (not ring or distance >= radius - 2.2):
                image.put(colour, (x + 2, y))
    return image


class _Placeholder(tk.Label):
    """A hint label that holds on to the variable watching its entry: a StringVar that is
    garbage collected removes its trace, and the hint would stay over what is typed."""

    variable: tk.StringVar | None = None


def _placeholder_for(widget: tk.Misc, text: str, background: str) -> tk.Label:
    """Grey hint text over an empty entry; clicking it focuses the entry."""
    label = _Placeholder(
        widget, text=text, foreground="#9aa1ab", background=background, cursor="xterm"
    )
    label.bind("<Button-1>", lambda _e: widget.focus_set())
    if isinstance(widget, ttk.Entry):
        entry = widget

        def refresh(*_args: object) -> None:
            if entry.get():
                label.place_forget()
            else:
                label.place(x=7, rely=0.5, anchor="w")

        variable = label.variable = tk.StringVar(master=entry)
        entry.configure(textvariable=variable)
        variable.trace_add("write", refresh)
        refresh()
    else:
        label.place(x=12, y=8)
    return label
