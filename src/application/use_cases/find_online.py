from __future__ import annotations

from chinwag.application.ports.directory import Directory
from chinwag.application.registry.who import case_map
from chinwag.application.session import Session
from chinwag.domain.registry.presence import MAX_WHO_LIMIT, WHO_DEFAULT
from chinwag.domain.user import MAX_USERNAME_LENGTH


class FindOnline:
    """Search who is online by the start of a name: for people we do not watch (a registry with
    thousands online pushes only the people each client watches)."""

    def __init__(self, session: Session, directory: Directory) -> None:
        self._session = session
        self._directory = directory

    async def execute(self, prefix: str, limit: int = WHO_DEFAULT) -> list[str]:
        """Up to ``limit`` (1 to 100) names online starting with ``prefix``, sorted. Raises
        ``ValueError`` for a limit out of range, ``RegistryUnavailable`` while out of reach."""
        self._session.require_user()
        if not 1 <= limit <= MAX_WHO_LIMIT:
            raise ValueError(f"limit must be 1 to {MAX_WHO_LIMIT}")
        if len(case_map(prefix)) > MAX_USERNAME_LENGTH:
            return []  # no name is that long (and the registry would refuse to look)
        return await self._directory.find_online(prefix, limit)
