"""What the terminal client prints: the ``ChatEvents`` port plus answers to commands, and
what both of its outputs share.

:class:`~chinwag.adapters.console.json_output.JsonOutput` writes one JSON object per line (for
scripts and tests); :class:`~chinwag.adapters.console.text_output.TextOutput` writes lines for
people. Both write to stdout only; logs go to stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Literal, Protocol
from uuid import UUID

from chinwag.application.files.status import TransferStatus
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.peer_transport import Route
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.domain.filename import safe_filename
from chinwag.domain.group_log import GroupState
from chinwag.domain.message import Message
from chinwag.domain.transfer import Transfer
from chinwag.domain.user import PeerAddress


class ConsoleOutput(Protocol):
    """The events port, and the answers the console commands print."""

    def message_received(self, message: Message) -> None: ...
    def message_state_changed(self, message: Message, route: Route | None = None) -> None: ...
    def delivery_state_changed(
        self, message: Message, recipient: str, route: Route | None = None
    ) -> None: ...
    def group_changed(self, group: GroupState, left: bool) -> None: ...
    def message_withdrawn(self, message: Message, reason: str) -> None: ...
    def presence_changed(self, online: frozenset[str]) -> None: ...
    def registry_status_changed(self, status: RegistryStatus, detail: str) -> None: ...
    def error(self, code: str, text: str) -> None: ...
    def identity_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None: ...
    def identity_trusted(self, name: str, key: bytes) -> None: ...
    def message_request(self, name: str) -> None: ...
    def ready(self, user: str, listen: PeerAddress | None, fingerprint: str) -> None: ...
    def whoami(self, user: str, fingerprint: str) -> None: ...
    def safety_number(self, name: str, number: str, fingerprint: str, verified: bool) -> None: ...
    def online(self, online: Sequence[str]) -> None: ...
    def found_online(self, prefix: str, names: Sequence[str], limit: int) -> None:
        """Answer to ``who`` with a prefix: the names online that start with it (sorted, at
        most ``limit``)."""
        ...

    def watching(
        self, cmd: Literal["watch", "unwatch"], names: Sequence[str], watched: Collection[str]
    ) -> None:
        """Answer to ``watch``/``unwatch``: the names it was about, and the whole watch list."""
        ...

    def history(self, with_user: str, messages: Sequence[Message]) -> None: ...
    def group_history(self, group: UUID, messages: Sequence[Message]) -> None: ...
    def groups(self, groups: Sequence[tuple[GroupState, bool]]) -> None:
        """Answer to ``groups``: each group with whether this user left it (or was removed)."""
        ...

    def search(self, text: str, messages: Sequence[Message]) -> None: ...
    def info(self, text: str) -> None: ...
    def doctor_self(self, report: SelfReport) -> None: ...
    def doctor_peer(self, report: PeerReport) -> None: ...
    def transfer_changed(self, transfer: Transfer, rate: float) -> None: ...
    def transfer(self, transfer: Transfer) -> None:
        """Answer to a file command: the transfer as the command left it (printed unless
        the change was just told by ``transfer_changed``)."""
        ...

    def transfers(self, statuses: list[TransferStatus]) -> None:
        """Answer to ``transfers``."""
        ...


def message_fields(message: Message) -> dict[str, Any]:
    """A message as the JSON events carry it: a group message has its ``"group"`` and a
    ``"to"`` of null (its members' deliveries are status events)."""
    fields: dict[str, Any] = {"id": str(message.id)}
    if message.group_id is not None:
        fields["group"] = str(message.group_id)
    fields |= {
        "from": message.sender,
        "to": message.recipient,
        "body": message.body,
        "sent_at": message.sent_at.isoformat(),
        "state": message.state.value,
    }
    if message.reason:
        fields["reason"] = message.reason
    if message.file is not None:  # a file offer: its transfer has the message's id
        offer = message.file
        fields["file"] = {
            "name": safe_filename(offer.name),
            "size": offer.size,
            "sha256": offer.sha256.hex(),
            "type": offer.mime,
        }
    return fields


class ReadyGate:
    """Holds what the network reports during sign-in until ``ready`` is out, so that ``ready``
    always comes first; refusals are never held."""

    def __init__(self) -> None:
        self._held: list[Callable[[], None]] | None = []

    def _after_ready(self, show: Callable[[], None]) -> None:
        if self._held is None:
            show()
        else:
            self._held.append(show)

    def _release(self) -> None:
        held, self._held = self._held or [], None
        for show in held:
            show()


def one_line(text: str | None) -> str:
    """``text`` for a field shown on one line: its newlines visible as ``\\n``, so text from a
    peer (a refusal's reason) cannot start a line that looks like a message."""
    return (text or "").replace("\r", "\\r").replace("\n", "\\n")
