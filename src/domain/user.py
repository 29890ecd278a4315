"""Users and the rules for their names."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Annotated

from precis_i18n import get_profile
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chinwag.domain.errors import InvalidUsername

MAX_USERNAME_LENGTH = 32
"""The longest username, in code points after normalisation."""

_PROFILE = get_profile("UsernameCaseMapped")


@lru_cache(maxsize=4096)
def normalize_username(raw: str) -> str:
    """Return the one canonical spelling of a username, or raise :class:`InvalidUsername`.

    The rules are PRECIS ``UsernameCaseMapped`` (RFC 8265): width-mapped, lower-cased, NFC, only
    letters, digits and printable ASCII symbols, no spaces, no control, format or bidi-override
    characters, and the bidi rule for right-to-left names. So ``Alice`` and ``ALICE`` are one user,
    and ``"alice\\u202e"`` is refused rather than rendered backwards.

    Results are cached: the same few names are checked for every message on the wire.
    """
    if not isinstance(raw, str):
        raise InvalidUsername("a username must be text")
    candidate = raw.strip()
    if not candidate:
        raise InvalidUsername("a username cannot be empty")
    try:
        name: str = _PROFILE.enforce(candidate)
    except UnicodeError as exc:
        raise InvalidUsername(
            f"{_printable(candidate)!r} is not a valid username: use letters, digits and "
            "symbols such as . _ - (no spaces or invisible characters)"
        ) from exc
    if len(name) > MAX_USERNAME_LENGTH:
        raise InvalidUsername(f"a username has at most {MAX_USERNAME_LENGTH} characters")
    scripts = _letter_scripts(name)
    others = scripts - _SCRIPTS_THAT_MIX
    if len(others) > 1 or (others != scripts and others - {"LATIN"}):
        raise InvalidUsername(
            f"{_printable(name)!r} mixes letters of different scripts "
            f"({', '.join(sorted(scripts)).lower()}), which lets one name pose as another"
        )
    return name


# Japanese names legitimately mix these scripts (and Latin letters); no other mix is allowed.
_SCRIPTS_THAT_MIX = frozenset({"CJK", "HIRAGANA", "KATAKANA"})


def _letter_scripts(name: str) -> frozenset[str]:
    """The scripts of the letters in ``name``, named by the first word of their Unicode names."""
    return frozenset(
        unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
        for ch in name
        if unicodedata.category(ch).startswith("L")
    )


def _printable(text: str) -> str:
    """Text with control and format characters escaped, safe to put in an error message."""
    return "".join(
        ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else f"\\u{ord(ch):04x}"
        for ch in text[:64]
    )


Username = Annotated[str, AfterValidator(normalize_username)]
"""A username field: validated and normalised by :func:`normalize_username`."""


class User(BaseModel):
    """Somebody who can chat. Their name is the only identity until end-to-end keys arrive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Username


class PeerAddress(BaseModel):
    """Where a user accepts peer connections, as they registered it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1, max_length=255)
    port: int = Field(ge=0, le=65535, description="0 asks for any free port when listening")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
