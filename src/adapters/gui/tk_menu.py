"""The menu bar and the window's shortcuts: new chat, new group, send files, search, the
connection doctor, your data (export the conversation, back up, restore), next/previous
conversation, notifications on/off, quit.

Shortcuts are bound to the window's ``all`` tag too, so they work whichever widget has the
focus; those a text widget would otherwise take (Ctrl+Tab moves the focus in Tk's own
bindings) are caught first on the widgets of the window and stopped there.
"""

from __future__ import annotations

import contextlib
import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class MenuActions:
    """What each entry does (the view's handlers)."""

    new_chat: Callable[[], None]
    search: Callable[[], None]
    step: Callable[[int], None]
    """Next (1) or previous (-1) conversation."""
    notifications: Callable[[bool], None]
    quit: Callable[[], None]
    doctor: Callable[[], None]
    """Open the connection doctor."""
    new_group: Callable[[], None] = lambda: None
    """Open the new group dialog."""
    send_file: Callable[[], None] | None = None
    """Pick files to send to the open conversation (no entry without it)."""
    export: Callable[[], None] | None = None
    """Export the open conversation to a file (no entry without it, nor for the two below)."""
    backup: Callable[[], None] | None = None
    """Open the backup dialog."""
    restore: Callable[[], None] | None = None
    """Restore a backup: said to need signing out (it is offered before signing in)."""


SHORTCUTS: dict[str, tuple[str, ...]] = {
    "new_chat": ("<Control-n>", "<Control-N>"),
    "new_group": ("<Control-g>", "<Control-G>"),
    "search": ("<Control-f>", "<Control-F>"),
    "next": ("<Control-Tab>", "<Control-Next>"),
    "previous": ("<Control-Shift-Tab>", "<Control-ISO_Left_Tab>", "<Control-Prior>"),
    "quit": ("<Control-q>", "<Control-Q>"),
    "send_file": ("<Control-o>", "<Control-O>"),
}
"""Tk key sequences of each action (X11 sends Shift+Tab as ``ISO_Left_Tab``)."""


class MenuBar:
    """The "Chat" menu on the window's menu bar, shown once signed in."""

    def __init__(self, root: tk.Tk, actions: MenuActions) -> None:
        self._root = root
        self._actions = actions
        self.notifications = tk.BooleanVar(root, value=True)
        self.bar = bar = tk.Menu(root, tearoff=False)
        self.chat = chat = tk.Menu(bar, tearoff=False)
        bar.add_cascade(label="Chat", menu=chat, underline=0)
        chat.add_command(
            label="New chat…", accelerator="Ctrl+N", underline=0, command=actions.new_chat
        )
        chat.add_command(
            label="New group…", accelerator="Ctrl+G", underline=4, command=actions.new_group
        )
        if actions.send_file is not None:
            chat.add_command(
                label="Send files…", accelerator="Ctrl+O", underline=5, command=actions.send_file
            )
        chat.add_command(label="Search", accelerator="Ctrl+F", underline=0, command=actions.search)
        chat.add_command(label="Connection doctor…", underline=0, command=actions.doctor)
        chat.add_separator()
        data = (("Export conversation…", 0, actions.export), ("Back up…", 0, actions.backup))
        for label, underline, command in (*data, ("Restore…", 0, actions.restore)):
            if command is not None:
                chat.add_command(label=label, underline=underline, command=command)
        if any(command is not None for _, _, command in data):
            chat.add_separator()
        chat.add_command(
            label="Next conversation",
            accelerator="Ctrl+Tab",
            underline=0,
            command=lambda: actions.step(1),
        )
        chat.add_command(
            label="Previous conversation",
            accelerator="Ctrl+Shift+Tab",
            underline=0,
            command=lambda: actions.step(-1),
        )
        chat.add_separator()
        chat.add_checkbutton(
            label="Notifications",
            underline=1,
            variable=self.notifications,
            command=lambda: actions.notifications(self.notifications.get()),
        )
        chat.add_separator()
        chat.add_command(label="Quit", accelerator="Ctrl+Q", underline=0, command=actions.quit)
        self._shown = False

    def close(self) -> None:
        """Let go of the Tk variable here, on the Tk thread: a Tk variable deletes itself in Tcl
        when collected, which fails on any other thread ("main thread is not in main loop").
        Closing twice is closing once."""
        with contextlib.suppress(AttributeError):
            del self.notifications

    def show(self) -> None:
        """Put the menu bar on the window and turn the chat shortcuts on."""
        if self._shown:
            return
        self._shown = True
        self._root.configure(menu=self.bar)
        handlers: dict[str, Callable[[], None]] = {
            "new_chat": self._actions.new_chat,
            "new_group": self._actions.new_group,
            "search": self._actions.search,
            "next": lambda: self._actions.step(1),
            "previous": lambda: self._actions.step(-1),
        }
        if self._actions.send_file is not None:
            handlers["send_file"] = self._actions.send_file
        for name, handler in handlers.items():
            for sequence in SHORTCUTS[name]:
                bind_shortcut(self._root, sequence, handler)

    def entries(self) -> dict[str, int]:
        """The Chat menu's entries by label, separators left out (for tests)."""
        last = self.chat.index("end")
        return {
            str(self.chat.entrycget(index, "label")): index
            for index in range(0 if last is None else int(last) + 1)
            if self.chat.type(index) != "separator"
        }

    def invoke(self, label: str) -> None:
        """Do what clicking the entry ``label`` does (for tests)."""
        self.chat.invoke(self.entries()[label])


def bind_shortcut(root: tk.Tk, sequence: str, handler: Callable[[], None]) -> None:
    """``handler`` on ``sequence`` anywhere in the app, before a widget's class takes it."""

    def run(_event: tk.Event[tk.Misc]) -> str:
        handler()
        return "break"

    root.bind_all(sequence, run)
    for widget_class in ("Text", "TEntry", "Entry", "Treeview"):
        root.bind_class(widget_class, sequence, run)
