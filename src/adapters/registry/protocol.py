"""The registry wire protocol, versions 2 and 3: data transfer objects, error codes and limits.

Every frame is one UTF-8 JSON object framed by :mod:`chinwag.adapters.wire.codec`. Only the
server's first frame (``welcome``) travels in clear; everything after it is inside the Noise
session of :mod:`chinwag.adapters.secure.channel`, whose handshake proves both ends' keys. These
models are the wire format only; the domain's rules (what a username is) are applied by the server.
Requests are strict (unknown fields, wrong JSON types and unknown ``type`` values are refused);
server messages are read tolerantly (unknown fields are ignored), so a server may add optional
fields without a new protocol version. See ``docs/protocol.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chinwag.domain.registry.presence import (
    MAX_REGISTER_WATCH,
    MAX_WATCH_REQUEST,
    MAX_WHO_LIMIT,
)

PROTOCOL_VERSION = 2
"""The protocol version this code speaks: in the clear ``welcome`` and in ``register``. Version 1
(no encryption, names not bound to keys) is refused with ``unsupported_version``."""

REGISTER_VERSIONS = (2, 3)
"""The ``register`` versions this code speaks (``welcome.versions``). A version 3 registration
is told about the names it watches (``watch``) and may search who is online (``who``); a version
2 one is told about everyone, as before. The channel (prologue, ``welcome.version``) stays 2."""


def register_version(offered: Iterable[int] | None, channel: int) -> int:
    """The ``register`` version to use with a registry whose welcome offered ``offered``
    (None: an older registry, which speaks only its ``channel`` version)."""
    if offered is None:
        return channel
    common = set(offered) & set(REGISTER_VERSIONS)
    return max(common) if common else channel


PROLOGUE = b"chinwag registry protocol 2\n"
"""Mixed into the Noise handshake with the clear ``welcome`` frame, so a changed welcome fails
the handshake."""

MAX_REQUEST_FRAME = 16 * 1024
"""The largest frame a client may send to the server, in bytes of payload."""

MAX_SERVER_FRAME = 4 * 1024 * 1024
"""The largest frame a client accepts from the server (presence snapshots grow with users)."""

MAX_NAME_FIELD = 256
"""The longest username field accepted before normalisation (the domain then allows 32)."""

MAX_RID = 2**63 - 1
"""The largest request id."""

Rid = Annotated[int, Field(ge=0, le=MAX_RID)]
NameField = Annotated[str, Field(max_length=MAX_NAME_FIELD)]


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` frame."""

    BAD_REQUEST = "bad_request"
    FRAME_TOO_LARGE = "frame_too_large"
    INVALID_USERNAME = "invalid_username"
    NAME_TAKEN = "name_taken"
    UNKNOWN_USER = "unknown_user"
    OFFLINE = "offline"
    NOT_REGISTERED = "not_registered"
    ALREADY_REGISTERED = "already_registered"
    UNSUPPORTED_VERSION = "unsupported_version"
    IDLE_TIMEOUT = "idle_timeout"
    REPLACED = "replaced"
    RELEASED = "released"
    RATE_LIMITED = "rate_limited"
    BUSY = "busy"
    INVALID_ADDRESS = "invalid_address"
    RELAY_OFF = "relay_off"
    """This registry does not relay (``--no-relay``)."""
    RELAY_FULL = "relay_full"
    """The registry carries as many relay sessions as it will, in all or to that peer."""
    RELAY_LIMIT = "relay_limit"
    """This client has as many relay sessions open as one client may."""
    RELAY_UNKNOWN = "relay_unknown"
    """No relay session by that id waits for this key (expired, or never offered to it)."""
    WATCH_LIMIT = "watch_limit"
    """The watch would pass what one connection (or the registry) may watch; nothing applied."""


# -- client to server ------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Register(_Request):
    """Claim ``user`` for this connection's identity key, reachable at ``host``:``port``.

    The first key to register a name owns it for good; the same key may register it again from
    anywhere (replacing its older connection), another key is refused ``name_taken``."""

    type: Literal["register"] = "register"
    rid: Rid | None = None
    version: int
    user: str = Field(max_length=MAX_NAME_FIELD)
    port: int | None = Field(default=None, ge=1, le=65535)
    """None (or left out): this client accepts no connections; only the relay reaches it."""
    host: str | None = Field(default=None, min_length=1, max_length=255)
    watch: list[NameField] | None = Field(default=None, max_length=MAX_REGISTER_WATCH)
    """Version 3: names to watch from the start (more with ``watch``)."""


