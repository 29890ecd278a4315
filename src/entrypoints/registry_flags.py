"""The flags of ``chinwag-registry`` (and of ``chinwag-registry release``): each with its
environment variable, parsed into clear errors (argparse exits 2 with one line naming the flag).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from chinwag.adapters.registry.endpoints import parse_endpoints
from chinwag.adapters.registry.relay_session import (
    DEFAULT_RELAY_RATE,
    MAX_RELAY_SESSIONS_PER_CLIENT,
)
from chinwag.application.registry.fanout import PRESENCE_ALL_BELOW
from chinwag.entrypoints.common import LOG_LEVELS
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


def parse_release(argv: Sequence[str]) -> argparse.Namespace:
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


def _address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT``) to listen on (WebSocket, metrics); port 0 picks a free
    one."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:7421; port 0 picks a free one)"
        )
    return host, int(port)


def _proxies(text: str) -> list[str]:
    """Addresses or networks (CIDR), comma separated, whose ``X-Forwarded-For`` is believed."""
    networks = []
    for part in text.split(","):
        cidr = part.strip()
        if not cidr:
            continue
        try:
            networks.append(str(ipaddress.ip_network(cidr, strict=False)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{cidr!r} is not an address or a network (127.0.0.1, 10.0.0.0/8, ::1)"
            ) from None
    return networks


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
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
        "--ws",
        type=_address,
        default=os.environ.get("CHINWAG_REGISTRY_WS") or None,
        metavar="HOST:PORT",
        help="also listen for WebSocket connections there, path /chinwag (clients give "
        "--registry ws://HOST:PORT/chinwag, or wss:// through a TLS proxy) (env "
        "CHINWAG_REGISTRY_WS, default off)",
    )
    parser.add_argument(
        "--trust-proxy",
        type=_proxies,
        default=os.environ.get("CHINWAG_REGISTRY_TRUST_PROXY") or "",
        metavar="CIDR[,CIDR]",
        help="WebSocket connections from these addresses are a reverse proxy's: the client is "
        "the last X-Forwarded-For hop, for the per-address limits (env "
        "CHINWAG_REGISTRY_TRUST_PROXY, default none)",
    )
    parser.add_argument(
        "--metrics",
        type=_address,
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


def check(args: argparse.Namespace) -> str | None:
    """What is wrong with flags that are right one by one, if anything."""
    if not 0.3 <= args.idle_timeout <= 3600:
        return "--idle-timeout must be between 0.3 and 3600 seconds"
    if args.trust_proxy and args.ws is None:
        return "--trust-proxy is about WebSocket connections: give --ws too"
    if args.advertise and args.redis is None:
        return "--advertise is for registries sharing a Redis: give --redis too"
    if args.redis is not None and not args.advertise and args.host in WILDCARDS:
        return (
            f"--host {args.host} listens on every address: with --redis, give --advertise with "
            "the URLs clients reach this registry at (tcp://HOST:PORT)"
        )
    return None
