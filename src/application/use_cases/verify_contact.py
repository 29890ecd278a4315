"""Show the safety number with a contact, or mark them verified with it."""

from __future__ import annotations

from chinwag.application.session import Session
from chinwag.application.trust import SafetyNumber, TrustPolicy
from chinwag.domain.user import normalize_username


class VerifyContact:
    """Show the safety number with a contact; with the number the other side reads out, mark
    the contact verified (which also accepts a key change waiting for the user)."""

    def __init__(self, session: Session, trust: TrustPolicy) -> None:
        self._session = session
        self._trust = trust

    async def execute(self, with_user: str, number: str | None = None) -> SafetyNumber:
        self._session.require_user()
        return await self._trust.verify(normalize_username(with_user), number)
