"""Errors the use cases raise when the world refuses; each has a stable wire/CLI ``code``."""

from chinwag.domain.errors import DomainError


class ChatError(DomainError):
    """Something the user asked for cannot be done right now; the message says why."""

    code = "error"


class NotSignedIn(ChatError):
    code = "not_signed_in"


class NameTaken(ChatError):
    code = "name_taken"


class UnknownUser(ChatError):
    code = "unknown_user"


class RegistryUnavailable(ChatError):
    code = "registry_unavailable"


class PeerUnreachable(ChatError):
    code = "peer_unreachable"


class AddressInUse(ChatError):
    code = "address_in_use"


class MessageNotFound(ChatError):
    code = "not_found"


class HistoryUnavailable(ChatError):
    """The local history cannot be read or written (damaged, read-only, disk full...)."""

    code = "storage"


class UserOffline(ChatError):
    """The registry knows the name, but nobody of that name is online now."""

    code = "offline"


class OutboxFull(ChatError):
    code = "outbox_full"
