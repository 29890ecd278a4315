"""The client's watch list against a real registry past its threshold (watch lists only):
names watched before signing in ride in the ``register``, later ones in ``watch`` requests,
``unwatch`` reads the presence set again, ``find_online`` is the registry's search, and the list
is sent again after a reconnection. Against a version 2 registry the list is only kept."""

from __future__ import annotations

import pytest

from chinwag.adapters.registry.client import RegistryDirectory
from chinwag.adapters.registry.server import RegistryServer
from chinwag.application.errors import RegistryUnavailable, WatchLimit
from chinwag.domain.registry.presence import MAX_REGISTER_WATCH, MAX_WATCHED, PresenceMode
from tests.integration.test_registry_client import HERE, Recorder, directory, run, started
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


async def past_threshold() -> tuple[RegistryServer, RegistryDirectory]:
    """A registry telling only watchers (one name online, ``seed``), and ``seed``'s client."""
    server = await started(presence_all_below=1)
    seed = directory(server.address[1])
    await seed.sign_in("seed", HERE, Recorder())
    await wait_until(lambda: server.core.fanout.mode is PresenceMode.WATCHED, 5.0)
    return server, seed


async def signed_in(server: RegistryServer, name: str, *watch: str) -> RegistryDirectory:
    client = directory(server.address[1])
    await client.watch(watch)
    await client.sign_in(name, HERE, Recorder())
    return client


def session_watches(server: RegistryServer, name: str) -> set[str]:
    session = server.core.clients.get(name)
    assert session is not None
    return set(session.watched or ())


def test_names_watched_before_sign_in_are_in_the_first_presence() -> None:
    async def scenario() -> None:
        server, seed = await past_threshold()
        bob = await signed_in(server, "bob")
        carol = await signed_in(server, "carol")
        alice = await signed_in(server, "alice", "Bob", "dave", "not a name")
        try:
            assert alice.watched() == {"bob", "dave"}
            assert alice.online() == {"alice", "bob"}  # carol is online, not watched
            assert session_watches(server, "alice") == {"bob", "dave"}
            dave = await signed_in(server, "dave")
            await wait_until(lambda: "dave" in alice.online())
            await bob.sign_out()
            await wait_until(lambda: "bob" not in alice.online())
            await dave.sign_out()
        finally:
            for client in (alice, carol, bob, seed):
                await client.sign_out()
            await server.close()

    run(scenario())


def test_watch_and_unwatch_while_signed_in() -> None:
    async def scenario() -> None:
        server, seed = await past_threshold()
        bob = await signed_in(server, "bob")
        alice = await signed_in(server, "alice")
        try:
            assert alice.online() == {"alice"}
            await alice.watch(["bob"])
            assert "bob" in alice.online()  # from the watched answer, before any push
            assert session_watches(server, "alice") == {"bob"}
            await alice.unwatch(["bob"])
            assert alice.online() == {"alice"}
            assert alice.watched() == frozenset()
            assert session_watches(server, "alice") == set()
        finally:
            for client in (alice, bob, seed):
                await client.sign_out()
            await server.close()

    run(scenario())


def test_find_online_is_the_registrys_search_of_everyone() -> None:
    async def scenario() -> None:
        server, seed = await past_threshold()
        others = [await signed_in(server, name) for name in ("ann", "anna", "bob")]
        alice = await signed_in(server, "alice")
        try:
            assert alice.online() == {"alice"}  # it watches nobody
            assert await alice.find_online("AN", 10) == ["ann", "anna"]
            assert await alice.find_online("an", 1) == ["ann"]
            assert await alice.find_online("", 50) == ["alice", "ann", "anna", "bob", "seed"]
        finally:
            for client in (alice, *others, seed):
                await client.sign_out()
            await server.close()

    run(scenario())


def test_a_long_watch_list_goes_in_the_register_and_in_requests_after_it() -> None:
    async def scenario() -> None:
        server, seed = await past_threshold()
        many = [f"u{n:03}" for n in range(MAX_REGISTER_WATCH + 40)]
        alice = await signed_in(server, "alice", *many, "seed")
        try:
            await wait_until(lambda: len(session_watches(server, "alice")) == len(many) + 1)
            assert "seed" in alice.online()
        finally:
            await alice.sign_out()
            await seed.sign_out()
            await server.close()

    run(scenario())


def test_the_watch_list_is_sent_again_after_a_reconnection() -> None:
    async def scenario() -> None:
        server, seed = await past_threshold()
        bob = await signed_in(server, "bob")
        alice = await signed_in(server, "alice", "bob")
        try:
            for connection in list(server._connections):  # the registry drops alice's link
                if connection.registration is not None and connection.registration.name == "alice":
                    connection.close(why="test")
            await wait_until(lambda: session_watches_or_none(server, "alice") == {"bob"}, 15)
            assert "bob" in alice.online()
        finally:
            for client in (alice, bob, seed):
                await client.sign_out()
            await server.close()

    run(scenario())


def session_watches_or_none(server: RegistryServer, name: str) -> set[str] | None:
    session = server.core.clients.get(name)
    return None if session is None else set(session.watched or ())


def test_past_what_one_client_may_watch_the_watch_is_refused_and_not_kept() -> None:
    async def scenario() -> None:
        server, seed = await past_threshold()
        alice = await signed_in(server, "alice")
        try:
            await alice.watch([f"w{n}" for n in range(MAX_WATCHED)])
            with pytest.raises(WatchLimit):
                await alice.watch(["one-more"])
            assert "one-more" not in alice.watched()
            assert len(alice.watched()) == MAX_WATCHED
        finally:
            await alice.sign_out()
            await seed.sign_out()
            await server.close()

    run(scenario())


def test_a_watch_the_registry_could_not_hear_is_kept_for_the_next_registration() -> None:
    async def scenario() -> None:
        server, seed = await past_threshold()
        alice = await signed_in(server, "alice")
        try:

            async def unavailable(make: object) -> object:
                raise RegistryUnavailable("the link was lost mid-request")

            real = alice.request
            alice.request = unavailable  # type: ignore[method-assign,assignment]
            await alice.watch(["seed"])  # not heard: kept, no error
            alice.request = real  # type: ignore[method-assign]
            assert alice.watched() == {"seed"}
            for connection in list(server._connections):  # the registry drops alice's link
                if connection.registration is not None and connection.registration.name == "alice":
                    connection.close(why="test")
            await wait_until(lambda: session_watches_or_none(server, "alice") == {"seed"}, 15)
            await wait_until(lambda: "seed" in alice.online(), 5)
        finally:
            await alice.sign_out()
            await seed.sign_out()
            await server.close()

    run(scenario())
