"""Several ``chinwag-registry --redis`` processes on one real ``redis-server``, for the tests
of a network of registries (the ``redis`` and ``network`` fixtures are in
``tests/integration/conftest.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from chinwag.adapters.secure.keys import load_or_create_keys
from tests.processes import RegistryProcess
from tests.services import RedisServer

IDLE_TIMEOUT = 2.0
"""The registries' ``--idle-timeout``: short, so a killed registry's names go soon."""


class Network:
    """Registries on ``redis``, each with a data folder of its own holding the same
    ``registry.key`` (a network has one key: clients pin it, and a relayed session on another
    registry must prove it)."""

    def __init__(self, root: Path, redis: RedisServer) -> None:
        self.root = root
        self.redis = redis
        self.key = root / "registry.key"
        load_or_create_keys(self.key)
        self.registries: list[RegistryProcess] = []

    def registry(self, *extra: str) -> RegistryProcess:
        folder = self.root / f"registry{len(self.registries) + 1}"
        folder.mkdir(mode=0o700)
        shutil.copy2(self.key, folder / "registry.key")
        process = RegistryProcess(
            extra=("--redis", self.redis.url, "--idle-timeout", str(IDLE_TIMEOUT), *extra),
            data_dir=folder,
        )
        self.registries.append(process)
        return process

    def close(self) -> None:
        for process in self.registries:
            process.kill()
