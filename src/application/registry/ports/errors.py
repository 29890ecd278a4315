"""What a store says when it cannot answer."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """A store (names, presence, bus) cannot be read or written now: the disk failed, or Redis
    is away. The use cases answer ``busy`` and keep serving what they can without it."""
