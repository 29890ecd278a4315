"""What every part of the presenter needs of the chat presenter that owns it."""

from __future__ import annotations

from typing import Protocol

from chinwag.adapters.gui.session import ChatSession
from chinwag.adapters.gui.view import ChatView


class PresenterHost(Protocol):
    """The chat presenter as its parts (pane, people, search, notifications, keys…) see it;
    a part that needs more extends this protocol."""

    @property
    def closing(self) -> bool:
        """The window is about to go: do nothing more to it."""
        ...

    @property
    def view(self) -> ChatView: ...

    def usable_session(self) -> ChatSession | None:
        """The signed-in session, or ``None`` while signing in or out."""
        ...

    def failed(self, exc: Exception) -> None:
        """Tell the user in the status bar (never swallowed)."""
        ...
