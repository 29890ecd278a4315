"""The small pure pieces of the registry server's connections: error frames, what a first
frame is (a version-1 client's clear request, a ``relay_join``) and a peer's IP address. Whom
per-address limits count a peer as (``address_group``,
``same_address``) is the domain's now (:mod:`chinwag.domain.registry.addresses`), re-exported.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import TYPE_CHECKING

from pydantic import ValidationError

from chinwag.adapters.registry.protocol import REQUEST_ADAPTER, ErrorCode, RelayJoin, dump
from chinwag.adapters.registry.protocol import Error as ErrorMessage
from chinwag.adapters.wire.codec import encode
from chinwag.domain.registry.addresses import address_group, same_address

__all__ = [
    "MAX_ERROR_TEXT",
    "address_group",
    "error_frame",
    "ip_of",
    "looks_like_json",
    "relay_join_of",
    "same_address",
]

if TYPE_CHECKING:
    pass

MAX_ERROR_TEXT = 200


def looks_like_json(frame: bytes) -> bool:
    """Whether a first frame is a version-1 client's clear request rather than Noise message 1
    (32 random bytes, which may well start with ``{`` but never parse as a JSON object)."""
    if frame[:1] != b"{" or len(frame) == 32:
        return False
    try:
        return isinstance(json.loads(frame), dict)
    except (ValueError, RecursionError):  # RecursionError: deeply nested JSON
        return False


ERRORS_MADE: Counter[str] = Counter()
"""Every ``error`` frame this process made, by code: the metrics' ``errors`` (a registry is one
process; twenty-odd places refuse, and all of them make their frame here)."""


def error_frame(code: ErrorCode, message: str, rid: int | None = None) -> bytes:
    ERRORS_MADE[code.value] += 1
    return encode(dump(ErrorMessage(rid=rid, code=code, message=message[:MAX_ERROR_TEXT])))


def relay_join_of(payload: bytes) -> RelayJoin | None:
    """``payload`` as a ``relay_join`` request, if it is a valid one (others are answered the
    usual way)."""
    if b"relay_join" not in payload:
        return None
    try:
        request = REQUEST_ADAPTER.validate_json(payload)
    except ValidationError:
        return None
    return request if isinstance(request, RelayJoin) else None


def ip_of(peername: object) -> str:
    """The IP address of a socket's peer name, IPv4-mapped IPv6 addresses as plain IPv4."""
    if not isinstance(peername, tuple) or not peername:
        return "127.0.0.1"
    ip = str(peername[0])
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return ip
