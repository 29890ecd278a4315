"""The registry's name book as the server used it before the stores were ports: a shim over
:class:`~chinwag.adapters.registry.store.sqlite_names.SqliteNameStore` (the file) or
:class:`~chinwag.adapters.registry.store.memory.MemoryNameStore` (``path=None``, for tests),
keeping every name, signature and behaviour of the old ``NameBook`` (its reads without I/O, its
``bind`` that returns the bound key and raises StorageError, its ``refresh`` that falls back to
what it knew) so the running server, the tests that subclass it and the benchmarks work as
they did. ``release`` is the operator's ``chinwag-registry release``.

``NameBook`` is not itself a ``NameStore`` (the design had ``NameBook = SqliteNameStore``): the
port's ``key_of`` and ``close`` are coroutines where the book's are plain calls, and its ``bind``
answers a ``BindResult``. Its ``store`` is the port; :class:`NameBookStore` is the port over a
book, going through the book's own methods.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from chinwag.adapters.registry.store.memory import MemoryNameStore
from chinwag.adapters.registry.store.sqlite_names import (
    SqliteNameStore,
    open_book_file,
)
from chinwag.adapters.registry.store.sqlite_names import (
    release_in_file as release,
)
from chinwag.adapters.sqlite.database import StorageError
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import BindResult
from chinwag.domain.user import username_skeleton

__all__ = ["NameBook", "NameBookStore", "SqliteNameStore", "open_book_file", "release"]

log = logging.getLogger(__name__)


class NameBook:
    """Names bound to identity keys (or only in memory: ``path=None``, for tests)."""

    def __init__(self, path: Path | None = None) -> None:
        self.store: SqliteNameStore | MemoryNameStore = (
            MemoryNameStore() if path is None else SqliteNameStore(path)
        )

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.store.cached_known(name)

    def __len__(self) -> int:
        return len(self.store)

    def key_of(self, name: str) -> bytes | None:
        """The key ``name`` is bound to, as this process knows it."""
        return self.store.cached_key(name)

    def lookalike(self, name: str) -> str | None:
        """Another bound name that reads like ``name`` (same UTS #39 skeleton), if any."""
        return self.store.cached_lookalike(name)

    async def bind(self, name: str, key: bytes) -> bytes:
        """Bind ``name`` to ``key`` durably (on the writer thread) unless it is bound already;
        the key it is bound to now (``key``, or the first one's). StorageError if it cannot.
        Lookalikes are the caller's to refuse first, as they were."""
        store = self.store
        if isinstance(store, MemoryNameStore):
            bound = store.cached_key(name)
            if bound is None:
                store.remember(name, key)
                bound = key
            return bound
        try:
            return await store.bind_ignoring_lookalikes(name, key)
        except StoreUnavailable as exc:
            raise StorageError(str(exc)) from exc

    async def refresh(self, name: str) -> bytes | None:
        """Read ``name``'s binding from the file again (an operator may have released it)."""
        try:
            return await self.store.key_of(name)
        except StoreUnavailable as exc:
            log.warning("cannot read %r's binding again: %s", name, exc)
            return self.store.cached_key(name)

    def close(self) -> None:
        if isinstance(self.store, SqliteNameStore):
            self.store.shut()


class NameBookStore:
    """The :class:`~chinwag.application.registry.ports.name_store.NameStore` port over a
    :class:`NameBook`, for a server given a book (tests subclass the book to hold its ``bind``
    on a gate, so the port must go through the book's own methods).

    The book binds without looking at skeletons, so this checks the lookalike and binds under
    a lock per skeleton: atomic for every bind of this process, which is all there is (one
    registry per file; the operator's ``release`` only removes bindings).
    """

    def __init__(self, book: NameBook) -> None:
        self.book = book
        self._binding: dict[str, tuple[asyncio.Lock, int]] = {}
        """Per skeleton being bound: its lock and the binds using it."""

    async def key_of(self, name: str) -> bytes | None:
        return await self.book.store.key_of(name)

    def cached_key(self, name: str) -> bytes | None:
        return self.book.key_of(name)

    async def lookalike(self, name: str) -> str | None:
        return await self.book.store.lookalike(name)

    async def bind(self, name: str, key: bytes) -> BindResult:
        skeleton = username_skeleton(name)
        lock, users = self._binding.get(skeleton, (asyncio.Lock(), 0))
        self._binding[skeleton] = (lock, users + 1)
        try:
            async with lock:
                if await self.key_of(name) is None:
                    other = await self.book.store.lookalike(name)
                    if other is not None:
                        return BindResult(None, other)
                try:
                    return BindResult(await self.book.bind(name, key))
                except StorageError as exc:
                    raise StoreUnavailable(str(exc)) from exc
        finally:
            lock, users = self._binding[skeleton]
            if users == 1:
                del self._binding[skeleton]
            else:
                self._binding[skeleton] = (lock, users - 1)

    async def known(self, name: str) -> bool:
        return await self.book.store.known(name)

    async def release(self, name: str) -> bool:
        return await self.book.store.release(name)

    async def close(self) -> None:
        self.book.close()
