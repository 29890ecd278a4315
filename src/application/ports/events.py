from typing import Protocol

from chinwag.application.ports.directory import DirectoryListener
from chinwag.application.ports.peer_transport import Route
from chinwag.domain.group_log import GroupState
from chinwag.domain.message import Message
from chinwag.domain.transfer import Transfer


class ChatEvents(DirectoryListener, Protocol):
    """The output port: what the user must be told. Views and the CLI implement it.

    Calls arrive on the network's event loop; a GUI must hand them to its own thread.
    """

    def message_received(self, message: Message) -> None: ...

    def message_state_changed(self, message: Message, route: Route | None = None) -> None:
        """An outgoing message was created (``pending``) or changed state. ``route``: how it
        travelled (``delivered``), or how the session it was sent on reaches the recipient
        (``sent``), when known."""
        ...

    def delivery_state_changed(
        self, message: Message, recipient: str, route: Route | None = None
    ) -> None:
        """The delivery of a group message to one member changed state: ``message`` carries
        that delivery's state and reason (its summary comes as ``message_state_changed``)."""
        ...

    def group_changed(self, group: GroupState, left: bool) -> None:
        """A group this user is in (or was just added to) changed, or this user left it or was
        removed from it (``left``): ``group`` is its state now."""
        ...

    def message_withdrawn(self, message: Message, reason: str) -> None:
        """A received group message was taken out of the history: the group's log says it
        does not count (``reason``, for people: e.g. "sent after carol was removed from
        Friends"). ``message`` is as it was stored."""
        ...

    def error(self, code: str, text: str) -> None: ...

    def identity_changed(self, name: str, key: bytes, previous: bytes, verified: bool) -> None:
        """A pinned contact shows another key (``verified``: the old one had been verified)."""
        ...

    def message_request(self, name: str) -> None:
        """Somebody the user never answered sent messages (a message request): they are shown,
        with a stranger's smaller quota, until the user writes back."""
        ...

    def identity_trusted(self, name: str, key: bytes) -> None:
        """The user accepted ``key`` for ``name``; what waited for it goes out now."""
        ...

    def transfer_changed(self, transfer: Transfer, rate: float) -> None:
        """A file was offered (either way), or its transfer moved or made progress: progress
        comes at most a few times a second per transfer, every change of state at once.
        ``rate``: bytes per second over the last seconds (0 when nothing moves)."""
        ...
