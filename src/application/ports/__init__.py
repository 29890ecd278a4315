"""Ports: small protocols, one concern each, that adapters implement."""

from chinwag.application.ports.clock import Clock
from chinwag.application.ports.contact_repository import ContactRepository
from chinwag.application.ports.conversation_repository import ConversationRepository
from chinwag.application.ports.directory import (
    Directory,
    DirectoryListener,
    PeerLocation,
    RegistryStatus,
)
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.id_factory import IdFactory
from chinwag.application.ports.message_repository import MessageRepository, StateChange
from chinwag.application.ports.peer_transport import (
    DeliveryReport,
    InboundHandler,
    Intake,
    PeerTransport,
)

__all__ = [
    "ChatEvents",
    "Clock",
    "ContactRepository",
    "ConversationRepository",
    "DeliveryReport",
    "Directory",
    "DirectoryListener",
    "IdFactory",
    "InboundHandler",
    "Intake",
    "MessageRepository",
    "PeerLocation",
    "PeerTransport",
    "RegistryStatus",
    "StateChange",
]
