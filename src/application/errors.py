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
    """No session with the peer. ``cause`` says why, in a word of the connection doctor:
    ``refused``, ``timeout``, ``key_mismatch``, ``unreachable`` (no route at all), ``relay_off``,
    ``relay_full``, ``relay_limit``, ``registry_unreachable`` or ``lost`` (a session broke)."""

    code = "peer_unreachable"

    def __init__(self, text: str, cause: str = "lost") -> None:
        super().__init__(text)
        self.cause = cause


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


class RegistryKeyChanged(ChatError):
    """The registry proved a key other than the one pinned for its address."""

    code = "registry_key_changed"


class IdentityChanged(ChatError):
    """A contact shows another key than the one pinned; nothing moves until the user accepts."""

    code = "identity_changed"


class PeerRefused(ChatError):
    """The peer's client refused to talk to us; ``reason`` is its code (``identity_changed``
    when it has not accepted our key, ``over_quota``...)."""

    code = "peer_refused"

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason


class UnknownContact(ChatError):
    code = "unknown_contact"


class SafetyNumberMismatch(ChatError):
    code = "safety_number_mismatch"


class FingerprintMismatch(ChatError):
    code = "fingerprint_mismatch"


class VerificationRequired(ChatError):
    """A verified contact's new key needs the safety number compared again, not just trust."""

    code = "verification_required"


class FileProblem(ChatError):
    """A file cannot be read or written (missing, not a regular file, changed, no access)."""

    code = "file_problem"


class FileGone(FileProblem):
    """A file offered is missing, or shorter than when it was offered: it will not come back as
    it was (other problems reading it may pass)."""


class DiskFull(ChatError):
    """No room to write a received file; the transfer pauses until there is."""

    code = "disk_full"


class TransferNotFound(ChatError):
    code = "unknown_transfer"


class FileRefused(ChatError):
    """The sender of a file will not hand (more of) it over; ``reason`` is its code:
    ``unknown_transfer``, ``cancelled``, ``changed`` (the file is gone or changed since it
    was offered), ``busy`` (too many requests at once: ask again), ``internal`` (the sender
    failed to answer, e.g. its disk: ask again later)."""

    code = "file_refused"

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason


class WatchLimit(ChatError):
    """The registry will not watch more names for one client (or in all)."""

    code = "watch_limit"
