"""What the presenter works with: the signed-in session, the runner that runs its work off the
Tk thread, and the application events the network thread queues for it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar
from uuid import UUID

from chinwag.adapters.gui.preferences import Preferences
from chinwag.adapters.gui.view import Chat
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.ports.directory import RegistryStatus
from chinwag.application.ports.message_repository import Delivery
from chinwag.application.ports.peer_transport import Route
from chinwag.application.trust import SafetyNumber
from chinwag.application.use_cases.diagnose import PeerReport, SelfReport
from chinwag.application.use_cases.start_chat import StartedChat
from chinwag.domain.group import Change
from chinwag.domain.group_log import GroupState
from chinwag.domain.message import Message
from chinwag.domain.transfer import Transfer

T = TypeVar("T")


class ChatSession(Protocol):
    """One signed-in (or signing-in) user, as the presenter uses it. Methods run on the
    network's loop, through the :class:`Runner`."""

    async def sign_in(self) -> str:
        """Sign in; the user's name as the registry spells it. A session whose sign-in fails
        releases what it opened and is not used again."""
        ...

    async def send(self, to: str, body: str) -> Message: ...
    async def history(self, peer: str, limit: int, before: UUID | None) -> list[Message]: ...
    async def search(self, text: str) -> list[Message]: ...
    async def conversations(self) -> Sequence[Chat]:
        """Everybody the user talked to or added (their contacts), and the groups of their
        conversations, the most recent first."""
        ...

    async def unread(self) -> dict[str, Unread]:
        """The unread messages of each conversation, by the other person's name, as stored
        when signing in: what arrives after comes as events (the presenter counts those)."""
        ...

    async def mark_read(self, peer: str, upto: UUID) -> None:
        """The user saw ``peer``'s conversation up to the message ``upto``."""
        ...

    async def start_chat(self, name: str) -> StartedChat:
        """Add ``name`` as a contact and store the conversation (``UnknownUser`` if the registry
        never heard of them)."""
        ...

    async def find_online(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` names online that start with ``prefix``, sorted, asked of the
        registry (not only the people watched); ``RegistryUnavailable`` while out of reach."""
        ...

    async def load_preferences(self) -> Preferences: ...
    async def save_preferences(self, preferences: Preferences) -> None: ...
    async def own_fingerprint(self) -> str:
        """The fingerprint of the user's identity key."""
        ...

    async def safety_number(self, peer: str) -> SafetyNumber:
        """The safety number with ``peer`` (for their new key while a change waits)."""
        ...

    async def verify(self, peer: str, number: str) -> SafetyNumber:
        """Mark ``peer`` verified if ``number`` is the safety number (``SafetyNumberMismatch``
        if not); accepts a key change waiting for the user."""
        ...

    async def trust(self, peer: str, fingerprint: str) -> None:
        """Accept the new key of ``peer`` named by ``fingerprint``."""
        ...

    async def diagnose_self(self) -> SelfReport:
        """The connection doctor about the user: registry, listen address, reachable."""
        ...

    async def diagnose(self, peer: str) -> PeerReport:
        """The connection doctor about ``peer``: the path to them now, and why."""
        ...

    # -- groups ---------------------------------------------------------------------------------

    async def groups(self) -> list[tuple[GroupState, bool]]:
        """The groups the user is in, or was in (``True``: left, or removed)."""
        ...

    async def group_log(self, group: UUID) -> list[Change]:
        """The changes of ``group``'s membership, oldest first, as every member agrees on them
        (the canonical chain): what "alice added carol" lines are made of. ``UnknownGroup``
        for a group the user was never in (as for the history and the read marker)."""
        ...

    async def group_history(
        self, group: UUID, limit: int, before: UUID | None
    ) -> list[Message]: ...
    async def deliveries(self, messages: Sequence[UUID]) -> dict[UUID, list[Delivery]]:
        """The delivery of each of these group messages of the user to each member (at most a
        page of them: 500)."""
        ...

    async def group_unread(self) -> dict[UUID, Unread]:
        """As :meth:`unread`, for the groups."""
        ...

    async def mark_group_read(self, group: UUID, upto: UUID) -> None: ...
    async def post(self, group: UUID, body: str) -> Message:
        """Send ``body`` to every member of ``group``."""
        ...

    async def create_group(self, name: str, members: Sequence[str]) -> GroupState: ...
    async def add_member(self, group: UUID, member: str) -> GroupState: ...
    async def remove_member(self, group: UUID, member: str) -> GroupState: ...
    async def make_admin(self, group: UUID, member: str) -> GroupState: ...
    async def rename_group(self, group: UUID, name: str) -> GroupState: ...
    async def leave_group(self, group: UUID) -> None: ...

    async def sign_out(self) -> None: ...


SessionFactory = Callable[[str, str], ChatSession]
"""Makes the session of a username at a registry address; raises ``DomainError`` (or
``ValueError``) with a readable message when either cannot be used."""


class Runner(Protocol):
    """Runs network work off the Tk thread and calls back on it, in order."""

    def run(
        self,
        work: Callable[[], Awaitable[T]],
        done: Callable[[T], None],
        failed: Callable[[Exception], None],
    ) -> None: ...


@dataclass(frozen=True)
class Event:
    """An application event, as queued by the network thread for the presenter."""

    kind: str
    """``message``, ``state``, ``delivery``, ``group``, ``withdrawn``, ``presence``,
    ``registry``, ``error``, ``identity_changed``, ``identity_trusted``, ``message_request`` or
    ``transfer``."""
    message: Message | None = None
    online: frozenset[str] = frozenset()
    status: RegistryStatus | None = None
    text: str = ""
    """The registry's detail, an error's text, or why a message was ``withdrawn``."""
    name: str = ""
    """Whose key changed, or was accepted; who sent a message request; to which member a
    ``delivery`` is."""
    key: bytes = b""
    """Their new key (identity events)."""
    previous: bytes = b""
    """The key pinned before (``identity_changed``)."""
    verified: bool = False
    """The user had verified the previous key (``identity_changed``)."""
    route: Route | None = None
    """How an outgoing message travelled (``state``: delivered, or sent), when known."""
    group: GroupState | None = None
    """A ``group`` event: the group's state now."""
    left: bool = False
    """A ``group`` event: the user left the group, or was removed from it."""
    transfer: Transfer | None = None
    """A ``transfer`` event: a file transfer as it is now (offered, moved, made progress)."""
    rate: float = 0.0
    """A ``transfer`` event: its bytes per second over the last seconds."""