class Unregister(_Request):
    """Give the name up; the connection stays open."""

    type: Literal["unregister"] = "unregister"
    rid: Rid | None = None


class ListOnline(_Request):
    """Ask who is online."""

    type: Literal["list"] = "list"
    rid: Rid | None = None


class Watch(_Request):
    """Version 3: be told when these names come and go (answered ``watched``). Names that
    cannot be usernames are skipped and listed in ``invalid``."""

    type: Literal["watch"] = "watch"
    rid: Rid | None = None
    names: list[NameField] = Field(max_length=MAX_WATCH_REQUEST)


class Unwatch(_Request):
    """Version 3: stop being told about these names (answered ``unwatched``)."""

    type: Literal["unwatch"] = "unwatch"
    rid: Rid | None = None
    names: list[NameField] = Field(max_length=MAX_WATCH_REQUEST)


class Who(_Request):
    """Version 3: the names online that start with ``prefix`` (case-mapped like a name), sorted,
    at most ``limit``, after ``after`` (paging); answered ``online`` with ``prefix`` and
    ``more``."""

    type: Literal["who"] = "who"
    rid: Rid | None = None
    prefix: str = Field(max_length=MAX_NAME_FIELD)
    limit: int | None = Field(default=None, ge=1, le=MAX_WHO_LIMIT)
    after: NameField | None = None


class Lookup(_Request):
    """Ask where ``user`` listens."""

    type: Literal["lookup"] = "lookup"
    rid: Rid | None = None
    user: str = Field(max_length=MAX_NAME_FIELD)


class Relay(_Request):
    """Ask for a relayed session to ``to`` (registered here): answered ``relay_ready`` with the
    session id both ends join on a new connection of their own (``relay_join``)."""

    type: Literal["relay"] = "relay"
    rid: Rid | None = None
    to: str = Field(max_length=MAX_NAME_FIELD)


SessionId = Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class RelayJoin(_Request):
    """The first request of a relay connection: join session ``sid`` as the end whose key this
    connection proved. Answered ``relay_joined`` once both ends are in; after that frame the
    connection's plaintext (both ways) is the relayed byte stream, carried as it is."""

    type: Literal["relay_join"] = "relay_join"
    rid: Rid | None = None
    sid: SessionId


class ProbeMe(_Request):
    """Ask the registry to connect back to this client's address again now; answered by a
    ``reachability`` frame echoing ``rid``."""

    type: Literal["probe"] = "probe"
    rid: Rid | None = None


class Ping(_Request):
    """Heartbeat: proves the client is alive; answered by ``pong``."""

    type: Literal["ping"] = "ping"
    rid: Rid | None = None


Request = Annotated[
    Register
    | Unregister
    | ListOnline
    | Lookup
    | Ping
    | Relay
    | RelayJoin
    | ProbeMe
    | Watch
    | Unwatch
    | Who,
    Field(discriminator="type"),
]
REQUEST_ADAPTER: TypeAdapter[Request] = TypeAdapter(Request)
"""Parses one request frame: ``REQUEST_ADAPTER.validate_json(payload)``."""


class _RidProbe(BaseModel):
    """Reads just the ``rid`` of a refused request, so the error can echo it."""

    model_config = ConfigDict(extra="ignore", strict=True)

    rid: Rid


_RID_PROBE: TypeAdapter[_RidProbe] = TypeAdapter(_RidProbe)


def probe_rid(payload: bytes) -> int | None:
    """The valid ``rid`` of a frame that failed validation, if it has one."""
    try:
        return _RID_PROBE.validate_json(payload).rid
    except ValueError:  # pydantic.ValidationError is a ValueError
        return None


# -- server to client ------------------------------------------------------------------------


class _ServerMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Welcome(_ServerMessage):
    """Sent by the server as soon as a connection is accepted."""

    type: Literal["welcome"] = "welcome"
    version: int
    heartbeat_interval: float
    idle_timeout: float
    max_frame: int
    versions: list[int] | None = None
    """The ``register`` versions the server speaks; absent: only ``version``."""


