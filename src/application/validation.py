"""How a refused value is told to people: one wording for every place that validates input."""

from __future__ import annotations

from pydantic import ValidationError

from chinwag.domain.errors import DomainError


def first_error(exc: ValidationError) -> str:
    """The first thing wrong with a value, as ``field.path: what`` (the path left out when the
    value as a whole is wrong): short, and enough for the one who sent it to fix it."""
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


def refusal_text(exc: ValidationError | DomainError) -> str:
    """What a rule refused, for people: the first error of a validation, else the rule's text."""
    return first_error(exc) if isinstance(exc, ValidationError) else str(exc)
