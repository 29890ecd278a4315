"""Small Tk helpers the window's parts share: timers, a tooltip, entry hints, scrollbars."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont
from tkinter import ttk

from chinwag.adapters.gui.tk_look import HINT, PANE, TIP_BG


class Timers:
    """Named ``after`` jobs: starting one again replaces it; all are cancelled at close."""

    def __init__(self, root: tk.Misc) -> None:
        self._root = root
        self._jobs: dict[str, str] = {}

    def later(self, name: str, seconds: float, action: Callable[[], None]) -> None:
        self.cancel(name)

        def run() -> None:
            self._jobs.pop(name, None)
            action()

        self._jobs[name] = self._root.after(round(seconds * 1000), run)

    def cancel(self, name: str) -> None:
        job = self._jobs.pop(name, None)
        if job is not None:
            self._root.after_cancel(job)

    def pending(self, name: str) -> bool:
        return name in self._jobs

    def cancel_all(self) -> None:
        for job in self._jobs.values():
            self._root.after_cancel(job)
        self._jobs.clear()


class Tooltip:
    """One small dark window of text near the pointer, made on first use."""

    def __init__(self, root: tk.Misc, font: tkfont.Font) -> None:
        self._root = root
        self._font = font
        self._window: tk.Toplevel | None = None
        self._label: tk.Label | None = None

    def show(self, text: str, x_root: int, y_root: int) -> None:
        if self._window is None or self._label is None:
            self._window = tk.Toplevel(self._root, background=TIP_BG)
            self._window.wm_overrideredirect(True)
            self._label = tk.Label(
                self._window,
                background=TIP_BG,
                foreground="#ffffff",
                font=self._font,
                justify="left",
                wraplength=320,
                padx=8,
                pady=5,
            )
            self._label.pack()
        self._label.configure(text=text)
        self._window.update_idletasks()
        width = self._window.winfo_reqwidth()
        x = x_root + 12
        if x + width > self._root.winfo_rootx() + self._root.winfo_width():
            x = x_root - width - 8  # marks sit at the right edge: open to the left
        self._window.wm_geometry(f"+{max(x, 0)}+{y_root + 16}")
        self._window.deiconify()
        self._window.lift()

    def hide(self) -> None:
        if self._window is not None:
            self._window.withdraw()

    def text(self) -> str | None:
        """The text on screen, if the tooltip is shown."""
        if self._window is None or self._label is None or not self._window.winfo_viewable():
            return None
        return str(self._label.cget("text"))


class writable:
    """Make a read-only text widget writable for the duration of a ``with`` block."""

    def __init__(self, text: tk.Text) -> None:
        self._text = text

    def __enter__(self) -> None:
        self._text.configure(state="normal")

    def __exit__(self, *_exc: object) -> None:
        self._text.configure(state="disabled")


def autohide(bar: ttk.Scrollbar) -> Callable[[float | str, float | str], None]:
    """A ``yscrollcommand`` that shows ``bar`` (gridded) only while there is something to scroll."""

    def set_view(first: float | str, last: float | str) -> None:
        if float(first) <= 0.0 and float(last) >= 1.0:
            bar.grid_remove()
        else:
            bar.grid()
        bar.set(first, last)

    return set_view


def set_entry(entry: ttk.Entry, value: str) -> None:
    entry.delete(0, "end")
    entry.insert(0, value)


class _Placeholder(tk.Label):
    """A hint label that holds on to the variable watching its entry: a StringVar that is
    garbage collected removes its trace, and the hint would stay over what is typed."""

    variable: tk.StringVar | None = None


def placeholder_for(widget: tk.Misc, text: str, background: str) -> tk.Label:
    """Grey hint text over an empty entry; clicking it focuses the entry."""
    label = _Placeholder(widget, text=text, foreground=HINT, background=background, cursor="xterm")
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


def dialog(root: tk.Misc, close: Callable[[], None]) -> tuple[tk.Toplevel, ttk.Frame]:
    """A dialog window over the app's window, withdrawn until shown, and the padded card to lay
    it out on (two columns, the first one stretching). The close box and Escape call ``close``."""
    window = tk.Toplevel(root, background=PANE)
    window.withdraw()
    window.transient(root.winfo_toplevel())
    window.resizable(False, False)
    window.protocol("WM_DELETE_WINDOW", close)
    window.bind("<Escape>", lambda _e: close())
    card = ttk.Frame(window, style="Pane.TFrame", padding=(26, 20))
    card.pack(fill="both", expand=True)
    card.columnconfigure(0, weight=1)
    return window, card
