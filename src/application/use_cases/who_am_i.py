"""Who the signed-in user is: their name and identity key."""

from __future__ import annotations

from dataclasses import dataclass

from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.domain.identity import fingerprint


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
