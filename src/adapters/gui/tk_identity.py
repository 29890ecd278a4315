"""Identity in the window: the key-change banner, the verify dialog and the user's own key.

Each shows what the presenter gives it and reports what the person pressed; none decides.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from chinwag.adapters.gui.tk_look import Fonts
from chinwag.adapters.gui.tk_widgets import Timers, dialog, set_entry
from chinwag.adapters.gui.view import KeyChangeNotice, SafetyNumberView


class KeyChangeBanner:
    """A band over the conversation: what changed, both fingerprints, "Verify…" and (unless
    the contact had been verified) "Accept new key"."""

    def __init__(
        self,
        parent: tk.Misc,
        verify: Callable[[str], None],
        accept: Callable[[str], None],
    ) -> None:
        self._verify = verify
        self._accept = accept
        self.notice: KeyChangeNotice | None = None
        self.frame = ttk.Frame(parent, padding=(18, 10))
        self.frame.columnconfigure(0, weight=1)
        self.title = ttk.Label(self.frame, text="")
        self.title.grid(row=0, column=0, sticky="w")
        self.text = ttk.Label(self.frame, text="", justify="left")
        self.text.grid(row=1, column=0, sticky="ew", pady=(2, 6))
        self.previous = ttk.Label(self.frame, text="")
        self.previous.grid(row=2, column=0, columnspan=2, sticky="w")
        self.new = ttk.Label(self.frame, text="")
        self.new.grid(row=3, column=0, columnspan=2, sticky="w")
        buttons = ttk.Frame(self.frame)
        buttons.grid(row=0, column=1, rowspan=2, sticky="ne", padx=(12, 0))
        self._buttons = buttons
        self.verify_button = ttk.Button(buttons, text="Verify…", command=self._verify_pressed)
        self.verify_button.pack(side="top", fill="x")
        self.accept_button = ttk.Button(
            buttons,
            text="Accept new key",
            style="Small.Accent.TButton",
            command=self._accept_pressed,
        )
        self.accept_button.pack(side="top", fill="x", pady=(6, 0))
        self.frame.bind("<Configure>", self._wrap)

    def show(self, notice: KeyChangeNotice | None) -> None:
        self.notice = notice
        if notice is None:
            self.frame.grid_remove()
            return
        kind = "Danger" if notice.loud else "Warning"
        self.frame.configure(style=f"{kind}.Banner.TFrame")
        self._buttons.configure(style=f"{kind}.Banner.TFrame")
        self.title.configure(text=f"⚠ {notice.title}", style=f"{kind}.Title.Banner.TLabel")
        self.text.configure(text=notice.text, style=f"{kind}.Banner.TLabel")
        self.previous.configure(
            text=f"Old key:  {notice.previous}", style=f"{kind}.Key.Banner.TLabel"
        )
        self.new.configure(text=f"New key:  {notice.new}", style=f"{kind}.Key.Banner.TLabel")
        self.verify_button.configure(
            style="Danger.TButton" if notice.loud else "TButton",
        )
        if notice.can_accept:
            self.accept_button.pack(side="top", fill="x", pady=(6, 0))
        else:
            self.accept_button.pack_forget()
        self.frame.grid()

    def visible(self) -> bool:
        return bool(self.frame.winfo_manager())

    def _wrap(self, event: tk.Event[tk.Misc]) -> None:
        width = event.width - self._buttons.winfo_reqwidth() - 60
        self.text.configure(wraplength=max(width, 200))

    def _verify_pressed(self) -> None:
        if self.notice is not None:
            self._verify(self.notice.peer)

    def _accept_pressed(self) -> None:
        if self.notice is not None:
            self._accept(self.notice.peer)


class VerifyDialog:
    """The safety number with one contact, their key, and a way to mark them verified.

    A window of its own, made on first use and kept (withdrawn) when closed. ``mark(peer,
    number)`` is called with what the person typed; ``closed(peer)`` when they close it.
    """

    def __init__(
        self,
        root: tk.Misc,
        fonts: Fonts,
        mark: Callable[[str, str], None],
        closed: Callable[[str], None],
    ) -> None:
        self._root = root
        self._fonts = fonts
        self._mark = mark
        self._closed = closed
        self._busy = False
        self.safety: SafetyNumberView | None = None
        self.window: tk.Toplevel | None = None

    # -- what the window asks ----------------------------------------------------------------------

    def show(self, safety: SafetyNumberView) -> None:
        window = self.window or self._build()
        if self.safety is None or self.safety.peer != safety.peer:
            set_entry(self.entry, "")
        self.safety = safety
        peer = safety.peer
        window.title(f"Verify {peer}")
        self.heading.configure(text=f"Verify {peer}")
        self.intro.configure(
            text=f"Compare this number with the one {peer} sees, in person or on a call you "
            f"trust. If every digit is the same, nobody is in between: mark {peer} as verified."
        )
        self.number.configure(text="\n".join(safety.lines))
        self.key.configure(state="normal")
        set_entry(self.key, safety.fingerprint)
        self.key.configure(state="readonly")
        self.key_title.configure(text=f"{peer}'s key")
        if safety.verified:
            self.state.configure(text=f"✓ You have verified {peer}", style="Verified.Card.TLabel")
        else:
            self.state.configure(text="Not verified", style="Unverified.Card.TLabel")
        self.note.configure(text=safety.note)
        if safety.note:
            self.note.grid()
        else:
            self.note.grid_remove()
        self.entry_title.configure(text=f"The number {peer} reads out")
        self._show_error("")
        self.set_busy(False)
        window.deiconify()
        window.lift()
        self.entry.focus_set()

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        if self.window is not None:
            self.mark_button.state(["disabled"] if busy else ["!disabled"])
            self.mark_button.configure(text="Checking…" if busy else "Mark as verified")

    def show_error(self, text: str) -> None:
        if self.window is not None and self.visible():
            self._show_error(text)

    def visible(self) -> bool:
        return self.window is not None and self.window.winfo_viewable() == 1

    def error_text(self) -> str:
        return str(self.error.cget("text")) if self.window is not None else ""

    def close(self) -> None:
        if self.window is None or self.window.state() == "withdrawn":
            return
        self.window.withdraw()
        if self.safety is not None:
            self._closed(self.safety.peer)

    # -- building ----------------------------------------------------------------------------------

    def _build(self) -> tk.Toplevel:
        window, card = dialog(self._root, self.close)
        self.window = window
        self.heading = ttk.Label(card, text="", style="Header.TLabel")
        self.heading.grid(row=0, column=0, columnspan=2, sticky="w")
        self.intro = ttk.Label(card, text="", style="Muted.Card.TLabel", wraplength=540)
        self.intro.grid(row=1, column=0, columnspan=2, sticky="w", pady=(4, 14))
        self.number = ttk.Label(card, text="", style="Number.TLabel", justify="center")
        self.number.grid(row=2, column=0, columnspan=2, pady=(0, 14))
        self.state = ttk.Label(card, text="", style="Unverified.Card.TLabel")
        self.state.grid(row=3, column=0, columnspan=2, sticky="w")
        self.note = ttk.Label(
            card, text="", style="Error.TLabel", wraplength=540, font=self._fonts.normal
        )
        self.note.grid(row=4, column=0, columnspan=2, sticky="w", pady=(4, 0))
        self.key_title = ttk.Label(card, text="", style="Card.TLabel")
        self.key_title.grid(row=5, column=0, columnspan=2, sticky="w", pady=(12, 0))
        self.key = ttk.Entry(card, font=self._fonts.mono_small, width=66)
        self.key.grid(row=6, column=0, columnspan=2, sticky="ew", pady=(2, 0))
        self.entry_title = ttk.Label(card, text="", style="Card.TLabel")
        self.entry_title.grid(row=7, column=0, columnspan=2, sticky="w", pady=(14, 0))
        self.entry = ttk.Entry(card, font=self._fonts.normal)
        self.entry.grid(row=8, column=0, columnspan=2, sticky="ew", pady=(2, 0))
        self.entry.bind("<Return>", self._mark_key)
        self.entry.bind("<KP_Enter>", self._mark_key)
        self.error = ttk.Label(card, text="", style="Error.TLabel", wraplength=540)
        self.error.grid(row=9, column=0, columnspan=2, sticky="w", pady=(6, 0))
        self.mark_button = ttk.Button(
            card, text="Mark as verified", style="Accent.TButton", command=self._mark_pressed
        )
        self.mark_button.grid(row=10, column=0, sticky="w", pady=(14, 0))
        self.close_button = ttk.Button(card, text="Close", command=self.close)
        self.close_button.grid(row=10, column=1, sticky="e", pady=(14, 0))
        return window

    def _show_error(self, text: str) -> None:
        self.error.configure(text=text)
        if text:
            self.error.grid()
        else:
            self.error.grid_remove()

    def _mark_pressed(self) -> None:
        if self.safety is not None and not self._busy:
            self._mark(self.safety.peer, self.entry.get())

    def _mark_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._mark_pressed()
        return "break"


class OwnKey:
    """ "Your key: …" in the status bar, selectable, with a button that copies it."""

    def __init__(self, parent: tk.Misc, fonts: Fonts, timers: Timers) -> None:
        self._timers = timers
        self.frame = ttk.Frame(parent, style="Status.TFrame")
        ttk.Label(self.frame, text="Your key:", style="Status.TLabel").pack(side="left")
        self.entry = ttk.Entry(self.frame, style="OwnKey.TEntry", font=fonts.mono_small, width=64)
        self.entry.pack(side="left", padx=(4, 4))
        self.entry.configure(state="readonly")
        self.copy = ttk.Button(
            self.frame, text="Copy", style="Status.TButton", command=self._copy, width=6
        )
        self.copy.pack(side="left")

    def show(self, fingerprint: str) -> None:
        self.entry.configure(state="normal", width=len(fingerprint))
        set_entry(self.entry, fingerprint)
        self.entry.configure(state="readonly")
        if not self.frame.winfo_manager():
            # First in the packing order: the status gives way to the key, not the reverse.
            first = self.frame.master.pack_slaves()
            if first:
                self.frame.pack(side="right", before=first[0])
            else:
                self.frame.pack(side="right")

    def text(self) -> str:
        return self.entry.get()

    def _copy(self) -> None:
        self.entry.clipboard_clear()
        self.entry.clipboard_append(self.entry.get())
        self._copied(True)
        self._timers.later("copied", 1.5, lambda: self._copied(False))

    def _copied(self, copied: bool) -> None:
        self.copy.configure(text="Copied" if copied else "Copy")
