"""Why the registry refuses a request, in the words of the wire (``error.code``), so that the
use cases answer in the registry's own terms and ``answers.py`` maps each to its ``ErrorCode``
one to one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RefusalCode(StrEnum):
    """Why a request was refused; each value is the ``code`` of the ``error`` frame."""

    NAME_TAKEN = "name_taken"
    OFFLINE = "offline"
    UNKNOWN_USER = "unknown_user"
    INVALID_USERNAME = "invalid_username"
    INVALID_ADDRESS = "invalid_address"
    RATE_LIMITED = "rate_limited"
    BUSY = "busy"
    ALREADY_REGISTERED = "already_registered"
    UNSUPPORTED_VERSION = "unsupported_version"
    NOT_REGISTERED = "not_registered"
    RELAY_OFF = "relay_off"
    RELAY_FULL = "relay_full"
    RELAY_LIMIT = "relay_limit"
    WATCH_LIMIT = "watch_limit"
    BAD_REQUEST = "bad_request"


class KickCode(StrEnum):
    """Why a registration is ended by the registry rather than by its client (the ``code`` of
    the last frame its connection gets): not an answer to a request of its own, so not a
    :class:`RefusalCode`."""

    REPLACED = "replaced"
    """The same key signed in with that name again, from another connection."""
    RELEASED = "released"
    """The operator released the name and another key holds it now."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request refused: the code for programs and a sentence for people."""

    code: RefusalCode
    message: str
