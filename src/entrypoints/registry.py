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
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from chinwag.adapters.files import private_folder
from chinwag.adapters.registry.endpoints import parse_endpoint, parse_endpoints
from chinwag.adapters.registry.limits import fit_descriptors
from chinwag.adapters.registry.names import NameBook, release
from chinwag.adapters.registry.relay_session import (
    DEFAULT_RELAY_RATE,
    MAX_RELAY_SESSIONS_PER_CLIENT,
)
from chinwag.adapters.registry.server import MAX_CONNECTIONS, MAX_CONNECTIONS_PER_HOST
from chinwag.adapters.registry.store.redis_names import RedisNameStore
from chinwag.adapters.registry.store.redis_network import OtherNetwork
from chinwag.adapters.secure.keys import KeyFileError, LocalKeys, load_or_create_keys
from chinwag.adapters.sqlite.database import StorageError
from chinwag.application.errors import AddressInUse
from chinwag.application.registry.fanout import PRESENCE_ALL_BELOW
from chinwag.application.registry.ports.errors import StoreUnavailable
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.identity import fingerprint
from chinwag.domain.user import normalize_username
from chinwag.entrypoints.common import LOG_FORMAT, LOG_LEVELS, run_event_loop
from chinwag.entrypoints.registry_container import (
    EMBEDDED,
    REDIS,
    RegistryContainer,
    advertise,
    close_stores,
    open_network,
)
from chinwag.entrypoints.settings import default_data_dir

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7420
PROG = "chinwag-registry"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 0 and 65535")
    return port


_UNITS = {"": 1, "K": 1024, "KI": 1024, "M": 1024**2, "MI": 1024**2, "G": 1024**3, "GI": 1024**3}
MIN_RELAY_RATE = 1024
MAX_RELAY_SESSIONS_FLAG = 10_000


def _rate(text: str) -> int:
    """Bytes a second: a whole number, optionally with K, M or G (binary: 8M is 8 MiB/s)."""
    cleaned = text.strip().upper().removesuffix("/S").removesuffix("B")
    digits = cleaned.rstrip("KMGI")
    unit = cleaned[len(digits) :]
    if unit not in _UNITS or not digits.isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rate in bytes a second (a whole number, optionally with K, M or "
            "G: 8388608 or 8M)"
        )
    rate = int(digits) * _UNITS[unit]
    if rate < MIN_RELAY_RATE:
        raise argparse.ArgumentTypeError(
            f"{text} is below the smallest relay rate, {MIN_RELAY_RATE} bytes a second"
        )
    return rate


def _sessions(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= MAX_RELAY_SESSIONS_FLAG:
        raise argparse.ArgumentTypeError(f"{count} is not between 1 and {MAX_RELAY_SESSIONS_FLAG}")
    return count


MAX_PRESENCE_ALL_BELOW = 10_000_000
REDIS_SCHEMES = ("redis", "rediss", "unix")
WILDCARDS = ("0.0.0.0", "::", "")


def _presence_below(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= MAX_PRESENCE_ALL_BELOW:
        raise argparse.ArgumentTypeError(f"{count} is not between 1 and {MAX_PRESENCE_ALL_BELOW}")
    return count


def _redis_url(text: str) -> str:
    """``redis://HOST:PORT/DB`` (or ``rediss://``, ``unix:///PATH``), as redis-py reads it."""
    url = text.strip()
    wrong = f"{text!r} is not a Redis URL: give redis://HOST:PORT/DB (redis://127.0.0.1:6379/0)"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when it is no port number
    except ValueError:
        raise argparse.ArgumentTypeError(wrong) from None
    if parts.scheme not in REDIS_SCHEMES:
        raise argparse.ArgumentTypeError(wrong)
    if parts.scheme == "unix":
        if not parts.path:
            raise argparse.ArgumentTypeError(wrong)
        return url
    database = parts.path.removeprefix("/")
    if not parts.hostname or port == 0 or (database and not database.isdigit()):
        raise argparse.ArgumentTypeError(wrong)
    return url


def _advertised(text: str) -> list[str]:
    """This registry's client-facing URLs, as clients type them (``tcp://HOST:PORT``,
    ``ws://HOST:PORT/chinwag``, ``wss://HOST/chinwag``), comma separated; each in its one
    spelling."""
    try:
        return [endpoint.url for endpoint in parse_endpoints(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _metrics_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT``) to serve the metrics on; port 0 picks a free one."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9464; port 0 picks a free one)"
        )
    return host, int(port)


def _redis_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--redis",
        type=_redis_url,
        default=os.environ.get("CHINWAG_REGISTRY_REDIS") or None,
        metavar="redis://HOST:PORT/DB",
        help=f"{what} (env CHINWAG_REGISTRY_REDIS; default: none, the data folder)",
    )


def _data_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(
            os.environ.get("CHINWAG_REGISTRY_DATA_DIR")
            or os.environ.get("CHINWAG_DATA_DIR")
            or default_data_dir()
        ),
        help="where the registry keeps its key (registry.key) and the names bound to keys "
        "(registry.sqlite3) (env CHINWAG_REGISTRY_DATA_DIR, else CHINWAG_DATA_DIR as the "
        "clients use it, default %(default)s)",
    )


def _parse_release(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} release",
        description="Free NAME, bound to a key its owner lost, so that a new key can register "
        "it. Works on the data folder of a stopped or a running registry (a running one "
        "notices at the next sign-in of that name).",
    )
    parser.add_argument("name", metavar="NAME")
    _data_dir_argument(parser)
    _redis_argument(
        parser, "free it in the Redis that a network of registries shares (each one hears it)"
    )
    return parser.parse_args(argv)


