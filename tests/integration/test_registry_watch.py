"""Protocol version 3 on a real registry server: watch lists, ``who`` with a prefix, the
threshold below which everyone is told everything, and version 2 clients beside them.

Spoken frame by frame with the :class:`Raw` sessions of ``test_registry_server``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chinwag.adapters.registry.server import RegistryServer
from chinwag.domain.registry.presence import MAX_WATCH_REQUEST, MAX_WATCHED, PresenceMode
from tests.integration.test_registry_server import Message, Raw, run, started
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


async def watching_only() -> tuple[RegistryServer, Raw]:
    """A server past its threshold: one name online (``seed``, watching nobody) and watch
    lists only (the mode is read once a second)."""
    server = await started(presence_all_below=1)
    seed = await v3(server, "seed")
    await wait_until(lambda: server.core.fanout.mode is PresenceMode.WATCHED, 5.0)
    return server, seed


async def v3(server: RegistryServer, user: str, watch: list[str] | None = None) -> Raw:
    """A version 3 client of ``server``, signed in as ``user`` (watching ``watch``)."""
    raw = await Raw.welcomed(server.address)
    fields: dict[str, Any] = {"watch": watch} if watch is not None else {}
    answer = await raw.register(user, version=3, **fields)
    assert answer["type"] == "registered", answer
    return raw


async def v2(server: RegistryServer, user: str) -> Raw:
    raw = await Raw.welcomed(server.address)
    assert (await raw.register(user))["type"] == "registered"
    return raw


async def quiet(raw: Raw, seconds: float = 0.3) -> list[Message]:
    """What ``raw`` receives within ``seconds`` (pushes that should not come)."""
    got: list[Message] = []
    try:
        while True:
            got.append(await raw.next(timeout=seconds))
    except TimeoutError:
        return got


def test_the_welcome_offers_version_3_and_a_v3_registration_is_told_only_what_it_watches() -> None:
    async def scenario() -> None:
        server, _ = await watching_only()
        try:
            carol = await v3(server, "carol")
            alice = await v3(server, "alice", watch=["bob", "Carol"])
            assert alice.online == {"alice", "carol"}  # itself and the watched online
            bob = await v3(server, "bob")
            await alice.sees(lambda online: "bob" in online)
            dave = await v3(server, "dave")  # nobody watches dave
            assert await quiet(alice) == []
            await dave.close()
            await bob.close()
            await alice.sees(lambda online: "bob" not in online)
            assert alice.online == {"alice", "carol"}
            assert carol.online == {"carol"}  # carol watches nobody
        finally:
            await server.close()

    run(scenario())


def test_watch_and_unwatch_answer_and_change_what_is_pushed() -> None:
    async def scenario() -> None:
        server, _ = await watching_only()
        try:
            alice = await v3(server, "alice")
            bob = await v3(server, "bob")
            answer = await alice.request({"type": "watch", "names": ["BOB", "erin", "no one"]})
            assert answer["type"] == "watched"
            assert answer["online"] == ["bob"]
            assert answer["invalid"] == ["no one"]
            erin = await v3(server, "erin")
            await alice.sees(lambda online: "erin" in online)
            assert (await alice.request({"type": "unwatch", "names": ["erin"]}))[
                "type"
            ] == "unwatched"
            await erin.close()
            await bob.close()
            await alice.sees(lambda online: "bob" not in online)
            assert "erin" in alice.online  # no longer told about erin
        finally:
            await server.close()

    run(scenario())


def test_who_searches_by_prefix_a_page_at_a_time() -> None:
    async def scenario() -> None:
        server = await started(presence_all_below=1)
        try:
            asker = await v3(server, "zed")
            for name in ("ann", "anna", "annie", "bob"):
                await v3(server, name)
            first = await asker.request({"type": "who", "prefix": "AN", "limit": 2})
            assert first["type"] == "online"
            assert first["prefix"] == "an"
            assert first["online"] == ["ann", "anna"]
            assert first["more"] is True
            rest = await asker.request({"type": "who", "prefix": "an", "after": "anna"})
            assert rest["online"] == ["annie"] and rest["more"] is False
            everyone = await asker.request({"type": "who", "prefix": ""})
            assert everyone["online"] == ["ann", "anna", "annie", "bob", "zed"]
            assert (await asker.request({"type": "who", "prefix": "b"}))["online"] == ["bob"]
            bad = await asker.request({"type": "who", "prefix": "a", "limit": 0})
            assert bad["type"] == "error" and bad["code"] == "bad_request"
        finally:
            await server.close()

    run(scenario())


def test_a_version_2_client_gets_everyone_and_is_refused_the_new_requests() -> None:
    async def scenario() -> None:
        server = await started(presence_all_below=1)
        try:
            old = await v2(server, "old")
            await v3(server, "new")
            await old.sees(lambda online: "new" in online)  # told everything, as before
            refused = await old.request({"type": "watch", "names": ["new"]})
            assert refused["type"] == "error" and refused["code"] == "bad_request"
            assert "version 3" in refused["message"]
            listed = await old.request({"type": "list"})
            assert set(listed["online"]) == {"old", "new"}
        finally:
            await server.close()

    run(scenario())


def test_below_the_threshold_every_v3_client_is_told_about_everyone() -> None:
    async def scenario() -> None:
        server = await started()  # presence_all_below: 500
        try:
            alice = await v3(server, "alice")
            await v3(server, "bob")
            await alice.sees(lambda online: online == {"alice", "bob"})
            listed = await alice.request({"type": "list"})
            assert listed["online"] == ["alice", "bob"]
        finally:
            await server.close()

    run(scenario())


def test_watch_limits_are_refused_whole_with_watch_limit() -> None:
    async def scenario() -> None:
        server = await started(presence_all_below=1)
        try:
            alice = await v3(server, "alice")
            batch = MAX_WATCH_REQUEST
            for start in range(0, MAX_WATCHED, batch):
                names = [f"u{n}" for n in range(start, min(start + batch, MAX_WATCHED))]
                assert (await alice.request({"type": "watch", "names": names}))["type"] == "watched"
            over = await alice.request({"type": "watch", "names": ["one-more"]})
            assert over["type"] == "error" and over["code"] == "watch_limit"
            too_many = await alice.request(
                {"type": "watch", "names": [f"x{n}" for n in range(batch + 1)]}
            )
            assert too_many["type"] == "error" and too_many["code"] == "bad_request"
            # Still serving it and everyone else.
            assert (await alice.request({"type": "ping"}))["type"] == "pong"
        finally:
            await server.close()

    run(scenario())


def test_a_presence_change_is_pushed_to_its_watchers_only() -> None:
    """The push count of one change is its watchers, not everyone online (the registry's own
    count, :attr:`RegistryStats.presence_pushes`)."""

    async def scenario() -> None:
        server, _ = await watching_only()
        try:
            watchers = [await v3(server, f"w{n}", watch=["star"]) for n in range(3)]
            others = [await v3(server, f"o{n}", watch=["w0"]) for n in range(12)]
            stats = server.core.stats
            await asyncio.sleep(0)
            before = stats.presence_pushes
            star = await v3(server, "star")
            for watcher in watchers:
                await watcher.sees(lambda online: "star" in online)
            assert stats.presence_pushes - before == len(watchers)
            for other in others:
                assert await quiet(other, 0.05) == []
            await star.close()
        finally:
            await server.close()

    run(scenario())


def test_a_change_pushed_while_a_sign_in_waits_never_follows_its_snapshot() -> None:
    """Alice is signed in but her register waits for its watch list to be read: bob joins (a
    push held for after her answer) and leaves (held back by her push budget). Her snapshot,
    made last, has bob gone: the older join must not follow it and leave bob online for her."""

    async def scenario() -> None:
        server = await started()  # everyone is told everything: alice hears bob
        core = server.core
        core.outboxes.burst = 1
        core.outboxes.rate = 0.2  # one push per 5 s once the burst is spent
        gate = asyncio.Event()
        read = core.watch._read

        async def held(first: list[str], names: list[str]) -> None:
            await gate.wait()
            await read(first, names)

        core.watch._read = held  # type: ignore[method-assign]
        try:
            alice = await Raw.welcomed(server.address)
            signing_in = asyncio.ensure_future(alice.register("alice", version=3, watch=["carol"]))
            await wait_until(lambda: "alice" in core.clients, 5.0)
            bob = await v3(server, "bob")
            await wait_until(lambda: core.stats.presence_pushes >= 1, 5.0, "bob's join pushed")
            await bob.close()
            await wait_until(lambda: "bob" not in core.clients, 5.0)
            gate.set()
            assert (await signing_in)["type"] == "registered"
            assert "bob" not in alice.online
            await quiet(alice, 0.3)
            assert "bob" not in alice.online
        finally:
            await server.close()

    run(scenario())
