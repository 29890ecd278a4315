"""Errors of the domain.

Every error has a stable ``code``: adapters map it to a wire error code and to user-facing text,
so the same refusal reads the same in the registry protocol, the peer protocol and the CLI.
"""


class DomainError(ValueError):
    """Base class of every rule the domain refuses to break."""

    code = "invalid"


class InvalidUsername(DomainError):
    code = "invalid_username"


class InvalidMessage(DomainError):
    code = "invalid_message"


class InvalidStateTransition(DomainError):
    code = "invalid_state"
