"""The :class:`~chinwag.application.registry.ports.name_store.NameStore` contract, run on every
store: first key wins, a lookalike is refused in the same atomic step, a release frees the name
(and the store that did not release it sees that at ``key_of``), bindings outlive the process,
and a store that cannot answer says ``StoreUnavailable``.

Each store comes as a *kit* (one parameter of :func:`kit`): ``world()`` gives the stores of one
network's data. A store that shares its data between registries (Redis) adds one kit class and
one parameter; a rule a store cannot have (memory is neither shared nor durable) is skipped for
it by the kit's answer, never weakened for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol, TypeVar

import pytest

from chinwag.adapters.registry.names import NameBook, NameBookStore
from chinwag.adapters.registry.store.memory import MemoryNameStore
from chinwag.adapters.registry.store.redis_names import RedisNameStore
from chinwag.adapters.registry.store.sqlite_names import SqliteNameStore, release_in_file
from chinwag.adapters.sqlite.database import StorageError
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.application.registry.ports.name_store import BindResult, NameStore
from tests.services import RedisServer

K1 = b"\x01" * 32
K2 = b"\x02" * 32
K3 = b"\x03" * 32
LOOKALIKE = "\u0251lice"  # ɑlice: Latin alpha, the skeleton of alice
_T = TypeVar("_T")


class NameWorld(Protocol):
    """The name data of one network, as a store kit sets it up for one test."""

    def store(self) -> NameStore:
        """The store of this test's registry (the same one each call)."""
        ...

    async def another(self) -> NameStore | None:
        """A store of another registry on the same data, or of this one restarted (the first
        one stays open); None if the data cannot be shared (memory)."""
        ...

    async def release_elsewhere(self, name: str) -> bool | None:
        """The operator releases ``name`` behind the store's back (``chinwag-registry
        release``); whether it was known; None if the store has no such operator."""
        ...

    async def known_from_v1(self, name: str) -> bool:
        """Set up: ``name`` known from version 1, never bound; False if the store has none."""
        ...

    async def fail(self) -> bool:
        """Make the data unreachable from now on; False if the store cannot fail (memory)."""
        ...


