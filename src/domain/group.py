"""A group's identity and the signed changes its membership log is made of.

Pure data and encodings: the state they lead to and which change applies where are in
:mod:`group_log`. Every rule
here must give the same verdict on every member's machine, whatever its Python or Unicode
version, because members who disagree about one change disagree about the whole group from
there on. So group names are checked against fixed code point sets (not Unicode categories,
which change between versions), and the bytes a change is signed over are spelt out exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Final
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import to_json

from chinwag.domain.errors import DomainError, GroupFull
from chinwag.domain.identity import KEY_SIZE
from chinwag.domain.message import EARLIEST_TIME, LATEST_TIME
from chinwag.domain.user import Username

MAX_MEMBERS: Final = 256
"""Members of one group, admins included (the issue asks for at least 100)."""

MAX_ADMINS: Final = 16
"""Admins of one group: enough to share the work, few enough that everyone knows them."""

MAX_GROUP_NAME: Final = 64
"""The longest group name, in code points (so at most 256 bytes of UTF-8)."""

HASH_SIZE: Final = 32
"""Bytes of a change's hash (SHA-256), which is what ``prev`` and ``head`` hold."""

MAX_SIGNATURE: Final = 64
"""Bytes of a signature (an Ed25519 signature is 64)."""

MAX_VERSION: Final = 2**53 - 1
"""The largest version: the largest integer every JSON reader keeps exactly."""

CHANGE_CONTEXT: Final = b"chinwag-group-change:"
"""Prefix of the bytes a change is signed over, so that no signature of a change can pass for a
signature of anything else the identity key signs (``chinwag-noise-static-key:``)."""

GROUP_ID_CONTEXT: Final = b"chinwag-group-id:"
"""Prefix of the bytes a group's id is derived from (:func:`group_id_for`)."""

CHANGE_FORMAT: Final = "chinwag.group.change/1"
"""The ``type`` field of the signed bytes: a later format signs different bytes."""


class InvalidGroupName(DomainError):
    code = "invalid_group_name"


# Fixed sets, not Unicode categories: the verdict must not depend on the Unicode version.
_FORBIDDEN_RANGES: Final = (
    (0x0000, 0x001F),  # C0 controls (newline, tab, escape...)
    (0x007F, 0x009F),  # DEL and C1 controls
    (0x00AD, 0x00AD),  # soft hyphen
    (0x061C, 0x061C),  # Arabic letter mark (bidi)
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x200B, 0x200B),  # zero-width space
    (0x200E, 0x200F),  # left-to-right and right-to-left marks
    (0x2028, 0x202E),  # line and paragraph separators, bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated formats
    (0xD800, 0xDFFF),  # surrogates (a str may hold a lone one; UTF-8 cannot)
    (0xFEFF, 0xFEFF),  # byte order mark / zero-width no-break space
    (0xFFF9, 0xFFFB),  # interlinear annotations
    (0xFFFE, 0xFFFF),  # noncharacters
    (0xE0000, 0xE007F),  # tags: invisible ASCII riding along
)
_SPACES: Final = (
    " \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000"
)
"""Unicode White_Space less the controls and separators refused above (a stable property)."""
_INVISIBLE: Final = frozenset(
    _SPACES
    + "\u200c\u200d"  # zero-width non-joiner and joiner (allowed inside emoji and scripts)
    + "\u115f\u1160\u3164\uffa0\u2800"  # Hangul fillers, blank braille pattern
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))  # variation selectors
    + "".join(chr(c) for c in range(0x0300, 0x0370))  # combining diacritical marks
)
"""Characters that draw nothing on their own: a name made only of these is blank."""


def _forbidden(ch: str) -> bool:
    point = ord(ch)
    return any(low <= point <= high for low, high in _FORBIDDEN_RANGES)


