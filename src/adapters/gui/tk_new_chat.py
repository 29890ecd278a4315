"""The new chat dialog: find who is online by the start of their name and pick them, or type
anybody's whole name; then start a conversation with them (online or not)."""

from __future__ import annotations

import contextlib
import tkinter as tk
from collections.abc import Callable, Sequence
from tkinter import ttk

from chinwag.adapters.gui.tk_look import ONLINE, Fonts, dot
from chinwag.adapters.gui.tk_widgets import Timers, autohide, dialog

PAUSE = 0.25
"""Seconds of no typing before the dialog searches: one search per pause, not per key."""
ROWS = 7
"""Names shown at once in the list of who is online (it scrolls)."""


class NewChatDialog:
    """A window of its own, made on first use and kept (withdrawn) when closed.

    ``submitted(name)`` is called with the name to chat with (Enter or "Start chat" with what
    is typed, or a double-click or Enter on somebody found); the presenter answers with
    :meth:`set_busy`, :meth:`show_error` or :meth:`close`. ``search(text)`` asks who is online
    whose name starts with ``text``: when the dialog opens (everybody) and when the person pauses
    typing; the presenter answers with :meth:`show_results`. Picking somebody in the list puts
    their name in the box without searching again.
    """

    def __init__(
        self,
        root: tk.Misc,
        fonts: Fonts,
        submitted: Callable[[str], None],
        search: Callable[[str], None],
    ) -> None:
        self._root = root
        self._fonts = fonts
        self._submitted = submitted
        self._search = search
        self._busy = False
        self._quiet = False  # the box is being filled in by the dialog: not typed, no search
        self._timers = Timers(root)
        self._dots: list[tk.PhotoImage] = []
        self.window: tk.Toplevel | None = None

    def show(self) -> None:
        window = self.window or self._build()
        self._fill("")
        self.show_error("")
        self.set_busy(False)
        self.show_results([], "")
        window.deiconify()
        window.lift()
        self.entry.focus_set()
        self._timers.cancel("search")
        self._search("")  # who is online, before anything is typed

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        if self.window is not None:
            self.start_button.state(["disabled"] if busy else ["!disabled"])
            self.start_button.configure(text="Looking up…" if busy else "Start chat")

    def show_error(self, text: str) -> None:
        if self.window is None:
            return
        self.error.configure(text=text)
        if text:
            self.error.grid()
        else:
            self.error.grid_remove()

    def show_results(self, names: Sequence[str], note: str) -> None:
        """List ``names`` (online, to pick from) and say ``note`` under them."""
        if self.window is None or not self._dots:  # not made yet, or closed for good
            return
        tree = self.results
        tree.delete(*tree.get_children())
        for name in names:
            tree.insert("", "end", iid=f"r:{name}", text=f" {name}", image=self._dots[0])
        self.note.configure(text=note)

    def found(self) -> list[str]:
        """The names listed now, top to bottom."""
        return [item[2:] for item in self.results.get_children()] if self.window else []

    def note_text(self) -> str:
        return str(self.note.cget("text")) if self.window is not None else ""

    def error_text(self) -> str:
        return str(self.error.cget("text")) if self.window is not None else ""

    def visible(self) -> bool:
        return self.window is not None and self.window.winfo_viewable() == 1

    def close(self) -> None:
        self._timers.cancel("search")
        if self.window is not None:
            self.window.withdraw()

    def forget(self) -> None:
        """Let go of the images, the variable and the timers here, on the Tk thread: they
        delete themselves in Tcl when collected, which fails on any other thread (see
        ``PeopleList.close``). Forgetting twice is forgetting once."""
        self._timers.cancel_all()
        self._dots.clear()
        with contextlib.suppress(AttributeError):
            del self._text

    def _build(self) -> tk.Toplevel:
        window, card = dialog(self._root, self.close)
        self.window = window
        window.title("New chat")
        ttk.Label(card, text="New chat", style="Header.TLabel").grid(
            row=0, column=0, columnspan=2, sticky="w"
        )
        ttk.Label(
            card,
            text="Type the start of a name to see who is online, or the whole name of anybody "
            "who has signed in with this registry. If they are offline, what you write waits "
            "and goes out when they are back.",
            style="Muted.Card.TLabel",
            wraplength=380,
        ).grid(row=1, column=0, columnspan=2, sticky="w", pady=(4, 14))
        ttk.Label(card, text="Their username", style="Card.TLabel").grid(
            row=2, column=0, columnspan=2, sticky="w"
        )
        self.entry = ttk.Entry(card, font=self._fonts.normal, width=34)
        self.entry.grid(row=3, column=0, columnspan=2, sticky="ew", pady=(2, 0))
        self._text = tk.StringVar(master=self.entry)  # to search as the person types
        self.entry.configure(textvariable=self._text)
        self._text.trace_add("write", self._typed)
        for key in ("<Return>", "<KP_Enter>"):
            self.entry.bind(key, self._submit_key)
        self.entry.bind("<Down>", self._into_results)
        self._build_results(card).grid(row=4, column=0, columnspan=2, sticky="ew", pady=(8, 0))
        self.note = ttk.Label(card, text="", style="Muted.Card.TLabel", wraplength=380)
        self.note.grid(row=5, column=0, columnspan=2, sticky="w", pady=(4, 0))
        self.error = ttk.Label(card, text="", style="Error.TLabel", wraplength=380)
        self.error.grid(row=6, column=0, columnspan=2, sticky="w", pady=(6, 0))
        self.error.grid_remove()
        self.start_button = ttk.Button(
            card, text="Start chat", style="Accent.TButton", command=self._submit
        )
        self.start_button.grid(row=7, column=0, sticky="w", pady=(14, 0))
        self.cancel_button = ttk.Button(card, text="Cancel", command=self.close)
        self.cancel_button.grid(row=7, column=1, sticky="e", pady=(14, 0))
        return window

    def _build_results(self, card: ttk.Frame) -> ttk.Frame:
        """The list of who is online that the last search found, each with a green dot."""
        frame = ttk.Frame(card, style="Pane.TFrame")
        frame.columnconfigure(0, weight=1)
        self._dots.append(dot(self._root, ONLINE, ring=False))
        self.results = tree = ttk.Treeview(
            frame, style="Results.Treeview", show="tree", selectmode="browse", height=ROWS
        )
        tree.column("#0", width=300, stretch=True)
        tree.grid(row=0, column=0, sticky="ew")
        bar = ttk.Scrollbar(frame, orient="vertical", command=tree.yview)
        bar.grid(row=0, column=1, sticky="ns")
        tree.configure(yscrollcommand=autohide(bar))
        tree.bind("<<TreeviewSelect>>", self._picked)
        tree.bind("<Double-Button-1>", self._chosen)
        for key in ("<Return>", "<KP_Enter>"):
            tree.bind(key, self._chosen)
        tree.bind("<Up>", self._back_to_entry)
        return frame

    # -- what the person does -------------------------------------------------------------------

    def _typed(self, *_args: object) -> None:
        """The box changed: search once the person pauses (not for what the dialog filled in)."""
        if self._quiet:
            return
        self.show_error("")
        self._timers.later("search", PAUSE, lambda: self._search(self.entry.get()))

    def _fill(self, name: str) -> None:
        self._quiet = True
        try:
            self.entry.delete(0, "end")
            self.entry.insert(0, name)
        finally:
            self._quiet = False

    def _picked(self, _event: object = None) -> None:
        selection = self.results.selection()
        if len(selection) == 1:
            self._fill(selection[0][2:])

    def _chosen(self, _event: object = None) -> str:
        self._picked()
        if self.results.selection():
            self._submit()
        return "break"

    def _into_results(self, _event: object) -> str:
        items = self.results.get_children()
        if items:
            self.results.focus_set()
            self.results.focus(items[0])
            self.results.selection_set(items[0])
        return "break"

    def _back_to_entry(self, _event: object) -> str | None:
        items = self.results.get_children()
        if items and self.results.focus() != items[0]:
            return None  # Tk moves up the list
        self.entry.focus_set()
        self.entry.icursor("end")
        return "break"

    def _submit(self) -> None:
        if not self._busy:
            self._timers.cancel("search")
            self._submitted(self.entry.get())

    def _submit_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._submit()
        return "break"
