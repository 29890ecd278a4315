"""Who is signed in on this client, shared by the use cases."""

from __future__ import annotations

from dataclasses import dataclass

from chinwag.application.errors import NotSignedIn
from chinwag.domain.user import PeerAddress


@dataclass
class Session:
    """The signed-in user and where they accept peers (None: nowhere, ``--listen none``);
    empty until sign-in."""

    user: str | None = None
    address: PeerAddress | None = None

    def require_user(self) -> str:
        if self.user is None:
            raise NotSignedIn("sign in first")
        return self.user

    def start(self, user: str, address: PeerAddress | None) -> None:
        self.user = user
        self.address = address

    def end(self) -> None:
        self.user = None
        self.address = None
