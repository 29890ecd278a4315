"""An output port that remembers what the user was told, for tests and embedders."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.group_log import GroupState
from chinwag.domain.message import Message
from chinwag.domain.transfer import Transfer


@dataclass
class RecordingEvents:
    """Every event, in order, in plain lists; :meth:`wait_for` waits on a condition."""

    received: list[Message] = field(default_factory=list)
    states: list[Message] = field(default_factory=list)
    routes: list[Route | None] = field(default_factory=list)
    """The route told with each of :attr:`states` (same index)."""
    deliveries: list[tuple[Message, str, Route | None]] = field(default_factory=list)
    """``(message, recipient, route)`` of each ``delivery_state_changed``, in order."""
    groups: list[tuple[GroupState, bool]] = field(default_factory=list)
    """``(state, left)`` of each ``group_changed``, in order."""
    withdrawn: list[tuple[Message, str]] = field(default_factory=list)
    """``(message, reason)`` of each ``message_withdrawn``, in order."""
    presence: list[frozenset[str]] = field(default_factory=list)
    statuses: list[tuple[RegistryStatus, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    identities: list[tuple[str, str, bytes]] = field(default_factory=list)
    """``(name, "changed" | "trusted", key)`` in order."""
    requests: list[str] = field(default_factory=list)
    transfers: list[tuple[Transfer, float]] = field(default_factory=list)
    """``(transfer, rate)`` of each ``transfer_changed``, in order."""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def message_received(self, message: Message) -> None:
        self.received.append(message)
        self._changed.set()

    def message_state_changed(self, message: Message, route: Route | None = None) -> None:
        self.states.append(message)
        self.routes.append(route)
        self._changed.set()

    def delivery_state_changed(
        self, message: Message, recipient: str, route: Route | None = None
    ) -> None:
        self.deliveries.append((message, recipient, route))
        self._changed.set()

    def group_changed(self, group: GroupState, left: bool) -> None:
        self.groups.append((group, left))
        self._changed.set()

    def message_withdrawn(self, message: Message, reason: str) -> None:
        self.withdrawn.append((message, reason))
        self._changed.set()

    def transfer_changed(self, transfer: Transfer, rate: float) -> None:
        self.transfers.append((transfer, rate))
        self._changed.set()

    def presence_changed(self, online: frozenset[str]) -> None:
        self.presence.append(online)
        self._changed.set()

    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None:
        self.statuses.append((status, detail))
        self._changed.set()

    def error(self, code: str, text: str) -> None:
        self.errors.append((code, text))
        self._changed.set()

    def identity_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None:
        self.identities.append((name, "changed", key))
        self._changed.set()

    def message_request(self, name: str) -> None:
        self.requests.append(name)
        self._changed.set()

    def identity_trusted(self, name: str, key: bytes) -> None:
        self.identities.append((name, "trusted", key))
        self._changed.set()

    def latest_state(self, message_id: object) -> Message | None:
        return next((m for m in reversed(self.states) if m.id == message_id), None)

    def latest_route(self, message_id: object) -> Route | None:
        """The route told with the latest state of the message."""
        return next(
            (
                r
                for m, r in zip(reversed(self.states), reversed(self.routes), strict=True)
                if m.id == message_id
            ),
            None,
        )

    def latest_delivery(self, message_id: object, recipient: str) -> Message | None:
        """The latest state told of the message's delivery to ``recipient`` (a group's)."""
        return next(
            (m for m, r, _ in reversed(self.deliveries) if m.id == message_id and r == recipient),
            None,
        )

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``condition()`` holds, re-checking after every event; TimeoutError after
        ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()
