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
from chinwag.application.ports.group_repository import GroupRepository
from chinwag.application.ports.id_factory import IdFactory
from chinwag.application.ports.message_repository import Delivery, MessageRepository, StateChange
from chinwag.application.ports.peer_transport import (
    DeliveryReport,
    InboundHandler,
    Incoming,
    Intake,
    PeerTransport,
)
from chinwag.application.ports.signatures import Signatures

__all__ = [
    "ChatEvents",
    "Clock",
    "ContactRepository",
    "ConversationRepository",
    "Delivery",
    "DeliveryReport",
    "Directory",
    "DirectoryListener",
    "GroupRepository",
    "IdFactory",
    "InboundHandler",
    "Incoming",
    "Intake",
    "MessageRepository",
    "PeerLocation",
    "PeerTransport",
    "RegistryStatus",
    "Signatures",
    "StateChange",
]