class NameKit(Protocol):
    def world(self, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[NameWorld]: ...


# -- the kits ----------------------------------------------------------------------------------


class MemoryWorld:
    def __init__(self) -> None:
        self._store = MemoryNameStore()

    def store(self) -> NameStore:
        return self._store

    async def another(self) -> NameStore | None:
        return None

    async def release_elsewhere(self, name: str) -> bool | None:
        return None

    async def known_from_v1(self, name: str) -> bool:
        self._store = MemoryNameStore(known=[name])
        return True

    async def fail(self) -> bool:
        return False


class MemoryKit:
    @contextlib.asynccontextmanager
    async def world(self, tmp_path: Path) -> AsyncIterator[NameWorld]:
        yield MemoryWorld()


class SqliteWorld:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._store = SqliteNameStore(path, timeout=0.2)
        self._others: list[SqliteNameStore] = []

    def store(self) -> NameStore:
        return self._store

    async def another(self) -> NameStore | None:
        other = SqliteNameStore(self.path, timeout=5.0)
        self._others.append(other)
        return other

    async def release_elsewhere(self, name: str) -> bool | None:
        return await asyncio.to_thread(release_in_file, self.path, name)

    async def known_from_v1(self, name: str) -> bool:
        await self._store.close()
        with contextlib.closing(sqlite3.connect(self.path)) as connection, connection:
            connection.execute("INSERT INTO users (name, first_seen) VALUES (?, 0)", (name,))
        self._store = SqliteNameStore(self.path, timeout=0.2)
        return True

    async def fail(self) -> bool:
        with contextlib.closing(sqlite3.connect(self.path)) as connection, connection:
            connection.execute("DROP TABLE bindings")
        return True

    async def close(self) -> None:
        for store in (self._store, *self._others):
            await store.close()


class SqliteKit:
    @contextlib.asynccontextmanager
    async def world(self, tmp_path: Path) -> AsyncIterator[NameWorld]:
        world = SqliteWorld(tmp_path / "data" / "registry.sqlite3")
        try:
            yield world
        finally:
            await world.close()


class BookWorld(SqliteWorld):
    """The port over the old ``NameBook`` (what the server is given until it is rewired): one
    registry per file, so no other store shares its data."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._book = NameBookStore(NameBook(path))

    def store(self) -> NameStore:
        return self._book

    async def another(self) -> NameStore | None:
        return None

    async def known_from_v1(self, name: str) -> bool:
        await self._book.close()
        with contextlib.closing(sqlite3.connect(self.path)) as connection, connection:
            connection.execute("INSERT INTO users (name, first_seen) VALUES (?, 0)", (name,))
        self._book = NameBookStore(NameBook(self.path))
        return True

    async def close(self) -> None:
        await self._book.close()
        await super().close()


class BookKit:
    @contextlib.asynccontextmanager
    async def world(self, tmp_path: Path) -> AsyncIterator[NameWorld]:
        world = BookWorld(tmp_path / "data" / "registry.sqlite3")
        try:
            yield world
        finally:
            await world.close()


class RedisWorld:
    """Registries on one real ``redis-server`` (AOF on). :meth:`another` restarts Redis first,
    so every test that asks for another registry also shows the bindings kept through a
    restart and the first store reconnecting by itself."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self._store = RedisNameStore.from_url(server.url, timeout=1.0)
        self._others: list[RedisNameStore] = []

    def store(self) -> NameStore:
        return self._store

    async def another(self) -> NameStore | None:
        await asyncio.to_thread(self.server.restart)
        other = RedisNameStore.from_url(self.server.url, timeout=1.0)
        self._others.append(other)
        return other

    async def release_elsewhere(self, name: str) -> bool | None:
        operator = RedisNameStore.from_url(self.server.url, timeout=1.0)
        try:
            return await operator.release(name)
        finally:
            await operator.close()

    async def known_from_v1(self, name: str) -> bool:
        return False  # a network on Redis starts from bindings

    async def fail(self) -> bool:
        await asyncio.to_thread(self.server.kill)
        return True

    async def close(self) -> None:
        for store in (self._store, *self._others):
            await store.close()


class RedisKit:
    @contextlib.asynccontextmanager
    async def world(self, tmp_path: Path) -> AsyncIterator[NameWorld]:
        server = RedisServer(tmp_path / "redis")
        await asyncio.to_thread(server.start)
        try:
            world = RedisWorld(server)
            try:
                yield world
            finally:
                await world.close()
        finally:
            await asyncio.to_thread(server.close)


@pytest.fixture(params=["memory", "sqlite", "namebook", "redis"])
def kit(request: pytest.FixtureRequest) -> NameKit:
    kits: dict[str, Callable[[], NameKit]] = {
        "memory": MemoryKit,
        "sqlite": SqliteKit,
        "namebook": BookKit,
        "redis": RedisKit,
    }
    return kits[request.param]()


def run(kit: NameKit, tmp_path: Path, scenario: Callable[[NameWorld], Awaitable[None]]) -> None:
    async def main() -> None:
        async with kit.world(tmp_path) as world:
            await scenario(world)

    asyncio.run(main())


def needed(value: _T | None, why: str) -> _T:
    if value is None or value is False:
        pytest.skip(why)
    assert value is not None
    return value


# -- first key wins ----------------------------------------------------------------------------


def test_an_unknown_name_is_bound_to_nobody(kit: NameKit, tmp_path: Path) -> None:
    async def scenario(world: NameWorld) -> None:
        store = world.store()
        assert await store.key_of("alice") is None
        assert store.cached_key("alice") is None
        assert await store.known("alice") is False
        assert await store.lookalike("alice") is None

    run(kit, tmp_path, scenario)


def test_the_first_key_wins_for_good(kit: NameKit, tmp_path: Path) -> None:
    async def scenario(world: NameWorld) -> None:
        store = world.store()
        assert await store.bind("alice", K1) == BindResult(K1)
        assert await store.bind("alice", K2) == BindResult(K1)
        assert await store.bind("alice", K1) == BindResult(K1)
        assert await store.key_of("alice") == K1
        assert store.cached_key("alice") == K1
        assert await store.known("alice") is True
        assert await store.lookalike("alice") is None  # a name is not its own lookalike
        assert await store.bind("bob", K2) == BindResult(K2)  # one key per name, not per key
        assert await store.key_of("bob") == K2

    run(kit, tmp_path, scenario)


def test_a_lookalike_of_a_bound_name_is_refused_and_nothing_is_bound(
    kit: NameKit, tmp_path: Path
) -> None:
    async def scenario(world: NameWorld) -> None:
        store = world.store()
        await store.bind("alice", K1)
        assert await store.lookalike(LOOKALIKE) == "alice"
        assert await store.bind(LOOKALIKE, K2) == BindResult(None, "alice")
        assert await store.bind(LOOKALIKE, K1) == BindResult(None, "alice")  # even its own key
        assert await store.key_of(LOOKALIKE) is None
        assert store.cached_key(LOOKALIKE) is None
        assert await store.known(LOOKALIKE) is False
        assert await store.lookalike("alice") is None
        assert await store.lookalike("bob") is None

    run(kit, tmp_path, scenario)


def test_racing_binds_of_one_name_or_of_lookalikes_have_one_winner(
    kit: NameKit, tmp_path: Path
) -> None:
    """Two registries (or two sign-ins) binding at once: the store decides in one step."""

    async def scenario(world: NameWorld) -> None:
        first = world.store()
        second = await world.another() or first
        for round_ in range(10):
            name = f"user{round_}"
            a, b = await asyncio.gather(first.bind(name, K1), second.bind(name, K2))
            assert a == b and a.bound_key in (K1, K2)
            assert await first.key_of(name) == await second.key_of(name) == a.bound_key
        for round_ in range(10):
            latin, alpha = f"al{round_}ce", f"\u0251l{round_}ce"
            a, b = await asyncio.gather(first.bind(latin, K1), second.bind(alpha, K2))
            winners = [r for r in (a, b) if r.bound_key is not None]
            assert len(winners) == 1, (a, b)
            loser = b if a.bound_key is not None else a
            assert loser.lookalike == (latin if a.bound_key is not None else alpha)

    run(kit, tmp_path, scenario)


# -- release -----------------------------------------------------------------------------------


def test_a_released_name_is_free_for_another_key(kit: NameKit, tmp_path: Path) -> None:
    async def scenario(world: NameWorld) -> None:
        store = world.store()
        await store.bind("alice", K1)
        assert await store.release("alice") is True
        assert await store.key_of("alice") is None
        assert store.cached_key("alice") is None
        assert await store.known("alice") is False
        assert await store.lookalike(LOOKALIKE) is None  # its skeleton is free too
        assert await store.bind(LOOKALIKE, K3) == BindResult(K3)
        assert await store.bind("alice", K2) == BindResult(None, LOOKALIKE)
        assert await store.release("alice") is False
        assert await store.release("nobody") is False

    run(kit, tmp_path, scenario)


def test_a_release_elsewhere_shows_at_key_of_not_in_the_cache(kit: NameKit, tmp_path: Path) -> None:
    """``cached_key`` is without I/O, so it may still have a released binding; ``key_of``
    reads the truth and the cache follows it."""

    async def scenario(world: NameWorld) -> None:
        store = world.store()
        await store.bind("alice", K1)
        assert needed(await world.release_elsewhere("alice"), "no operator outside the store")
        assert store.cached_key("alice") == K1
        assert await store.key_of("alice") is None
        assert store.cached_key("alice") is None
        assert await store.bind("alice", K2) == BindResult(K2)

    run(kit, tmp_path, scenario)


# -- other registries, restarts, version 1 -------------------------------------------------------


def test_a_binding_is_seen_by_another_store_on_the_same_data(kit: NameKit, tmp_path: Path) -> None:
    """Another registry of the network, or this one restarted: the binding is durable and
    shared as soon as ``bind`` returned."""

    async def scenario(world: NameWorld) -> None:
        store = world.store()
        await store.bind("alice", K1)
        other = needed(await world.another(), "the store's data is its own")
        assert await other.key_of("alice") == K1
        assert await other.bind("alice", K2) == BindResult(K1)
        assert await other.bind(LOOKALIKE, K2) == BindResult(None, "alice")
        assert await other.known("alice") is True
        assert await other.lookalike(LOOKALIKE) == "alice"

    run(kit, tmp_path, scenario)


def test_a_name_known_from_version_1_is_known_and_unbound(kit: NameKit, tmp_path: Path) -> None:
    async def scenario(world: NameWorld) -> None:
        needed(await world.known_from_v1("carol"), "no names from version 1")
        store = world.store()
        assert await store.known("carol") is True
        assert await store.key_of("carol") is None
        assert await store.bind("carol", K1) == BindResult(K1)
        assert await store.key_of("carol") == K1
        assert await store.release("carol") is True
        assert await store.known("carol") is False

    run(kit, tmp_path, scenario)


# -- unavailable -------------------------------------------------------------------------------


def test_a_store_that_cannot_answer_says_store_unavailable(kit: NameKit, tmp_path: Path) -> None:
    async def scenario(world: NameWorld) -> None:
        store = world.store()
        await store.bind("alice", K1)
        needed(await world.fail(), "the store cannot fail")
        with pytest.raises(StoreUnavailable):
            await store.key_of("alice")
        with pytest.raises(StoreUnavailable):
            await store.lookalike("bob")
        with pytest.raises(StoreUnavailable):
            await store.bind("bob", K2)
        with pytest.raises(StoreUnavailable):
            await store.release("alice")
        assert store.cached_key("alice") == K1  # without I/O, so still there
        with contextlib.suppress(StoreUnavailable):  # answered from memory, or unavailable
            assert await store.known("alice") is True

    run(kit, tmp_path, scenario)


# -- the SQLite store's own ----------------------------------------------------------------------


def test_sqlite_a_write_blocked_by_another_writer_is_unavailable_not_stuck(
    tmp_path: Path,
) -> None:
    """The operator's ``release`` holding the file: a bind waits ``timeout``, then says so
    (the use case answers ``busy``), and reads go on meanwhile (WAL)."""
    path = tmp_path / "registry.sqlite3"

    async def scenario() -> None:
        store = SqliteNameStore(path, timeout=0.1)
        try:
            await store.bind("alice", K1)
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as holder:
                holder.execute("BEGIN IMMEDIATE")
                with pytest.raises(StoreUnavailable):
                    await store.bind("bob", K2)
                assert await store.key_of("alice") == K1
                holder.execute("ROLLBACK")
            assert await store.bind("bob", K2) == BindResult(K2)
        finally:
            await store.close()
        with pytest.raises(StoreUnavailable):
            await store.key_of("alice")  # closed

    asyncio.run(scenario())


def test_name_book_shim_keeps_its_old_contract(tmp_path: Path) -> None:
    """``NameBook`` (the server's until it is rewired): reads without I/O, ``bind`` returns the
    bound key and raises StorageError, ``refresh`` falls back to what it knew."""
    path = tmp_path / "registry.sqlite3"

    async def scenario() -> None:
        book = NameBook(path)
        try:
            assert await book.bind("alice", K1) == K1
            assert await book.bind("alice", K2) == K1
            assert book.key_of("alice") == K1 and "alice" in book and len(book) == 1
            assert book.lookalike(LOOKALIKE) == "alice"
            assert release_in_file(path, "alice")
            assert book.key_of("alice") == K1
            assert await book.refresh("alice") is None
            assert book.key_of("alice") is None
            assert await book.bind("carol", K3) == K3
            with contextlib.closing(sqlite3.connect(path)) as connection, connection:
                connection.execute("DROP TABLE bindings")
            with pytest.raises(StorageError):
                await book.bind("bob", K2)
            assert await book.refresh("carol") == K3  # the file failed: what it knew
        finally:
            book.close()
        memory = NameBook()
        assert await memory.bind("alice", K1) == K1
        assert await memory.bind("alice", K2) == K1
        assert await memory.refresh("alice") == K1
        memory.close()

    asyncio.run(scenario())
