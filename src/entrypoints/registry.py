"""``chinwag-registry``: run the registry server until SIGINT or SIGTERM; or free a name.

Flags win over the environment (``CHINWAG_REGISTRY_HOST``, ``CHINWAG_REGISTRY_PORT``,
``CHINWAG_REGISTRY_REDIS``...: each flag's help names its variable), which wins over the
defaults (127.0.0.1, 7420). Once it accepts connections it prints two lines to stdout,
``chinwag-registry listening on HOST:PORT`` then ``chinwag-registry key FINGERPRINT`` (and
``chinwag-registry metrics on HOST:PORT`` with ``--metrics``); logs go to stderr.
``chinwag-registry release NAME`` frees a name bound to a lost key.

It relays sessions for clients that cannot be reached directly unless ``--no-relay``; each
client's relayed bytes are metered (``--relay-rate``) and its sessions capped
(``--relay-sessions``).

Alone, a registry keeps names in its data folder and presence in its memory. With ``--redis
redis://HOST:PORT/DB`` several registries (started with the same ``registry.key``) share one
network: names, presence and relay offers go through that Redis (design-registry.md §4), and
each registry tells its clients its own ``--advertise`` URLs when a relayed session is on
another registry. The parts are wired in :mod:`chinwag.entrypoints.registry_container`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from chinwag.adapters.files import private_folder
from chinwag.adapters.registry.endpoints import parse_endpoint
from chinwag.adapters.registry.limits import fit_descriptors
from chinwag.adapters.registry.names import NameBook, release
from chinwag.adapters.registry.server import MAX_CONNECTIONS, MAX_CONNECTIONS_PER_HOST
from chinwag.adapters.registry.store.redis_names import RedisNameStore
from chinwag.adapters.registry.store.redis_network import OtherNetwork
from chinwag.adapters.secure.keys import KeyFileError, LocalKeys, load_or_create_keys
from chinwag.adapters.sqlite.database import StorageError
from chinwag.application.errors import AddressInUse
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.identity import fingerprint
from chinwag.domain.user import normalize_username
from chinwag.entrypoints.common import LOG_FORMAT, run_event_loop
from chinwag.entrypoints.registry_container import (
    EMBEDDED,
    REDIS,
    RegistryContainer,
    advertise,
    close_stores,
    open_network,
)
from chinwag.entrypoints.registry_flags import PROG, check, parse, parse_release


def _release(argv: Sequence[str]) -> int:
    args = parse_release(argv)
    try:
        name = normalize_username(args.name)
    except InvalidUsername as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if args.redis is not None:
        return _release_in_redis(args.redis, name)
    path = args.data_dir / "registry.sqlite3"
    if not path.exists():
        print(f"{PROG}: no registry data in {args.data_dir}", file=sys.stderr)
        return 2
    try:
        released = release(path, name)
    except StorageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    return _said(released, name, str(args.data_dir))


def _release_in_redis(url: str, name: str) -> int:
    async def free() -> bool:
        store = RedisNameStore.from_url(url)
        try:
            return await store.release(name)
        finally:
            await store.close()

    try:
        released = asyncio.run(free())
    except StoreUnavailable as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    return _said(released, name, url)


def _said(released: bool, name: str, where: str) -> int:
    """The one line of ``release``, and its exit code."""
    if not released:
        print(f"{PROG}: nobody called {name} is registered in {where}", file=sys.stderr)
        return 2
    print(
        f"{PROG}: released {name} in {where}; the next key to sign in as {name} owns it",
        flush=True,
    )
    return 0


def open_registry_state(data_dir: Path) -> tuple[LocalKeys, NameBook]:
    """The registry's key and name book in ``data_dir`` (created privately on first use)."""
    private_folder(data_dir)
    keys = load_or_create_keys(data_dir / "registry.key")
    return keys, NameBook(data_dir / "registry.sqlite3")


def _display(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _container(args: argparse.Namespace) -> RegistryContainer:
    connections = fit_descriptors(MAX_CONNECTIONS)
    metrics_host, metrics_port = args.metrics or ("", 0)
    container = RegistryContainer()
    container.config.from_dict(
        {
            "data_dir": str(args.data_dir),
            "host": args.host,
            "port": args.port,
            "idle_timeout": args.idle_timeout,
            "max_connections": connections,
            "max_per_host": min(MAX_CONNECTIONS_PER_HOST, connections),
            "probe": args.probe,
            "relay": args.relay,
            "relay_rate": args.relay_rate,
            "relay_sessions": args.relay_sessions,
            "presence_all_below": args.presence_all_below,
            "store": EMBEDDED if args.redis is None else REDIS,
            "redis_url": args.redis,
            "advertise": args.advertise,
            "ws": args.ws,
            "trusted_proxies": args.trust_proxy,
            "metrics": args.metrics is not None,
            "metrics_host": metrics_host,
            "metrics_port": metrics_port,
        }
    )
    return container


def _derived_url(host: str, port: int) -> str:
    """``tcp://HOST:PORT`` of the address this registry listens on."""
    return parse_endpoint(_display(host, port)).url


def _ws_url(host: str, port: int) -> str:
    """``ws://HOST:PORT/chinwag`` of the WebSocket listener."""
    return f"ws://{_display(host, port)}/chinwag"


async def _serve(args: argparse.Namespace, container: RegistryContainer) -> None:
    log = logging.getLogger(__name__)
    keys = container.keys()
    if args.redis is not None:
        first = await open_network(container)
        log.info(
            "sharing Redis %s as registry %s%s",
            args.redis,
            container.registry_id(),
            " (the first of its network)" if first else "",
        )
    server = container.server()
    bound_host, bound_port = await server.start()
    metrics = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        ws_url = None if args.ws is None else _ws_url(*server.ws_address)
        if args.redis is not None and not args.advertise:
            derived = [_derived_url(bound_host, bound_port)]
            advertise(container, derived if ws_url is None else [*derived, ws_url])
        metrics = container.metrics()
        print(f"{PROG} listening on {_display(bound_host, bound_port)}", flush=True)
        print(f"{PROG} key {fingerprint(keys.identity_key)}", flush=True)
        if ws_url is not None:
            print(f"{PROG} websocket on {ws_url}", flush=True)
        if metrics is not None:
            print(f"{PROG} metrics on {_display(*metrics.address)}", flush=True)
        await stop.wait()
        log.info("stopping")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if metrics is not None:
            metrics.close()
        await server.close()


async def _run(args: argparse.Namespace, container: RegistryContainer) -> None:
    try:
        await _serve(args, container)
    finally:
        await close_stores(container)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the registry; 0 after SIGINT/SIGTERM, 2 if it cannot listen, a flag is wrong or the
    shared Redis cannot be used."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["release"]:
        return _release(arguments[1:])
    args = parse(arguments)
    problem = check(args)
    if problem is not None:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format=LOG_FORMAT,
    )
    container = _container(args)
    try:
        container.keys()
        container.stores()
    except (StorageError, KeyFileError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        run_event_loop(_run(args, container))
    except KeyboardInterrupt:  # SIGINT before the handlers were installed
        return 0
    except AddressInUse as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"{PROG}: cannot use Redis at {args.redis}: {exc}", file=sys.stderr)
        return 2
    except OtherNetwork as exc:
        print(f"{PROG}: {args.redis}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"{PROG}: cannot listen on {_display(args.host, args.port)}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
