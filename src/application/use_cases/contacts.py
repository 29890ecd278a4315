"""The user's word on keys: safety numbers, verifying, accepting a changed key, who am I."""

from __future__ import annotations

from dataclasses import dataclass

from chinwag.application.session import Session
from chinwag.application.trust import SafetyNumber, TrustPolicy
from chinwag.domain.contact import Contact
from chinwag.domain.identity import fingerprint
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


class TrustContact:
    """Accept a contact's new key, named by its fingerprint; what waited for it goes out."""

    def __init__(self, session: Session, trust: TrustPolicy) -> None:
        self._session = session
        self._trust = trust

    async def execute(self, with_user: str, typed_fingerprint: str) -> Contact:
        self._session.require_user()
        return await self._trust.trust(normalize_username(with_user), typed_fingerprint)


@dataclass(frozen=True, slots=True)
class Me:
    name: str
    key: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


class WhoAmI:
    """The signed-in user's name and identity key."""

    def __init__(self, session: Session, trust: TrustPolicy) -> None:
        self._session = session
        self._trust = trust

    def execute(self) -> Me:
        return Me(self._session.require_user(), self._trust.own_key)
