"""Fixtures of the integration tests that need a network of registries on Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registry_network import Network
from tests.services import RedisServer


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A real ``redis-server`` (AOF, everysec) on a free port, for one test."""
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def network(tmp_path: Path, redis: RedisServer) -> Iterator[Network]:
    """Registries on ``redis`` sharing one key; every one of them killed afterwards."""
    net = Network(tmp_path, redis)
    yield net
    net.close()