def _release(argv: Sequence[str]) -> int:
    args = _parse_release(argv)
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
    if not released:
        print(f"{PROG}: nobody called {name} is registered in {args.data_dir}", file=sys.stderr)
        return 2
    print(
        f"{PROG}: released {name} in {args.data_dir}; the next key to sign in as {name} owns it",
        flush=True,
    )
    return 0


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
    if not released:
        print(f"{PROG}: nobody called {name} is registered in {url}", file=sys.stderr)
        return 2
    print(
        f"{PROG}: released {name} in {url}; the next key to sign in as {name} owns it",
        flush=True,
    )
    return 0


def open_registry_state(data_dir: Path) -> tuple[LocalKeys, NameBook]:
    """The registry's key and name book in ``data_dir`` (created privately on first use)."""
    private_folder(data_dir)
    keys = load_or_create_keys(data_dir / "registry.key")
    return keys, NameBook(data_dir / "registry.sqlite3")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The chinwag registry server. `chinwag-registry release NAME` frees a name.",
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("CHINWAG_REGISTRY_HOST", DEFAULT_HOST),
        help="address to listen on (env CHINWAG_REGISTRY_HOST, default %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=os.environ.get("CHINWAG_REGISTRY_PORT", str(DEFAULT_PORT)),
        help="TCP port, 0 picks a free one (env CHINWAG_REGISTRY_PORT, default %(default)s)",
    )
    _data_dir_argument(parser)
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="a client that sends nothing for this long is dropped and leaves presence; clients "
        "ping every third of it (default %(default)s)",
    )
    parser.add_argument(
        "--no-relay",
        dest="relay",
        action="store_false",
        help="do not relay sessions between clients; those that cannot reach each other "
        "directly keep their messages queued",
    )
    parser.add_argument(
        "--relay-rate",
        type=_rate,
        default=DEFAULT_RELAY_RATE,
        metavar="BYTES_PER_SECOND",
        help="bytes a second one client may send through the relay, all its sessions together "
        "(K, M, G allowed: 8M; default %(default)s)",
    )
    parser.add_argument(
        "--relay-sessions",
        type=_sessions,
        default=MAX_RELAY_SESSIONS_PER_CLIENT,
        metavar="N",
        help="relay sessions one client may have open at once (default %(default)s)",
    )
    parser.add_argument(
        "--presence-all-below",
        type=_presence_below,
        default=os.environ.get("CHINWAG_REGISTRY_PRESENCE_ALL_BELOW", str(PRESENCE_ALL_BELOW)),
        metavar="N",
        help="while fewer than N are online, every client is told about everyone; from N on, "
        "only about the names it watches (env CHINWAG_REGISTRY_PRESENCE_ALL_BELOW, default "
        "%(default)s)",
    )
    _redis_argument(
        parser,
        "share names and presence with the other registries on this Redis (started with the "
        "same registry.key); without it, names are kept in the data folder",
    )
    parser.add_argument(
        "--advertise",
        type=_advertised,
        default=os.environ.get("CHINWAG_REGISTRY_ADVERTISE") or None,
        metavar="URL[,URL]",
        help="with --redis: this registry's URLs as its clients reach it (tcp://HOST:PORT, "
        "ws://HOST:PORT/chinwag, wss://HOST/chinwag), told to clients of other registries that "
        "join a relayed session here; needed when --host is a wildcard (env "
        "CHINWAG_REGISTRY_ADVERTISE, default tcp://HOST:PORT as it listens)",
    )
    parser.add_argument(
        "--metrics",
        type=_metrics_address,
        default=os.environ.get("CHINWAG_REGISTRY_METRICS") or None,
        metavar="HOST:PORT",
        help="serve Prometheus metrics over HTTP there (env CHINWAG_REGISTRY_METRICS, default off)",
    )
    parser.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help=argparse.SUPPRESS,  # for tests: do not connect back to clients
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("CHINWAG_LOG_LEVEL", "INFO").upper(),
        type=str.upper,
        choices=LOG_LEVELS,
        help="logging threshold (env CHINWAG_LOG_LEVEL, default %(default)s)",
    )
    return parser.parse_args(argv)


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
            "metrics": args.metrics is not None,
            "metrics_host": metrics_host,
            "metrics_port": metrics_port,
        }
    )
    return container


def _derived_url(host: str, port: int) -> str:
    """``tcp://HOST:PORT`` of the address this registry listens on."""
    return parse_endpoint(_display(host, port)).url


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
        if args.redis is not None and not args.advertise:
            advertise(container, [_derived_url(bound_host, bound_port)])
        metrics = container.metrics()
        print(f"{PROG} listening on {_display(bound_host, bound_port)}", flush=True)
        print(f"{PROG} key {fingerprint(keys.identity_key)}", flush=True)
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


def _check(args: argparse.Namespace) -> str | None:
    """What is wrong with flags that are right one by one, if anything."""
    if not 0.3 <= args.idle_timeout <= 3600:
        return "--idle-timeout must be between 0.3 and 3600 seconds"
    if args.advertise and args.redis is None:
        return "--advertise is for registries sharing a Redis: give --redis too"
    if args.redis is not None and not args.advertise and args.host in WILDCARDS:
        return (
            f"--host {args.host} listens on every address: with --redis, give --advertise with "
            "the URLs clients reach this registry at (tcp://HOST:PORT)"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the registry; 0 after SIGINT/SIGTERM, 2 if it cannot listen, a flag is wrong or the
    shared Redis cannot be used."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["release"]:
        return _release(arguments[1:])
    args = _parse(arguments)
    problem = _check(args)
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
