"""Timeouts and limits of the TCP peer transport, both halves."""

from __future__ import annotations

from dataclasses import dataclass

from chinwag.adapters.transport import protocol


@dataclass(frozen=True)
class TransportSettings:
    connect_timeout: float = 5.0
    handshake_timeout: float = 5.0
    ack_timeout: float = 30.0
    write_timeout: float = 30.0
    idle_timeout: float = 60.0
    """An accepted connection that completes no frame for this long is closed (the sender opens
    a new one when it has more to say)."""
    authorize_timeout: float = 10.0
    """How long the application may take to decide whether a peer may deliver (it may ask the
    registry for a stranger's key)."""
    changes_wait: float = 5.0
    """How long a peer's messages wait at most for the group changes it sent before them to be
    handed to the application (they may be what admits the messages; past this they go without,
    and may be deferred for it)."""
    fetch_timeout: float = 5.0
    """How long a ``fetch_hashes`` waits with nothing at all arriving before the session is
    failed as stalled (``fetch_piece`` is given its own)."""
    direct_retry: float = 60.0
    """Seconds a peer's address that failed directly is not tried again (new sessions go
    through the relay meanwhile; each try may cost a connect timeout); after that a new session
    tries it first again. A new address from the registry is tried at once."""
    max_frame: int = protocol.MAX_FRAME
    max_inbound: int = 512
    max_inbound_per_host: int = 64
    max_inbound_per_identity: int = 4
    """Connections one identity may hold open to us at once: one is all a client uses."""