def validate_group_name(raw: str) -> str:
    """``raw`` without surrounding spaces if it may name a group, else :class:`InvalidGroupName`.

    A name is shown in every member's list and in lines such as "alice renamed the group to
    ...", so it must draw something, fit in :data:`MAX_GROUP_NAME` code points, and hold no
    control, bidi or invisible format character that could reorder or hide what is shown.
    Emoji (with joiners and variation selectors), accents and every script are welcome.
    """
    if not isinstance(raw, str):
        raise InvalidGroupName("a group name must be text")
    name = raw.strip(_SPACES)
    bad = next((ch for ch in name if _forbidden(ch)), None)
    if bad is not None:
        raise InvalidGroupName(
            f"a group name cannot hold control, bidi or invisible characters (U+{ord(bad):04X})"
        )
    if all(ch in _INVISIBLE for ch in name):
        raise InvalidGroupName("a group name cannot be empty (or only invisible characters)")
    if len(name) > MAX_GROUP_NAME:
        raise InvalidGroupName(
            f"a group name has at most {MAX_GROUP_NAME} characters; this one has {len(name)}"
        )
    return name


GroupName = Annotated[str, AfterValidator(validate_group_name)]
"""A group name field: checked, and trimmed of surrounding spaces, by
:func:`validate_group_name`."""


class Member(BaseModel):
    """A member of a group: a name and the identity key it had when it was added.

    The key is the log's word, signed by the admin who added it, not the registry's: an admin
    could name anybody with any key. So a member's client believes it only as it believes any
    key (``application.groups.receive``): a name never seen is pinned to it; a key that is not
    the one pinned for the name is a key change, which holds that member's messages until the
    user accepts it; and a log giving the user a key that is not their own is not joined.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Username
    key: bytes = Field(min_length=KEY_SIZE, max_length=KEY_SIZE)


class ChangeKind(StrEnum):
    CREATE = "create"
    ADD = "add"
    REMOVE = "remove"
    ADMIN = "admin"
    LEAVE = "leave"
    RENAME = "rename"


_FIELDS: Final[Mapping[ChangeKind, frozenset[str]]] = {
    ChangeKind.CREATE: frozenset({"name", "key", "members"}),
    ChangeKind.ADD: frozenset({"member", "key"}),
    ChangeKind.REMOVE: frozenset({"member"}),
    ChangeKind.ADMIN: frozenset({"member"}),
    ChangeKind.LEAVE: frozenset(),
    ChangeKind.RENAME: frozenset({"name"}),
}
"""The fields each kind carries; the others stay empty (but those of :data:`_OPTIONAL`)."""

_OPTIONAL: Final[Mapping[ChangeKind, frozenset[str]]] = {
    ChangeKind.REMOVE: frozenset({"upto"}),
    ChangeKind.LEAVE: frozenset({"upto"}),
}
"""Fields a kind may carry: the departing member's last message (see :attr:`Change.upto`)."""


