"""Whom the registry counts a peer as, and whether a client announced its own address: pure
rules over IP address texts (the sockets that give them are the adapters')."""

from __future__ import annotations

import ipaddress


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


def is_unspecified(host: str) -> bool:
    """Whether ``host`` is the wildcard address (``0.0.0.0``, ``::``): a client listening on
    every interface announces it, and the registry records the address it connects from
    instead (registrar.py's host rule)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
