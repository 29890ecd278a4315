"""Where names are bound to identity keys, for good: the first key wins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BindResult:
    """What :meth:`NameStore.bind` did: ``bound_key`` is the key the name is bound to now (the
    one asked for, or the first one's); or nothing was bound because ``lookalike``, another
    bound name with the same skeleton, reads like it (then ``bound_key`` is None)."""

    bound_key: bytes | None
    lookalike: str | None = None


class NameStore(Protocol):
    """Names bound to identity keys, and names known from version 1 (never bound). Every
    method that does I/O raises
    :class:`~chinwag.application.registry.ports.errors.StoreUnavailable` when it cannot."""

    async def key_of(self, name: str) -> bytes | None:
        """The key ``name`` is bound to, as the store has it now (an operator may have released
        it since this registry last looked: ``NameBook.refresh``)."""
        ...

    def cached_key(self, name: str) -> bytes | None:
        """The key ``name`` was bound to when this registry last looked, without I/O (a release
        may not show yet; :meth:`key_of` decides)."""
        ...

    async def lookalike(self, name: str) -> str | None:
        """Another bound name that reads like ``name`` (same UTS #39 skeleton), if any."""
        ...

    async def bind(self, name: str, key: bytes) -> BindResult:
        """Bind ``name`` to ``key`` unless it is bound already or a lookalike is, in one atomic
        step (two registries binding ``alice`` and ``ɑlice`` at once do not both win); durable
        before it returns."""
        ...

    async def known(self, name: str) -> bool:
        """Whether ``name`` was ever bound or known (``offline`` rather than ``unknown_user``)."""
        ...

    async def release(self, name: str) -> bool:
        """Delete ``name``'s binding (the operator's ``release``); False if it had none."""
        ...

    async def close(self) -> None: ...
