"""Client settings: flags > environment (``CHINWAG_*``) > defaults, and where data lives."""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

import platformdirs

from chinwag.domain.errors import InvalidUsername
from chinwag.domain.user import normalize_username
from chinwag.entrypoints.common import StartupError, log_level, parse_address

DEFAULT_REGISTRY = "127.0.0.1:7420"
REGISTRY_PORT = 7420


@dataclass(frozen=True)
class ClientSettings:
    user: str | None
    registry: tuple[str, int]
    data_dir: Path
    listen: tuple[str, int]
    log_level: str
    json: bool = False

    def user_dir(self, user: str) -> Path:
        """This user's own folder: every user of a data folder has a separate one."""
        return self.data_dir / user_folder_name(user)


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("chinwag", appauthor=False))


def user_folder_name(user: str) -> str:
    """A file name for a username that no name can turn into a path (``..``, ``/``)."""
    return "user-" + quote(user, safe="").replace(".", "%2E")


def default_listen_host(registry_host: str) -> str:
    """Loopback when the registry is on this machine, every interface otherwise.

    The registry records the address it sees the client connect from when the client listens
    on every interface, so peers on other machines reach it without any flag.
    """
    try:
        loopback = ipaddress.ip_address(registry_host).is_loopback
    except ValueError:
        loopback = registry_host == "localhost"
    return "127.0.0.1" if loopback else "0.0.0.0"


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", help="your username (env CHINWAG_USER)")
    parser.add_argument(
        "--registry",
        metavar="HOST:PORT",
        help=f"the registry to sign in with (env CHINWAG_REGISTRY, default {DEFAULT_REGISTRY})",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        help=f"where history is kept (env CHINWAG_DATA_DIR, default: {default_data_dir()})",
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="where to accept peers (env CHINWAG_LISTEN; default port 0 = any free port, on "
        "loopback if the registry is local, else on every interface)",
    )
    parser.add_argument(
        "--log-level",
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING (default), ERROR (env CHINWAG_LOG_LEVEL); logs go to stderr",
    )


def resolve(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> ClientSettings:
    """Settings from parsed flags, then the environment, then defaults; StartupError if bad."""

    def pick(flag: object, env: str) -> str | None:
        if flag is not None:
            return str(flag)
        return environ.get(env) or None

    try:
        user = pick(args.user, "CHINWAG_USER")
        if user is not None:
            user = normalize_username(user)
        registry = parse_address(
            pick(args.registry, "CHINWAG_REGISTRY") or DEFAULT_REGISTRY,
            default_port=REGISTRY_PORT,
        )
        listen_text = pick(args.listen, "CHINWAG_LISTEN")
        listen_host = default_listen_host(registry[0])
        listen = (
            parse_address(listen_text, default_port=0, default_host=listen_host)
            if listen_text
            else (listen_host, 0)
        )
        level = log_level(pick(args.log_level, "CHINWAG_LOG_LEVEL") or "WARNING")
    except InvalidUsername as exc:
        raise StartupError(str(exc), code=exc.code) from None
    except ValueError as exc:
        raise StartupError(str(exc), code="bad_flag") from None
    data_dir = pick(args.data_dir, "CHINWAG_DATA_DIR")
    return ClientSettings(
        user=user,
        registry=registry,
        data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
        listen=listen,
        log_level=level,
        json=bool(getattr(args, "json", False)),
    )


def load_or_create_session(path: Path) -> str:
    """The token that lets this data folder's client take its own name back from a ghost
    connection at the registry; made once, kept private (mode 0600)."""
    try:
        token = path.read_text(encoding="ascii").strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"cannot read {path}: {exc}", code="storage") from None
    token = secrets.token_hex(16)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(token + "\n")
    except OSError as exc:
        raise StartupError(f"cannot write {path}: {exc.strerror or exc}", code="storage") from None
    return token


def lock_user_folder(folder: Path, user: str) -> IO[bytes]:
    """Make sure no other chinwag runs as ``user`` on this data folder; keep the returned file
    open for as long as the program runs (the lock goes with it, even if the process is killed).

    Two clients sharing one history and one registry session would take the name from each
    other; the second is refused instead.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / "lock", "ab")  # noqa: SIM115 - held until exit on purpose
    except OSError as exc:
        raise StartupError(
            f"cannot use the data folder {folder}: {exc.strerror or exc}", code="storage"
        ) from None
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the registry still refuses a second name
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StartupError(
            f"{user} is already running with the data folder {folder.parent}; "
            "quit that chinwag first, or give this one another --data-dir",
            code="already_running",
        ) from None
    return handle


def container_config(settings: ClientSettings, user: str) -> dict[str, object]:
    """The container's configuration for ``user``."""
    folder = settings.user_dir(user)
    return {
        "core": {"log_level": settings.log_level},
        "adapters": {
            "database_path": folder / "history.sqlite3",
            "synchronous": "FULL",
            "registry_host": settings.registry[0],
            "registry_port": settings.registry[1],
            "session": load_or_create_session(folder / "session"),
        },
    }
