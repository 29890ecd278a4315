"""The Redis of a network of registries restarts under them (a real ``redis-server`` with AOF,
``appendfsync everysec``, as tests/services.py runs it): the registries reconnect by themselves,
presence is right again (rebuilt from the registries when Redis came back without it), and the
name bindings survive a crash or a clean restart: another key still cannot take a bound name."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.processes import CliProcess, RegistryProcess, start
from tests.registry_network import Network
from tests.services import RedisServer
from tests.support import wait_until_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

DEADLINE = 20.0


def eventually(check: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    wait_until_sync(check, timeout, what)


def logged(registry: RegistryProcess, text: str) -> bool:
    return any(text in line for line in registry.stderr_lines)


def reconnected(registries: list[RegistryProcess]) -> None:
    for registry in registries:
        eventually(
            lambda registry=registry: (
                logged(registry, "subscriptions renewed")  # type: ignore[misc]
                and logged(registry, "republished")
            ),
            f"registry on port {registry.port} back on Redis: {registry.log()}",
        )


def impostor_refused(tmp_path: Path, name: str, registry: RegistryProcess) -> None:
    """A client with a key of its own cannot sign in as ``name``."""
    impostor = CliProcess(name, registry.address, tmp_path / f"impostor-{name}")
    try:
        impostor.wait_event("error", code="name_taken", timeout=DEADLINE)
        assert impostor.exit_code() == 2
    finally:
        impostor.kill()


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_after_a_redis_restart_registries_reconnect_presence_holds_and_bindings_survive(
    how: str, tmp_path: Path, network: Network, redis: RedisServer, clients: list[CliProcess]
) -> None:
    one, two = network.registry(), network.registry()
    alice = start(clients, "alice", one, tmp_path / "a")
    bob = start(clients, "bob", two, tmp_path / "b")
    carol = start(clients, "carol", one, tmp_path / "c")
    alice.wait_online("bob", "carol")
    assert carol.quit() == 0  # bound, offline
    alice.wait_for(lambda e: e.get("event") == "presence" and "carol" not in e["online"])

    if how == "kill":
        redis.kill()  # a crash: what Redis answered is in the AOF (the OS has it)
    redis.restart()
    reconnected([one, two])

    # Presence: a newcomer on two sees alice (held by one) at once; lookups and chat work.
    dave = start(clients, "dave", two, tmp_path / "d")
    dave.wait_online("alice", "bob")
    dave.send(cmd="send", to="alice", body="after the restart")
    alice.wait_event("message", body="after the restart")
    bob.send(cmd="send", to="alice", body="still here")
    alice.wait_event("message", body="still here")

    # Bindings: neither the online alice nor the offline carol can be taken by another key.
    impostor_refused(tmp_path, "carol", two)
    impostor_refused(tmp_path, "alice", two)


def test_a_redis_that_came_back_empty_gets_presence_again_from_the_registries(
    tmp_path: Path, network: Network, redis: RedisServer, clients: list[CliProcess]
) -> None:
    one, two = network.registry(), network.registry()
    alice = start(clients, "alice", one, tmp_path / "a")
    bob = start(clients, "bob", two, tmp_path / "b")
    alice.wait_online("bob")

    redis.stop()
    for path in redis.directory.iterdir():  # its data lost: a new, empty Redis on that port
        if path.name.startswith("appendonly"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    redis.restart()
    reconnected([one, two])

    dave = start(clients, "dave", two, tmp_path / "d")
    dave.wait_online("alice", "bob")
    alice.send(cmd="send", to="bob", body="rebuilt")
    bob.wait_event("message", body="rebuilt")
