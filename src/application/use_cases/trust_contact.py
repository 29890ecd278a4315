"""Accept a contact's new key after a key change."""

from __future__ import annotations

from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.domain.contact import Contact
from chinwag.domain.user import normalize_username


class TrustContact:
    """Accept a contact's new key, named by its fingerprint; what waited for it goes out."""

    def __init__(self, session: Session, trust: TrustPolicy) -> None:
        self._session = session
        self._trust = trust

    async def execute(self, with_user: str, typed_fingerprint: str) -> Contact:
        self._session.require_user()
        return await self._trust.trust(normalize_username(with_user), typed_fingerprint)
