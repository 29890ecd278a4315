"""``chinwag-registry``: run the registry server until SIGINT or SIGTERM; or free a name.

Flags win over the environment (``CHINWAG_REGISTRY_HOST``, ``CHINWAG_REGISTRY_PORT``), which wins
over the defaults (127.0.0.1, 7420). Once it accepts connections it prints two lines to stdout,
``chinwag-registry listening on HOST:PORT`` then ``chinwag-registry key FINGERPRINT``; logs go
to stderr. ``chinwag-registry release NAME`` frees a name bound to a lost key.
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
from chinwag.adapters.registry.names import NameBook, release
from chinwag.adapters.registry.server import RegistryServer
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
        "--log-level",
        default=os.environ.get("CHINWAG_LOG_LEVEL", "INFO").upper(),
        type=str.upper,
        choices=LOG_LEVELS,
        help="logging threshold (env CHINWAG_LOG_LEVEL, default %(default)s)",
    )
    return parser.parse_args(argv)


def _display(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _serve(
    host: str, port: int, idle_timeout: float, keys: LocalKeys, names: NameBook
) -> None:
    server = RegistryServer(
        host,
        port,
        heartbeat_interval=idle_timeout / 3,
        idle_timeout=idle_timeout,
        names=names,
        security=Security(keys),
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
        run_event_loop(_serve(args.host, args.port, args.idle_timeout, keys, names))
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
