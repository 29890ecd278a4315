from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from chinwag.application.ports.directory import PeerLocation
from chinwag.domain.group import Change
from chinwag.domain.message import Message
from chinwag.domain.transfer import FileOffer
from chinwag.domain.user import PeerAddress


class Route(StrEnum):
    """How a session reaches a peer: a connection of our own, or bytes through the registry."""

    DIRECT = "direct"
    RELAYED = "relayed"


@dataclass(frozen=True)
class Probe:
    """A session to a peer that answered: by which route, and its round trip in seconds."""

    route: Route
    rtt: float
    direct_failure: str | None = None
    """Why the peer's address failed directly (``refused``, ``timeout``, ``unreachable``) when
    the session went through the relay instead; None when that is not why."""


@dataclass(frozen=True)
class DeliveryReport:
    """What the recipient said about a batch: committed ids, and refusals with their reasons."""

    acknowledged: frozenset[UUID]
    rejected: dict[UUID, str] = field(default_factory=dict)
    deferred: dict[UUID, str] = field(default_factory=dict)
    """Refused for now (a quota): kept queued with the reason, and tried again later."""
    route: Route | None = None
    """The route the batch travelled."""


@dataclass(frozen=True)
class Incoming:
    """What a peer sent, as read off the wire: not yet a domain ``Message``.

    Nothing here is checked yet (names, body, time are the sender's claims); the application
    validates it and decides which conversation it belongs to, so no transport has to."""

    id: UUID
    sender: str
    recipient: str | None
    body: str
    sent_at: datetime
    group: UUID | None = None
    """For a group message: its group, and its stamp's ``seq``, ``version`` and ``signature``."""
    seq: int | None = None
    version: int | None = None
    signature: bytes = b""
    file: FileOffer | None = None
    """A file offer (its structure checked by the wire; the rules of who may offer what, and
    the size this user takes, by the application)."""

    @classmethod
    def of(cls, message: Message) -> Incoming:
        """``message`` as its recipient reads it (for transports that hand messages over as
        they are, like the in-memory one)."""
        stamp = message.stamp
        return cls(
            message.id,
            message.sender,
            message.recipient,
            message.body,
            message.sent_at,
            message.group_id,
            stamp.seq if stamp else None,
            stamp.version if stamp else None,
            stamp.signature if stamp else b"",
            message.file,
        )


@dataclass(frozen=True)
class GroupHave:
    """How far a member is in one group: its membership log's ``version`` and ``head`` (the
    hash of its last change), and per author the highest sequence number it stored. Two
    members exchange these to find what either lacks (``reply``: this one answers another,
    and is not answered again)."""

    group: UUID
    version: int
    head: bytes
    authors: Mapping[str, int]
    reply: bool = False


@dataclass(frozen=True)
class Intake:
    """What the application did with a batch from a peer: the ids now committed (only those
    are acknowledged), those refused for now, with the reason code (``over_quota``), and those
    refused for good, with a code and a reason for people (``invalid_message``, ``refused``).
    An id in none of them is refused for good too."""

    committed: Sequence[UUID]
    deferred: dict[UUID, str] = field(default_factory=dict)
    rejected: dict[UUID, tuple[str, str]] = field(default_factory=dict)


HASHES_PER_ANSWER = 8192
"""Piece hashes in one answer to a hashes request (256 KiB of them): a file of more pieces
has its list fetched in several requests."""


@dataclass(frozen=True)
class TransferNotice:
    """One side of a transfer tells the other it ended: the recipient ``declined``, either side
    ``cancelled``, the recipient has it (``done``: its hash matched) or gave up (``failed``)."""

    transfer: UUID
    state: str
    reason: str | None = None


class FileServer(Protocol):
    """The application side of files asked of us (we offered them) and of notices about
    transfers. Refusals are ``FileRefused`` with a reason code the transport sends back."""

    async def piece_requested(self, peer: str, transfer: UUID, index: int) -> bytes:
        """Piece ``index`` of the file we offered as ``transfer``, if ``peer`` may have it."""
        ...

    async def hashes_requested(self, peer: str, transfer: UUID, start: int) -> bytes:
        """The piece hashes from ``start`` on (at most :data:`HASHES_PER_ANSWER`; empty past
        the last), if ``peer`` may have the file."""
        ...

    async def notice_received(self, peer: str, notice: TransferNotice) -> None:
        """``peer`` says a transfer between us ended; answered once this returns (stored)."""
        ...


