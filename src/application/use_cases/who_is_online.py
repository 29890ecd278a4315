from __future__ import annotations

from chinwag.application.ports.directory import Directory
from chinwag.application.session import Session


class WhoIsOnline:
    """Who the registry says is online now (kept current by pushed presence, not polled)."""

    def __init__(self, session: Session, directory: Directory) -> None:
        self._session = session
        self._directory = directory

    def execute(self) -> list[str]:
        self._session.require_user()
        return sorted(self._directory.online())
