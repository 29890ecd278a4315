"""The side panel of the main window: the user's own name, the search box, the list of people
and groups, and a link to the new chat dialog (which finds anybody online).

It lays those out and passes on what the person does there (Enter searches, Escape dismisses the
results, picking somebody opens the conversation); the list itself is ``tk_people``'s, and the
results show in the conversation's place (``tk_search``), so the window wires them together.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from chinwag.adapters.gui.tk_look import ACCENT, PANE, SIDE, Fonts
from chinwag.adapters.gui.tk_people import PeopleList
from chinwag.adapters.gui.tk_widgets import placeholder_for
from chinwag.adapters.gui.view import Chat


class SidePanel:
    """The panel's widgets. ``search_requested(text)`` is called on Enter in the search box,
    ``search_dismissed()`` on Escape there, ``conversation_selected(name)`` from the list."""

    def __init__(
        self,
        parent: tk.Misc,
        root: tk.Misc,
        fonts: Fonts,
        search_requested: Callable[[str], None],
        search_dismissed: Callable[[], None],
        conversation_selected: Callable[[Chat], None],
        new_chat: Callable[[], None],
    ) -> None:
        """``new_chat()`` opens the new chat dialog (the link beside "CHATS"): the list holds
        the people the user talks to, and that dialog finds anybody else online."""
        self._search_requested = search_requested
        self.frame = side = ttk.Frame(
            parent, style="Side.TFrame", padding=(12, 12, 0, 8), width=250
        )
        side.columnconfigure(0, weight=1)
        side.rowconfigure(4, weight=1)
        self._me = ttk.Label(side, text="", style="Me.TLabel")
        self._me.grid(row=0, column=0, columnspan=2, sticky="w", padx=(2, 12), pady=(0, 10))
        self.search = ttk.Entry(side, font=fonts.normal)
        self.search.grid(row=1, column=0, columnspan=2, sticky="ew", padx=(0, 12))
        self.search.bind("<Return>", self._search_key)
        self.search.bind("<KP_Enter>", self._search_key)
        self.search.bind("<Escape>", lambda _e: search_dismissed())
        placeholder_for(self.search, "Search messages  (Ctrl+F)", PANE)
        ttk.Label(side, text="CHATS", style="Side.TLabel").grid(
            row=3, column=0, sticky="w", padx=(2, 0), pady=(16, 4)
        )
        self.new_chat = tk.Label(
            side,
            text="+ New chat",
            foreground=ACCENT,
            background=SIDE,
            font=fonts.small_bold,
            cursor="hand2",
        )
        self.new_chat.grid(row=3, column=0, columnspan=2, sticky="e", padx=(0, 12), pady=(16, 4))
        self.new_chat.bind("<Button-1>", lambda _e: new_chat())
        self.people = PeopleList(side, root, fonts, conversation_selected)
        self.people.tree.grid(row=4, column=0, sticky="nsew")
        self.people.bar.grid(row=4, column=1, sticky="ns")

    def show_user(self, user: str) -> None:
        """Name the signed-in user at the top of the panel."""
        self._me.configure(text=user)

    def focus_search(self) -> None:
        """Put the cursor in the search box, with its text selected to be typed over."""
        self.search.focus_set()
        self.search.select_range(0, "end")

    def _search_key(self, _event: tk.Event[tk.Misc]) -> str:
        self._search_requested(self.search.get())
        return "break"
