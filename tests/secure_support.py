"""Raw secure connections for tests that speak the protocols by hand (attacks, garbage, limits).

Both protocols start with one clear frame and a Noise XX handshake; these helpers do that part
with the product's own secure channel, so a test can then send whatever frames it likes inside
the session, or skip the session altogether and send bytes in clear.
"""

from __future__ import annotations

import asyncio

from chinwag.adapters.registry import protocol as registry_protocol
from chinwag.adapters.secure.channel import RemoteIdentity, SecureStream, Security, open_secure
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.transport import protocol as peer_protocol
from chinwag.adapters.wire.codec import FrameDecoder, encode


async def read_clear_frame(reader: asyncio.StreamReader, limit: int = 65536) -> bytes:
    """The next clear frame (the registry's welcome)."""
    decoder = FrameDecoder(limit)
    while True:
        data = await reader.read(65536)
        if not data:
            raise ConnectionError("closed")
        frames = decoder.feed(data, max_frames=1)
        if frames:
            return frames[0]


async def registry_session(
    host: str, port: int, keys: LocalKeys | None = None, timeout: float = 5.0
) -> SecureStream:
    """A connection to a registry with the handshake done, as ``keys`` (new ones by default)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        welcome = await read_clear_frame(reader)
        return await open_secure(
            reader,
            writer,
            Security(keys or LocalKeys.generate()),
            prologue=registry_protocol.PROLOGUE + encode(welcome),
            max_frame=registry_protocol.MAX_SERVER_FRAME,
        )


async def peer_session(
    host: str,
    port: int,
    *,
    name: str,
    to: str,
    keys: LocalKeys | None = None,
    timeout: float = 5.0,
) -> tuple[SecureStream, RemoteIdentity]:
    """A connection to a peer's port with the handshake done, claiming ``name`` as ``keys``;
    the peer's answer (welcome or error) is the first frame of the stream."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        hello = encode(peer_protocol.hello())
        stream = await open_secure(
            reader,
            writer,
            Security(keys or LocalKeys.generate()),
            prologue=peer_protocol.PROLOGUE + hello,
            max_frame=peer_protocol.MAX_FRAME,
            name=name,
            to=to,
            preamble=hello,
        )
        return stream, stream.remote