class Change(BaseModel):
    """One signed change of a group's membership log.

    Every change names its group, its ``version`` (the previous change's + 1; the create is 0)
    and ``prev``, the :meth:`hash` of the change it follows (empty for the create), so changes
    form a tree rooted at the create. ``author`` signs :meth:`signed_bytes` with its identity
    key: the key the group's state gives it, or for the create the ``key`` the create carries.

    The kinds and their fields:

    - ``create``: ``name``, ``key`` (the creator's), ``members`` (the first members but the
      creator, with their keys). The group's id is derived from it (:func:`group_id_for`).
    - ``add``: ``member`` and its ``key``. ``remove``, ``admin``: ``member``.
    - ``leave``: nothing (the author leaves). ``rename``: ``name``.
    - ``remove`` and ``leave`` may carry ``upto``: the sequence number of the departing member's
      last message in the group that counts (the one the change's author had stored when it
      wrote the change). Every member refuses the departing member's later ones, whatever
      membership version they claim: without it, a removed member (or one that does not know
      it was removed) could go on posting under a version from before its removal.

    ``signature`` is empty until :meth:`signed` fills it in.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: UUID
    kind: ChangeKind
    version: int = Field(ge=0, le=MAX_VERSION)
    prev: bytes = Field(max_length=HASH_SIZE)
    author: Username
    at: AwareDatetime
    member: Username | None = None
    key: bytes | None = Field(default=None, min_length=KEY_SIZE, max_length=KEY_SIZE)
    name: GroupName | None = None
    members: tuple[Member, ...] = Field(default=(), max_length=MAX_MEMBERS - 1)
    upto: int | None = Field(default=None, ge=0, le=MAX_VERSION)
    signature: bytes = Field(default=b"", max_length=MAX_SIGNATURE)

    @field_validator("at")
    @classmethod
    def _time_rules(cls, moment: datetime) -> datetime:
        if not EARLIEST_TIME <= moment < LATEST_TIME:
            raise ValueError(
                f"a change's time must be from {EARLIEST_TIME:%Y-%m-%d} and before "
                f"{LATEST_TIME:%Y-%m-%d} (UTC)"
            )
        return moment.astimezone(UTC)

    @model_validator(mode="after")
    def _shape(self) -> Change:
        wanted = _FIELDS[self.kind]
        present = {
            field
            for field, value in (
                ("member", self.member),
                ("key", self.key),
                ("name", self.name),
                ("members", self.members or None),
                ("upto", self.upto),
            )
            if value is not None
        }
        missing = wanted - present - {"members"}  # a group may start with its creator alone
        if missing or present - wanted - _OPTIONAL.get(self.kind, frozenset()):
            raise ValueError(
                f"a {self.kind} change carries {', '.join(sorted(wanted)) or 'no field'}"
                f"{' (members may be empty)' if 'members' in wanted else ''}; this one has "
                f"{', '.join(sorted(present)) or 'none'}"
            )
        if self.kind is ChangeKind.CREATE:
            if self.version != 0 or self.prev:
                raise ValueError("a create is version 0 and follows nothing (empty prev)")
            names = [self.author, *(m.name for m in self.members)]
            if len(set(names)) != len(names):
                raise ValueError("a create lists each member once (the creator is not listed)")
        elif self.version == 0 or len(self.prev) != HASH_SIZE:
            raise ValueError(f"a {self.kind} change has a version from 1 and a 32-byte prev")
        return self

    @classmethod
    def create(
        cls, *, author: str, key: bytes, name: str, members: Mapping[str, bytes], at: datetime
    ) -> Change:
        """An unsigned create of a new group, with its derived id; :class:`GroupFull` if the
        creator and ``members`` (in that order of seniority) are more than :data:`MAX_MEMBERS`.
        """
        if len(members) + 1 > MAX_MEMBERS:
            raise GroupFull(
                f"a group has at most {MAX_MEMBERS} members; this one would have {len(members) + 1}"
            )
        fields: dict[str, Any] = {
            "kind": ChangeKind.CREATE,
            "version": 0,
            "prev": b"",
            "author": author,
            "at": at,
            "key": key,
            "name": name,
            "members": tuple(Member(name=n, key=k) for n, k in members.items()),
        }
        draft = cls(group=UUID(int=0), **fields)
        return cls(group=group_id_for(draft), **fields)

    def signed(self, signature: bytes) -> Change:
        """This change carrying ``signature`` (of :meth:`signed_bytes`)."""
        return type(self)(**{**dict(self), "signature": signature})

    def _content(self, *, with_group: bool = True) -> dict[str, Any]:
        content: dict[str, Any] = {
            "type": CHANGE_FORMAT,
            "kind": self.kind.value,
            "version": self.version,
            "prev": self.prev.hex(),
            "author": self.author,
            "at": self.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        if with_group:
            content["group"] = str(self.group)
        if self.member is not None:
            content["member"] = self.member
        if self.key is not None:
            content["key"] = self.key.hex()
        if self.name is not None:
            content["name"] = self.name
        if self.kind is ChangeKind.CREATE:
            content["members"] = [{"name": m.name, "key": m.key.hex()} for m in self.members]
        if self.upto is not None:
            content["upto"] = self.upto
        return content

    def signed_bytes(self) -> bytes:
        """The bytes the author signs: :data:`CHANGE_CONTEXT` then one canonical JSON object.

        The object holds every field but the signature, under the field's name: ``type``
        (:data:`CHANGE_FORMAT`), ``kind``, ``version`` (an integer), ``group`` (the UUID in
        lowercase hex with hyphens), ``prev`` (lowercase hex, ``""`` for a create),
        ``author``, ``at`` (UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``), and those of the kind:
        ``member``, ``key`` (lowercase hex), ``name``, ``upto`` (an integer, when given), and
        for a create ``members``, an array of ``{"key", "name"}`` objects in the change's order.
        Names are as normalised.
        Canonical JSON is :func:`canonical_json`: keys sorted, no spaces, UTF-8.
        """
        return _signed_bytes(self)

    def hash(self) -> bytes:
        """SHA-256 of :meth:`signed_bytes` then the signature: what ``prev`` and ``head`` hold.

        The signature is part of it, so a copy with a forged signature is a different change
        and cannot stand in for the genuine one. That relies on a strict verifier (Ed25519 as
        ``cryptography`` checks it admits one signature per message and key): otherwise anyone
        could re-sign a valid change into one with another hash.
        """
        return hashlib.sha256(self.signed_bytes() + self.signature).digest()


@lru_cache(maxsize=1024)
def _signed_bytes(change: Change) -> bytes:
    """Cached: the canonical chain asks for the same changes' bytes and hashes again and
    again. Keyed by the change's fields (a change is frozen), so an equal change hits."""
    return CHANGE_CONTEXT + canonical_json(change._content())