class InboundHandler(FileServer, Protocol):
    """The application side of incoming peer traffic."""

    async def authorize(self, peer: str, key: bytes) -> None:
        """A peer proved ``key`` and claims the name ``peer``: return if it may talk to us, else
        raise a ``ChatError`` whose code and text the transport sends back."""
        ...

    async def messages_received(self, peer: str, messages: Sequence[Incoming]) -> Intake:
        """Take messages from ``peer`` (the name the transport authenticated): store what may
        be stored, say what was and why the rest was not. Group messages may come from any
        member (forwarded): their signatures, not ``peer``, say who wrote them."""
        ...

    async def group_have_received(self, peer: str, have: GroupHave) -> None:
        """``peer`` says how far it is in a group: send it what it lacks (and ask for what we
        lack). Nothing is answered on the wire for the frame itself."""
        ...

    async def group_changes_received(self, peer: str, changes: Sequence[Change]) -> None:
        """``peer`` sent changes of a group's membership log (as signed; not checked yet)."""
        ...


class PeerTransport(Protocol):
    """Direct connections between peers: a secure channel can later wrap this same port."""

    async def listen(
        self, me: str, address: PeerAddress | None, handler: InboundHandler
    ) -> PeerAddress | None:
        """Accept peers at ``address`` (port 0 picks one) as user ``me``; return the real address.
        ``None``: accept no direct connections (sessions relayed to us still reach ``handler``).

        Raises ``AddressInUse`` if the address cannot be bound.
        """
        ...

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:
        """Send ``messages`` in order to ``peer`` at ``location`` and wait for its answer.

        Connections are opened on demand and reused, and only to an end that proves
        ``location.key``; the routes tried, in order, are :func:`routes` of ``location``
        (direct, then relayed). Raises ``PeerUnreachable`` if the peer cannot be reached, is
        somebody else, or does not answer in time, and ``PeerRefused`` if it refuses to talk to
        us.
        """
        ...

    async def probe(self, peer: str, location: PeerLocation) -> Probe:
        """Open (or reuse) a session to ``peer`` as :meth:`deliver` would, and time a round
        trip on it. Raises as :meth:`deliver` does."""
        ...

    async def send_have(self, peer: str, location: PeerLocation, have: GroupHave) -> None:
        """Send ``have`` to ``peer`` over the session :meth:`deliver` would use (opened if
        needed); no answer is awaited. Raises as :meth:`deliver` does."""
        ...

    async def send_changes(
        self, peer: str, location: PeerLocation, changes: Sequence[Change]
    ) -> None:
        """Send changes of one group's log (each as signed) to ``peer``, as :meth:`send_have`."""
        ...

    async def fetch_piece(
        self, peer: str, location: PeerLocation, transfer: UUID, index: int, timeout: float
    ) -> bytes:
        """Ask ``peer`` for piece ``index`` of the file it offered as ``transfer``, on the
        session :meth:`deliver` uses; many may be asked at once (pipelined). Raises
        ``FileRefused`` with the peer's reason, ``PeerUnreachable`` as :meth:`deliver` does,
        and ``PeerUnreachable('stalled')`` if nothing came within ``timeout`` seconds (the
        session is then closed: the next ask opens a new one). The data is as received: the
        caller checks it against the piece's hash."""
        ...

    async def fetch_hashes(
        self, peer: str, location: PeerLocation, transfer: UUID, start: int
    ) -> bytes:
        """Ask ``peer`` for the piece hashes of ``transfer`` from ``start`` on (see
        :meth:`FileServer.hashes_requested`); raises as :meth:`fetch_piece`."""
        ...

    async def send_notice(self, peer: str, location: PeerLocation, notice: TransferNotice) -> None:
        """Tell ``peer`` a transfer ended; returns once the peer has stored it. Raises as
        :meth:`deliver` does."""
        ...

    def route(self, peer: str) -> Route | None:
        """The route of the session open to ``peer`` now, if any."""
        ...

    async def close(self) -> None:
        """Stop listening and close every connection."""
        ...
