"""``chinwag-registry``: run the registry server until SIGINT or SIGTERM; or free a name.

Flags win over the environment (``CHINWAG_REGISTRY_HOST``, ``CHINWAG_REGISTRY_PORT``), which wins
over the defaults (127.0.0.1, 7420). Once it accepts connections it prints two lines to stdout,
``chinwag-registry listening on HOST:PORT`` then ``chinwag-registry key FINGERPRINT``; logs go
to stderr. ``chinwag-registry release NAME`` frees a name bound to a lost key.

It relays sessions for clients that cannot be reached directly unless ``--no-relay``; each
client's relayed bytes are metered (``--relay-rate``) and its sessions capped
(``--relay-sessions``).
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

from chinwag.adapters.files import private_folder
from chinwag.adapters.registry.limits import fit_descriptors
from chinwag.adapters.registry.names import NameBook, release
from chinwag.adapters.registry.relay_session import (
    DEFAULT_RELAY_RATE,
    MAX_RELAY_SESSIONS_PER_CLIENT,
)
from chinwag.adapters.registry.server import (
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_HOST,
    RegistryServer,
)
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import KeyFileError, LocalKeys, load_or_create_keys
from chinwag.adapters.sqlite.database import StorageError
from chinwag.application.errors import AddressInUse
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.identity import fingerprint
from chinwag.domain.user import normalize_username
from chinwag.entrypoints.common import LOG_FORMAT, LOG_LEVELS, run_event_loop
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
    return parser.parse_args(argv)


def _release(argv: Sequence[str]) -> int:
    args = _parse_release(argv)
    try:
        name = normalize_username(args.name)
    except InvalidUsername as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
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


async def _serve(args: argparse.Namespace, keys: LocalKeys, names: NameBook) -> None:
    connections = fit_descriptors(MAX_CONNECTIONS)
    server = RegistryServer(
        args.host,
        args.port,
        max_connections=connections,
        max_per_host=min(MAX_CONNECTIONS_PER_HOST, connections),
        heartbeat_interval=args.idle_timeout / 3,
        idle_timeout=args.idle_timeout,
        names=names,
        security=Security(keys),
        probe=args.probe,
        relay=args.relay,
        relay_rate=args.relay_rate,
        relay_sessions=args.relay_sessions,
    )
    bound_host, bound_port = await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        print(f"{PROG} listening on {_display(bound_host, bound_port)}", flush=True)
        print(f"{PROG} key {fingerprint(keys.identity_key)}", flush=True)
        await stop.wait()
        logging.getLogger(__name__).info("stopping")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the registry; 0 after SIGINT/SIGTERM, 2 if it cannot listen or a flag is wrong."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == ["release"]:
        return _release(arguments[1:])
    args = _parse(arguments)
    if not 0.3 <= args.idle_timeout <= 3600:
        print(f"{PROG}: --idle-timeout must be between 0.3 and 3600 seconds", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format=LOG_FORMAT,
    )
    try:
        keys, names = open_registry_state(args.data_dir)
    except (StorageError, KeyFileError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    try:
        run_event_loop(_serve(args, keys, names))
    except KeyboardInterrupt:  # SIGINT before the handlers were installed
        return 0
    except AddressInUse as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"{PROG}: cannot listen on {_display(args.host, args.port)}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    finally:
        names.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
