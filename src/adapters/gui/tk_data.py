"""Your data in the window: the backup and restore dialog, the file pickers and questions they
use, and the window's part of the view port for them (:class:`DataWindows`).

The dialog is one window in two forms (a backup: the passphrase twice and the file to write;
a restore: the file to read and its passphrase), made on first use and kept (withdrawn) when
closed. It decides nothing: it hands what was typed to the presenter, which answers with a
busy line, an error or what was done. Passphrases are masked and cleared once used.

The pickers and questions are module functions (Tk's file dialogs and message boxes), looked
up when called: tests replace them here, at the seam, and drive the rest for real.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from tkinter import filedialog, messagebox, ttk

from chinwag.adapters.gui.tk_header import ConversationHeader
from chinwag.adapters.gui.tk_look import ERROR, ONLINE, Fonts
from chinwag.adapters.gui.tk_messages import MessageList
from chinwag.adapters.gui.tk_sign_in import SignIn
from chinwag.adapters.gui.tk_widgets import dialog, set_entry
from chinwag.adapters.gui.view import Chat, DataForm, DataKind, DataListener

MASK = "•"
WRAP = 420
"""Where the words wrap at first (then where the fields end)."""
PADDING = 26
"""The card's padding at the left and the right (``tk_widgets.dialog``'s)."""
BACKUP_TYPES = [("chinwag backups", "*.chinwag-backup"), ("All files", "*")]
EXPORT_TYPES = [
    ("HTML page", "*.html"),
    ("Text", "*.txt"),
    ("JSON lines (for tools, and import)", "*.jsonl"),
]


# -- the seam: Tk's own dialogs -----------------------------------------------------------------


def pick_backup_to_write(parent: tk.Misc, suggested: str) -> str:
    """The file to write a backup to ("" if cancelled)."""
    where = Path(suggested)
    path = filedialog.asksaveasfilename(
        parent=parent,
        title="Back up to",
        initialdir=str(where.parent),
        initialfile=where.name,
        filetypes=BACKUP_TYPES,
    )
    return path or ""


def pick_backup_to_read(parent: tk.Misc) -> str:
    """The backup file to restore ("" if cancelled)."""
    path = filedialog.askopenfilename(parent=parent, title="Restore from", filetypes=BACKUP_TYPES)
    return path or ""  # some Tk versions answer a cancel with an empty tuple


def pick_export_file(parent: tk.Misc, suggested: str) -> str:
    """The file to export to ("" if cancelled); its ending chooses the format."""
    where = Path(suggested)
    path = filedialog.asksaveasfilename(
        parent=parent,
        title="Export conversation to",
        initialdir=str(where.parent),
        initialfile=where.name,
        defaultextension=".html",
        filetypes=EXPORT_TYPES,
    )
    return path or ""


def confirm_replace(parent: tk.Misc, question: str) -> bool:
    """Yes or no to replacing an identity; no unless the person says yes."""
    return bool(
        messagebox.askyesno(
            "Replace an identity?", question, icon="warning", default="no", parent=parent
        )
    )


def tell(parent: tk.Misc, title: str, text: str) -> None:
    messagebox.showinfo(title, text, parent=parent)


# -- the dialog ---------------------------------------------------------------------------------


class DataDialog:
    """The backup or restore dialog; :meth:`show` opens it in one form."""

    def __init__(self, root: tk.Misc, fonts: Fonts, listener: DataListener) -> None:
        self._root = root
        self._fonts = fonts
        self._listener = listener
        self._busy = False
        self.kind = DataKind.BACKUP
        self.window: tk.Toplevel | None = None

    def show(self, form: DataForm) -> None:
        window = self.window or self._build()
        self.kind = form.kind
        backup = form.kind is DataKind.BACKUP
        window.title(form.title)
        self.heading.configure(text=form.title)
        self.text.configure(text=form.text)
        for widget in (self.again_label, self.again):
            _shown(widget, backup)
        self.button.configure(text="Back up" if backup else "Restore")
        self.close_button.configure(text="Cancel")
        set_entry(self.file, form.path)
        self.file.xview_moveto(1.0)  # the name, not the start of the folders
        self._clear_passphrases()
        self.show_error("")
        self.set_busy("")
        window.deiconify()
        window.lift()
        (self.passphrase if backup or form.path else self.file).focus_set()

    def set_busy(self, text: str) -> None:
        self._busy = bool(text)
        if self.window is None:
            return
        self.button.state(["disabled"] if text else ["!disabled"])
        self.window.configure(cursor="watch" if text else "")
        if text:
            self._say(text, "")

    def show_error(self, text: str) -> None:
        self._say(text, ERROR)

    def show_done(self, text: str) -> None:
        self._clear_passphrases()
        self._say(text, ONLINE)
        self.close_button.configure(text="Close")
        self.close_button.focus_set()

    def message(self) -> str:
        """What the dialog says under its fields ("" for nothing; for tests)."""
        return str(self.result.cget("text")) if self.window is not None else ""

    def visible(self) -> bool:
        return self.window is not None and self.window.winfo_viewable() == 1

    def close(self) -> None:
        if self.window is not None and self.window.winfo_viewable():
            self._clear_passphrases()
            self.window.withdraw()
            self._listener.data_closed()

    def submit(self) -> None:
        """Do what the dialog's button does."""
        if self._busy:
            return
        path, passphrase = self.file.get(), self.passphrase.get()
        if self.kind is DataKind.BACKUP:
            self._listener.backup_submitted(path, passphrase, self.again.get())
        else:
            self._listener.restore_submitted(path, passphrase)

    def choose(self) -> None:
        """ "Choose…": the file dialog, its answer in the file box."""
        parent = self.window or self._root
        if self.kind is DataKind.BACKUP:
            path = pick_backup_to_write(parent, self.file.get() or str(Path.home()))
        else:
            path = pick_backup_to_read(parent)
        if path:
            set_entry(self.file, path)
            self.file.xview_moveto(1.0)

    def _say(self, text: str, colour: str) -> None:
        if self.window is None:
            return
        self.result.configure(text=text, foreground=colour or "")
        _shown(self.result, bool(text))

    def _clear_passphrases(self) -> None:
        if self.window is not None:
            set_entry(self.passphrase, "")
            set_entry(self.again, "")

    def _build(self) -> tk.Toplevel:
        window, card = dialog(self._root, self.close)
        self.window = window
        self.heading = ttk.Label(card, text="", style="Header.TLabel")
        self.heading.grid(row=0, column=0, columnspan=2, sticky="w")
        self.text = ttk.Label(card, text="", style="Muted.Card.TLabel", wraplength=WRAP)
        self.text.grid(row=1, column=0, columnspan=2, sticky="w", pady=(4, 14))
        ttk.Label(card, text="File", style="Card.TLabel").grid(row=2, column=0, sticky="w")
        self.file = ttk.Entry(card, font=self._fonts.normal, width=40)
        self.file.grid(row=3, column=0, sticky="ew", pady=(2, 10))
        self.choose_button = ttk.Button(card, text="Choose…", command=self.choose)
        self.choose_button.grid(row=3, column=1, sticky="e", padx=(8, 0), pady=(2, 10))
        ttk.Label(card, text="Passphrase", style="Card.TLabel").grid(row=4, column=0, sticky="w")
        self.passphrase = ttk.Entry(card, font=self._fonts.normal, show=MASK)
        self.passphrase.grid(row=5, column=0, columnspan=2, sticky="ew", pady=(2, 10))
        self.again_label = ttk.Label(card, text="The same passphrase again", style="Card.TLabel")
        self.again_label.grid(row=6, column=0, sticky="w")
        self.again = ttk.Entry(card, font=self._fonts.normal, show=MASK)
        self.again.grid(row=7, column=0, columnspan=2, sticky="ew", pady=(2, 0))
        self.result = ttk.Label(card, text="", style="Card.TLabel", wraplength=WRAP)
        self.result.grid(row=8, column=0, columnspan=2, sticky="w", pady=(10, 0))
        self.button = ttk.Button(card, text="", style="Accent.TButton", command=self.submit)
        self.button.grid(row=9, column=0, sticky="w", pady=(16, 0))
        self.close_button = ttk.Button(card, text="Cancel", command=self.close)
        self.close_button.grid(row=9, column=1, sticky="e", pady=(16, 0))
        card.bind("<Configure>", self._resized, add="+")
        for entry in (self.file, self.passphrase, self.again):
            entry.bind("<Return>", self._submit_key)
            entry.bind("<KP_Enter>", self._submit_key)
        return window

    def _submit_key(self, _event: tk.Event[tk.Misc]) -> str:
        self.submit()
        return "break"

    def _resized(self, event: tk.Event[tk.Misc]) -> None:
        """The words wrap where the fields end (the card's width, less its padding)."""
        width = event.width - 2 * PADDING
        if width > WRAP:
            for label in (self.text, self.result):
                label.configure(wraplength=width)


