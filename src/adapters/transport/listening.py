"""Why an address cannot be listened on, in the user's words."""

from __future__ import annotations

import errno
import socket

from chinwag.application.errors import AddressInUse, ChatError
from chinwag.domain.user import PeerAddress


class AddressUnavailable(ChatError):
    """The address to listen on is not one of this machine's, or cannot be used at all."""

    code = "address_unavailable"


def listen_refusal(address: PeerAddress, exc: OSError) -> ChatError:
    """Why ``address`` cannot be listened on, in our words: only a port that is taken is
    ``address_in_use``; a host that is not this machine's, or no host at all, is said as such."""
    where = f"cannot listen on {address}"
    if exc.errno == errno.EADDRINUSE:
        return AddressInUse(f"{where}: the port is already in use (give another, or 0 for any)")
    if isinstance(exc, socket.gaierror):
        return AddressUnavailable(
            f"{where}: there is no host {address.host!r} (give an address of this machine, "
            "e.g. 127.0.0.1, or 0.0.0.0 for all of them)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return AddressUnavailable(
            f"{where}: {address.host} is not an address of this machine (give one of its "
            "addresses, e.g. 127.0.0.1, or 0.0.0.0 for all of them)"
        )
    if exc.errno == errno.EACCES:
        return AddressUnavailable(f"{where}: permission denied (ports below 1024 need privileges)")
    return AddressUnavailable(f"{where}: {(exc.strerror or str(exc)).lower()}")
