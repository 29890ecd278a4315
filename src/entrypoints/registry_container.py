"""The registry's composition root: one dependency-injector container, like the client's
(:mod:`chinwag.entrypoints.container`).

``config.store`` picks the stores: ``embedded`` (one registry alone: names in its name book,
presence in its memory) or ``redis`` (several registries sharing one Redis at
``config.redis_url``: names, presence, the bus and the relay router of design §4). The
:class:`~chinwag.adapters.registry.server.RegistryServer` runs on them; the metrics server, when
``config.metrics`` is on, reads its counters. :func:`open_network` and :func:`close_stores` are
what the stores need before and after serving that the server does not do (joining the Redis
network with this registry's key; closing the name book or the Redis client).

Configuration (``container.config.from_dict``): ``data_dir``, ``host``, ``port``,
``idle_timeout``, ``max_connections``, ``max_per_host``, ``probe``, ``relay``, ``relay_rate``,
``relay_sessions``, ``presence_all_below``, ``store`` (``embedded``/``redis``), ``redis_url``,
``advertise`` (list of URLs), ``metrics`` (bool), ``metrics_host``, ``metrics_port``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from dependency_injector import containers, providers
from redis.asyncio import Redis

from chinwag.adapters.files import private_folder
from chinwag.adapters.registry.core import Stores, embedded_stores, new_registry_id
from chinwag.adapters.registry.metrics import ConnectionCensus, MetricsServer, serve_metrics
from chinwag.adapters.registry.names import NameBook, NameBookStore
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.registry.store.redis_bus import RedisPresenceBus
from chinwag.adapters.registry.store.redis_names import RedisNameStore, redis_client
from chinwag.adapters.registry.store.redis_network import join_network
from chinwag.adapters.registry.store.redis_presence import RedisPresenceStore
from chinwag.adapters.registry.store.redis_router import RedisRelayRouter
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys, load_or_create_keys
from chinwag.application.registry.sessions import LocalClients
from chinwag.application.registry.stats import RegistryStats

EMBEDDED = "embedded"
REDIS = "redis"


def registry_keys(data_dir: str | Path) -> LocalKeys:
    """The registry's key in ``data_dir`` (the folder made private first)."""
    folder = Path(data_dir)
    private_folder(folder)
    return load_or_create_keys(folder / "registry.key")


def name_book(data_dir: str | Path) -> NameBook:
    """The name book of a registry alone, in ``data_dir``."""
    return NameBook(Path(data_dir) / "registry.sqlite3")


def urls_of(advertise: Sequence[str] | None) -> tuple[str, ...]:
    """``config.advertise`` as a tuple (None: none given)."""
    return tuple(advertise or ())


def redis_stores(
    client: Redis,
    registry: str,
    idle_timeout: float,
    advertise: Sequence[str] | None,
    stats: RegistryStats,
) -> Stores:
    """The stores of a registry sharing ``client``'s Redis with others: names, presence (its
    entries live ``idle_timeout`` past its last heartbeat), the bus and the relay router
    (``advertise``: this registry's client-facing URLs, the ``via`` of its relay offers)."""
    urls = urls_of(advertise)
    clients = LocalClients(registry)
    return Stores(
        names=RedisNameStore(client),
        presence=RedisPresenceStore(client, registry, idle_timeout, urls),
        bus=RedisPresenceBus(client, registry, stats=stats),
        router=RedisRelayRouter(client, clients, urls, stats=stats),
        clients=clients,
        stats=stats,
    )


def census(server: RegistryServer) -> ConnectionCensus | None:
    """The server as the metrics' connection census, once it keeps one
    (``connection_states``)."""
    return cast(ConnectionCensus, server) if hasattr(server, "connection_states") else None


def metrics_server(on: bool, host: str, port: int, server: RegistryServer) -> MetricsServer | None:
    """The metrics server over ``server``'s counters, listening now; None if off."""
    if not on:
        return None
    return serve_metrics(host, port, server.core.stats, census(server))


class RegistryContainer(containers.DeclarativeContainer):
    """The registry: its key, its stores (by ``config.store``), the server, the metrics."""

    config = providers.Configuration()
    registry_id = providers.Singleton(new_registry_id)
    """A fresh id per run of the process (the epochs of its sign-ins start with it)."""
    stats = providers.Singleton(RegistryStats)
    keys = providers.Singleton(registry_keys, config.data_dir)
    security = providers.Singleton(Security, keys)
    book = providers.Singleton(name_book, config.data_dir)
    redis = providers.Singleton(redis_client, config.redis_url)
    stores: providers.Provider[Stores] = providers.Selector(
        config.store,
        embedded=providers.Singleton(
            embedded_stores,
            providers.Singleton(NameBookStore, book),
            registry_id,
            advertised=providers.Callable(urls_of, config.advertise),
        ),
        redis=providers.Singleton(
            redis_stores, redis, registry_id, config.idle_timeout, config.advertise, stats
        ),
    )
    server = providers.Singleton(
        RegistryServer,
        config.host,
        config.port,
        heartbeat_interval=providers.Callable(lambda idle: idle / 3, config.idle_timeout),
        idle_timeout=config.idle_timeout,
        max_connections=config.max_connections,
        max_per_host=config.max_per_host,
        stores=stores,
        presence_all_below=config.presence_all_below,
        ws=config.ws,
        trusted_proxies=config.trusted_proxies,
        security=security,
        probe=config.probe,
        relay=config.relay,
        relay_rate=config.relay_rate,
        relay_sessions=config.relay_sessions,
    )
    metrics = providers.Singleton(
        metrics_server, config.metrics, config.metrics_host, config.metrics_port, server
    )


async def open_network(container: RegistryContainer) -> bool:
    """Before serving on Redis: join the network of ``cw:net`` with this registry's key (True
    if this registry is its first). Raises ``OtherNetwork`` if the network has another key,
    StoreUnavailable if Redis cannot be reached. Nothing to do for the embedded stores."""
    if container.config.store() != REDIS:
        return False
    return await join_network(container.redis(), container.keys().identity_key)


def advertise(container: RegistryContainer, urls: Sequence[str]) -> None:
    """``urls`` are this registry's client-facing URLs from now on (derived once it listens,
    when ``config.advertise`` gave none)."""
    stores = container.stores()
    for adapter in (stores.presence, stores.router):
        if isinstance(adapter, RedisPresenceStore | RedisRelayRouter):
            adapter.advertise(urls)


async def close_stores(container: RegistryContainer) -> None:
    """After the server closed: the name book closed, or the Redis client (the Redis stores
    share it and leave it to its maker)."""
    stores: Any = container.stores()
    await stores.names.close()
    if container.config.store() == REDIS:
        await container.redis().aclose()