def _shown(widget: tk.Widget, shown: bool) -> None:
    if shown:
        widget.grid()
    else:
        widget.grid_remove()


# -- the window's part of the view port ---------------------------------------------------------


class DataWindows:
    """The chat window's :class:`~chinwag.adapters.gui.view.ChatView` methods for the user's
    data; the window sets the parts they use when it builds itself (:meth:`_build_data`)."""

    _root: tk.Tk
    _fonts: Fonts
    _sign_in: SignIn
    _messages: MessageList
    _header: ConversationHeader
    _data: DataListener | None
    _data_dialog: DataDialog | None
    _restore: Callable[[], None] | None

    def _build_data(self, data: DataListener | None) -> None:
        self._data = data
        self._data_dialog = None if data is None else DataDialog(self._root, self._fonts, data)
        self._restore = None if data is None else data.restore_requested
        """"Restore from backup…" on the sign-in card, and Chat ▸ Restore…"""

    def _data_action(self, action: Callable[[DataListener], None]) -> Callable[[], None] | None:
        """A menu or button action telling ``data`` (None when the window has no data
        listener: the entry is then left out)."""
        data = self._data
        return None if data is None else lambda: action(data)

    def open_chat(self) -> Chat | None:
        """The conversation shown: a person's name, a group's id, or None."""
        if self._messages.peer is None:
            return None
        group = self._header.group
        return group.id if group is not None else self._messages.peer

    @property
    def restore_button(self) -> ttk.Button | None:
        """ "Restore from backup…" on the sign-in card (for tests)."""
        return self._sign_in.restore

    @property
    def data_dialog(self) -> DataDialog:
        assert self._data_dialog is not None, "a window with a data listener"
        return self._data_dialog

    def show_data(self, form: DataForm) -> None:
        self.data_dialog.show(form)

    def set_data_busy(self, text: str) -> None:
        self.data_dialog.set_busy(text)

    def show_data_error(self, text: str) -> None:
        self.data_dialog.show_error(text)

    def show_data_done(self, text: str) -> None:
        self.data_dialog.show_done(text)

    def ask_replace(self, question: str) -> None:
        window = self.data_dialog.window or self._root
        answer = confirm_replace(window, question)
        if self._data is not None:
            self._data.replace_answered(answer)

    def choose_export_file(self, suggested: str) -> None:
        path = pick_export_file(self._root, suggested)
        if path and self._data is not None:
            self._data.export_chosen(path)

    def show_notice(self, title: str, text: str) -> None:
        tell(self._root, title, text)

    def set_sign_in_name(self, name: str) -> None:
        set_entry(self._sign_in.username, name)
