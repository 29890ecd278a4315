"""The small pure pieces of the registry server's connections: error frames, what a first
frame is (a version-1 client's clear request, a ``relay_join``), a peer's IP address (and whom
per-address limits count it as), and the record of one registration.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from chinwag.adapters.registry.probe import ProbeResult
from chinwag.adapters.registry.protocol import REQUEST_ADAPTER, ErrorCode, RelayJoin, dump
from chinwag.adapters.registry.protocol import Error as ErrorMessage
from chinwag.adapters.wire.codec import encode

if TYPE_CHECKING:
    from chinwag.adapters.registry.connection import Connection

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


def error_frame(code: ErrorCode, message: str, rid: int | None = None) -> bytes:
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


def address_group(ip: str) -> str:
    """Whom a per-address limit counts ``ip`` as: an IPv4 address as it is, an IPv6 address by
    its /64 (one subscriber's usual share, all of whose addresses one machine may take)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def same_address(announced: str, peer_ip: str) -> bool:
    """Whether the host a client announced is the IP address it connects from (a host name, or
    another address, is not)."""
    try:
        host = ipaddress.ip_address(announced)
        peer = ipaddress.ip_address(peer_ip)
    except ValueError:
        return False
    if isinstance(host, ipaddress.IPv6Address) and host.ipv4_mapped is not None:
        host = host.ipv4_mapped
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return host == peer


@dataclass(slots=True)
class Registration:
    """A name registered by a live connection: where it listens, and what its probe found."""

    name: str
    host: str | None
    port: int | None
    """None (with ``host``): the client accepts no connections."""
    key: bytes
    connection: Connection
    reachability: ProbeResult | None = None
    """What the last probe of this address found; None until one ended."""
