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


class InvalidChange(DomainError):
    """A change of a group's membership log that does not apply where it claims to (the base of
    every refusal of a change, so ``except InvalidChange`` catches them all)."""

    code = "invalid_change"


class NotAMember(InvalidChange):
    code = "not_a_member"


class NotAnAdmin(InvalidChange):
    code = "not_an_admin"


class GroupFull(InvalidChange):
    code = "group_full"


class InvalidSignature(InvalidChange):
    code = "invalid_signature"


class UnknownGroup(DomainError):
    code = "unknown_group"
