"""A leave the presence store cannot take (Redis away, or a command refused) is tried again
until it is taken: the name must not stay online for the other registries while its own
registry lives on. A retried leave ends only its own epoch, so a later sign-in stays."""

from __future__ import annotations

import asyncio

from chinwag.adapters.registry.store.shared import SharedStoreLife
from chinwag.application.registry.unregister import Disconnect
from tests.support import wait_until
from tests.unit.registry_world import World


def _life(world: World) -> SharedStoreLife:
    return SharedStoreLife(world.presence, world.bus, world.names, world.clients)


def test_a_leave_the_store_refused_is_recorded_once_it_answers_again() -> None:
    async def scenario() -> None:
        world = World()
        life = _life(world)
        disconnect = Disconnect(world.clients, world.presence, world.stats, later=life.leave_later)
        alice = await world.online("alice")
        world.presence.fail = True
        assert await disconnect.execute(alice)  # gone here at once
        assert "alice" not in world.clients
        assert "alice" in world.presence.entries  # not in the store yet
        await wait_until(
            lambda: world.presence.calls.count("leave alice") >= 3, 5.0, "tries while away"
        )
        assert "alice" in world.presence.entries
        world.presence.fail = False
        await wait_until(lambda: "alice" not in world.presence.entries, 5.0)
        await life.close()

    asyncio.run(scenario())


def test_a_retried_leave_does_not_end_a_later_sign_in_of_the_name() -> None:
    async def scenario() -> None:
        world = World()
        life = _life(world)
        disconnect = Disconnect(world.clients, world.presence, world.stats, later=life.leave_later)
        first = await world.online("alice")
        world.presence.fail = True
        await disconnect.execute(first)
        world.presence.fail = False
        again = await world.online("alice")  # signed in again meanwhile: a new epoch
        assert again.registration is not None
        epoch = again.registration.epoch
        await wait_until(
            lambda: world.presence.calls.count("leave alice") >= 2, 5.0, "the retried leave"
        )
        assert world.presence.entries["alice"].epoch == epoch
        await life.close()

    asyncio.run(scenario())
