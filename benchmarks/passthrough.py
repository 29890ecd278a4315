"""A secure channel without the encryption, to measure what encryption costs (benchmarks only).

:class:`PassThroughSecurity` is a :class:`~chinwag.adapters.secure.channel.Security` whose
sessions still run the whole Noise XX handshake (keys proven, identities checked), but whose
records are framed exactly as the product frames them (one codec frame per plaintext chunk of at
most 65,519 bytes, read back with the handshake's decoder) and not encrypted. Everything else in
a pass-through run is the product, so "encrypted / pass-through" is the price of sealing and
opening records. Both ends of a session must use it: a pass-through end cannot talk to a Noise end.

The product never imports this module; the benchmarks wire it in by overriding the container's
``adapters.security`` provider (:func:`use_passthrough`) or by building a ``RegistryServer`` with
it (``benchmarks/registry_server.py``).
"""

from __future__ import annotations

from dependency_injector import providers

from chinwag.adapters.secure.channel import (
    MAX_RECORD_PLAINTEXT,
    RecordLayer,
    SecureError,
    Security,
)
from chinwag.adapters.secure.noise import CipherState
from chinwag.adapters.wire.codec import EmptyFrame, FrameDecoder, FrameTooLarge, encode
from chinwag.entrypoints.container import Container


class PassThroughRecords:
    """The record layer of :class:`~chinwag.adapters.secure.channel.NoiseRecords`, minus the
    AEAD: the same chunking and framing, plaintext inside."""

    __slots__ = ("_decoder",)

    def __init__(self, decoder: FrameDecoder) -> None:
        self._decoder = decoder

    def seal(self, data: bytes) -> bytes:
        if len(data) <= MAX_RECORD_PLAINTEXT:
            # Noise seals b"" as a 16-byte tag; a pass-through empty record would be an empty
            # frame, which the codec refuses, so there is simply nothing to send.
            return encode(data) if data else b""
        view = memoryview(data)
        return b"".join(
            encode(bytes(view[start : start + MAX_RECORD_PLAINTEXT]))
            for start in range(0, len(data), MAX_RECORD_PLAINTEXT)
        )

    def open(self, data: bytes) -> bytes:
        try:
            records = self._decoder.feed(data)
        except (FrameTooLarge, EmptyFrame) as exc:
            raise SecureError("bad_record", str(exc)) from None
        if len(records) == 1:
            return records[0]
        return b"".join(records)


class PassThroughSecurity(Security):
    """The product's keys and handshake, with records that are framed but not encrypted."""

    def records(
        self, send: CipherState, receive: CipherState, decoder: FrameDecoder
    ) -> RecordLayer:
        return PassThroughRecords(decoder)


def use_passthrough(container: Container) -> None:
    """Make every session of ``container``'s client (registry and peers) pass-through."""
    adapters = container.adapters
    adapters.security.override(providers.Singleton(PassThroughSecurity, adapters.keys))


SECURITY: dict[str, type[Security]] = {"noise": Security, "passthrough": PassThroughSecurity}
"""The two kinds of session a benchmark compares, by the name its command line uses."""