def group_id_for(create: Change) -> UUID:
    """The id a group created by ``create`` has: derived from everything the create says.

    A random id would let anyone who learns it write another create with the same id (signed
    with their own key) and, with a smaller hash, take the group over. Derived, a second create
    with the same id needs a SHA-256 second preimage; and the creator's signature covers it.
    The id is an RFC 9562 version 8 UUID: the first 16 bytes of SHA-256 of
    :data:`GROUP_ID_CONTEXT` and the create's canonical JSON without ``group``, with the
    version and variant bits set.
    """
    digest = bytearray(
        hashlib.sha256(
            GROUP_ID_CONTEXT + canonical_json(create._content(with_group=False))
        ).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x80
    digest[8] = (digest[8] & 0x3F) | 0x80
    return UUID(bytes=bytes(digest))


def canonical_json(value: Any) -> bytes:
    """``value`` (objects with text keys, arrays, text, integers) as canonical JSON, UTF-8.

    Keys sorted by code point, no whitespace, text as is but for ``"``, ``\\`` and control
    characters (``\\b \\f \\n \\r \\t``, others ``\\u00XX``): byte for byte what Python's
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` writes,
    and RFC 8785 (JCS) for what a change holds (ASCII keys, integers below 2**53). Written by
    pydantic-core's encoder (the core imports no ``json``) over the value with its keys put in
    order: every member signs and checks these bytes for every group message, so they are made
    in native code (8 times faster than building the text here).
    """
    return to_json(_ordered(value))


def _ordered(value: Any) -> Any:
    """``value`` with every object's keys in order; TypeError for what canonical JSON here does
    not hold (booleans, nulls, floats, other types, non-text keys)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        raise TypeError("canonical JSON here holds no booleans or nulls")
    if isinstance(value, int):
        return value
    if isinstance(value, list | tuple):
        return [_ordered(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("canonical JSON objects have text keys")
        return {key: _ordered(value[key]) for key in sorted(value)}
    raise TypeError(f"canonical JSON cannot hold {type(value).__name__}")