class Registered(_ServerMessage):
    """The name is ours; ``user`` is how the registry spells it."""

    type: Literal["registered"] = "registered"
    rid: int | None = None
    user: str
    host: str | None = None
    port: int | None = None
    """None: registered as accepting no connections."""


class Presence(_ServerMessage):
    """The whole online set, sent right after ``registered``."""

    type: Literal["presence"] = "presence"
    online: list[str]


class PresenceChanged(_ServerMessage):
    """Pushed to every registered connection when the online set changes."""

    type: Literal["presence_changed"] = "presence_changed"
    joined: list[str] = []
    left: list[str] = []


class Unregistered(_ServerMessage):
    type: Literal["unregistered"] = "unregistered"
    rid: int | None = None


class Online(_ServerMessage):
    """The answer to ``list`` (the online set, or for version 3 the watched names online) and
    to ``who`` (with its ``prefix``; ``more``: there are names after the last one)."""

    type: Literal["online"] = "online"
    rid: int | None = None
    online: list[str]
    prefix: str | None = None
    more: bool | None = None


class Watched(_ServerMessage):
    """The names of a ``watch`` are watched; ``online``: those of them online now."""

    type: Literal["watched"] = "watched"
    rid: int | None = None
    online: list[str] = []
    invalid: list[str] | None = None


class Unwatched(_ServerMessage):
    type: Literal["unwatched"] = "unwatched"
    rid: int | None = None


class Found(_ServerMessage):
    """Where ``user`` listens, and the identity key (base64 of 32 raw bytes) bound to the name."""

    type: Literal["found"] = "found"
    rid: int | None = None
    user: str
    host: str | None = None
    port: int | None = None
    """None (with ``host``): the user accepts no connections; only the relay reaches them."""
    key: str
    reachable: bool | None = None
    """Whether the registry could connect back to that address; None: not probed yet."""
    relay: bool = False
    """Whether this registry relays sessions (``relay``) to the user."""


class Reachability(_ServerMessage):
    """What the registry found when it connected back to this client's address: pushed after
    each registration once probed, and the answer (with ``rid``) to ``probe``. ``reason``:
    ``ok``, ``not_listening``, ``refused``, ``timeout``, ``unreachable``, ``wrong_key``,
    ``handshake_failed`` or ``not_probed``; ``detail`` is for people."""

    type: Literal["reachability"] = "reachability"
    rid: int | None = None
    reachable: bool
    reason: str
    detail: str = ""


class RelayReady(_ServerMessage):
    """The relay session asked for exists: join it (``relay_join``) on a new connection."""

    type: Literal["relay_ready"] = "relay_ready"
    rid: int | None = None
    sid: str
    to: str


class RelayIncoming(_ServerMessage):
    """Pushed to the peer somebody asked to relay to: join session ``sid`` on a new connection
    within ``timeout`` seconds. ``from`` is the asker, as the registry spells the name."""

    type: Literal["relay_incoming"] = "relay_incoming"
    sid: str
    from_: str = Field(alias="from")
    timeout: float = 10.0
    via: list[str] | None = None
    """Join on one of these registries (URLs) of the same network, which prove the same
    registry key; absent: here."""


class RelayJoined(_ServerMessage):
    """Both ends joined: the connection's plaintext is the relayed byte stream from now on."""

    type: Literal["relay_joined"] = "relay_joined"
    rid: int | None = None
    sid: str


class Pong(_ServerMessage):
    type: Literal["pong"] = "pong"
    rid: int | None = None


class Error(_ServerMessage):
    """A refusal. ``code`` is an :class:`ErrorCode` value; ``message`` is for humans."""

    type: Literal["error"] = "error"
    rid: int | None = None
    code: str
    message: str


ServerMessage = Annotated[
    Welcome
    | Registered
    | Presence
    | PresenceChanged
    | Unregistered
    | Online
    | Found
    | Pong
    | Error
    | Reachability
    | RelayReady
    | RelayIncoming
    | RelayJoined
    | Watched
    | Unwatched,
    Field(discriminator="type"),
]
SERVER_MESSAGE_ADAPTER: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
"""Parses one server frame: ``SERVER_MESSAGE_ADAPTER.validate_json(payload)``."""


def dump(message: BaseModel) -> bytes:
    """``message`` as the payload of one frame (``rid`` left out when it is ``None``)."""
    return message.model_dump_json(exclude_none=True, by_alias=True).encode()
