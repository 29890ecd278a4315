"""Listening for the registry's clients, over TCP or WebSocket alike: the bound address, or
``AddressInUse`` in the words the registry's start-up line shows."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable

from chinwag.application.errors import AddressInUse


async def listen(
    factory: Callable[[], asyncio.BaseProtocol], host: str, port: int, what: str = ""
) -> tuple[asyncio.Server, tuple[str, int]]:
    """A server making a protocol with ``factory`` per connection, and the address it is bound
    to (port 0: the one picked). ``what`` says for what (" for WebSocket") in the refusal."""
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(factory, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(
                f"cannot listen{what} on {host}:{port}: the address is already in use"
            ) from exc
        raise
    sockname = server.sockets[0].getsockname()
    return server, (str(sockname[0]), int(sockname[1]))
