"""The connection caps' say on ``register`` (the dispatcher's
:class:`~chinwag.adapters.registry.dispatch.RegisterGate`): past the identity keys registered
from one address, ``busy``; a sign-in is counted for its address until its connection closes,
and meets the connection's register deadline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chinwag.adapters.registry.limits import ConnectionCaps
from chinwag.application.registry.sessions import ClientSession
from chinwag.domain.registry.refusals import Refusal, RefusalCode

if TYPE_CHECKING:
    from chinwag.adapters.registry.connection import Connection


class CapsGate:
    def __init__(self, caps: ConnectionCaps) -> None:
        self.caps = caps

    def refusal(self, connection: Connection, session: ClientSession) -> Refusal | None:
        refused = self.caps.may_register(connection.slot, session.key)
        return None if refused is None else Refusal(RefusalCode.BUSY, refused)

    def signed_in(self, connection: Connection, session: ClientSession) -> None:
        connection.signed_in = True
        self.caps.registered(connection.slot, session.key)
