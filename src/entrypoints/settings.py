"""Client settings: flags > environment (``CHINWAG_*``) > defaults, and where data lives."""

from __future__ import annotations

import argparse
import base64
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar
from urllib.parse import quote

import platformdirs

from chinwag.adapters.console import INPUT_HISTORY_FILE
from chinwag.adapters.files import narrow_file, open_private, private_folder
from chinwag.adapters.gui.preferences import PREFERENCES_FILE
from chinwag.adapters.registry.endpoints import RegistryEndpoint
from chinwag.adapters.secure.keys import LocalKeys, load_or_create_keys
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.identity import InvalidFingerprint, normalize_fingerprint
from chinwag.domain.transfer import MAX_FILE_SIZE, FileLimits
from chinwag.domain.user import PeerAddress, normalize_username, validate_host
from chinwag.entrypoints.common import StartupError, log_level, parse_address
from chinwag.entrypoints.registry_config import Registries as Registries
from chinwag.entrypoints.registry_config import registries_of, registry_config
from chinwag.entrypoints.registry_config import registry_endpoint as registry_endpoint

T = TypeVar("T")

DEFAULT_REGISTRY = "127.0.0.1:7420"
REGISTRY_PORT = 7420

LEGACY_FOLDER_BYTES = 200
"""The longest user folder name kept in the first spelling (``user-`` + percent-encoding).

Longer ones take the compact spelling: the percent-encoding of a 32-character CJK name is 293
bytes, past the 255 a file name may have, and some file systems (eCryptfs) allow fewer still."""
NAME_MAX = 255
"""The longest file name on common file systems, in bytes."""

HISTORY_FILE = "history.sqlite3"
KEYS_FILE = "identity.key"
PINS_FILE = "registries.json"
LOCK_FILE = "lock"
OUR_FILES = (
    LOCK_FILE,
    KEYS_FILE,
    PINS_FILE,
    HISTORY_FILE,
    f"{HISTORY_FILE}-wal",
    f"{HISTORY_FILE}-shm",
    f"{HISTORY_FILE}-journal",
    INPUT_HISTORY_FILE,
    PREFERENCES_FILE,
)
"""Every name chinwag uses in a user's folder: a link under any of them is refused at start."""


@dataclass(frozen=True)
class ClientSettings:
    user: str | None
    registry: tuple[str, int]
    """The registries to sign in with: a :class:`Registries` (see :attr:`registries`), or one
    TCP registry as ``(host, port)``."""
    data_dir: Path
    listen: tuple[str, int] | None
    """None: accept no connections (``--listen none``)."""
    log_level: str
    json: bool = False
    registry_key: str | None = None
    """The registry's fingerprint given by the user (canonical form): any other key is refused."""
    downloads: Path | None = None
    """Where accepted files are saved (None: the platform's downloads folder)."""
    files: FileLimits = field(default_factory=FileLimits)
    """The largest file offer taken, and the largest taken unasked from verified contacts."""

    @property
    def registries(self) -> tuple[RegistryEndpoint, ...]:
        """Every registry to sign in with, in the order given (the first is tried first)."""
        return registries_of(self.registry)

    def listen_address(self) -> PeerAddress | None:
        """Where to accept peers, for sign-in (None: nowhere)."""
        if self.listen is None:
            return None
        return PeerAddress(host=self.listen[0], port=self.listen[1])

    def user_dir(self, user: str) -> Path:
        """This user's own folder: every user of a data folder has a separate one.

        A name whose first spelling is longer than :data:`LEGACY_FOLDER_BYTES` but still a valid
        file name keeps the folder an older chinwag made for it, so its history is not lost.
        """
        folder = self.data_dir / user_folder_name(user)
        legacy = _legacy_folder_name(user)
        if LEGACY_FOLDER_BYTES < len(legacy) <= NAME_MAX and not os.path.lexists(folder):
            old = self.data_dir / legacy
            if os.path.lexists(old):
                return old
        return folder


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("chinwag", appauthor=False))


def _legacy_folder_name(user: str) -> str:
    return "user-" + quote(user, safe="").replace(".", "%2E")


def user_folder_name(user: str) -> str:
    """A file name for a username that no name can turn into a path (``..``, ``/``).

    Two spellings, never equal for two names: ``user-`` + the percent-encoded name (what every
    name had before, kept so existing users keep their history) while that fits in
    :data:`LEGACY_FOLDER_BYTES`; else ``user~`` + the lowercase unpadded base32 of its UTF-8
    (``~`` never follows ``user`` in the first spelling). A valid name has at most 32 code points
    of at most 4 bytes: 128 bytes, 205 base32 letters, 210 with the prefix.
    """
    legacy = _legacy_folder_name(user)
    if len(legacy) <= LEGACY_FOLDER_BYTES:
        return legacy
    return "user~" + base64.b32encode(user.encode("utf-8")).decode("ascii").rstrip("=").lower()


def default_listen_host(registry_host: str, *more_hosts: str) -> str:
    """Loopback when the registry (every registry given) is on this machine, every interface
    otherwise.

    The registry records the address it sees the client connect from when the client listens
    on every interface, so peers on other machines reach it without any flag.
    """

    def loopback(host: str) -> bool:
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    local = all(loopback(host) for host in (registry_host, *more_hosts))
    return "127.0.0.1" if local else "0.0.0.0"


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", help="your username (env CHINWAG_USER)")
    parser.add_argument(
        "--registry",
        metavar="HOST:PORT,...",
        help="the registry to sign in with: HOST:PORT, tcp://HOST:PORT, ws://HOST[:PORT]/chinwag "
        "or wss://HOST[:PORT]/chinwag; or a comma-separated list of registries of one network, "
        "tried in turn when one is out of reach (env CHINWAG_REGISTRY, default "
        f"{DEFAULT_REGISTRY})",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        help=f"where history is kept (env CHINWAG_DATA_DIR, default: {default_data_dir()})",
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT|none",
        help="where to accept peers (env CHINWAG_LISTEN; default port 0 = any free port, on "
        "loopback if the registry is local, else on every interface); `none` accepts no "
        "connections at all (as behind a NAT): peers then reach you only through the registry's "
        "relay, if it relays",
    )
    parser.add_argument(
        "--log-level",
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING (default), ERROR (env CHINWAG_LOG_LEVEL); logs go to stderr",
    )
    parser.add_argument(
        "--registry-key",
        metavar="FINGERPRINT",
        help="pin the registry's key: its fingerprint as `chinwag-registry` prints it; refuses "
        "any other key (env CHINWAG_REGISTRY_KEY)",
    )
    parser.add_argument(
        "--downloads",
        metavar="DIR",
        help="where accepted files are saved (env CHINWAG_DOWNLOADS, default: your downloads "
        "folder)",
    )
    parser.add_argument(
        "--max-file-size",
        metavar="SIZE",
        help="refuse file offers larger than SIZE (bytes, or with K, M, G, T: 500M, 2G; env "
        f"CHINWAG_MAX_FILE_SIZE, default {_size_text(FileLimits().max_size)})",
    )
    parser.add_argument(
        "--auto-accept-size",
        metavar="SIZE",
        help="accept files up to SIZE from verified contacts without asking (env "
        "CHINWAG_AUTO_ACCEPT_SIZE, default 0: always ask)",
    )


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str) -> int:
    """A size as typed: bytes, or a number with ``K``, ``M``, ``G`` or ``T`` (binary units,
    ``KiB``/``KB`` spellings too): ``500M``, ``1.5G``. ValueError says what is wrong."""
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = cleaned[-1:] if cleaned[-1:] in _UNITS else ""
    number = cleaned[: len(cleaned) - len(unit)].strip()
    try:
        value = float(number) if "." in number else int(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size (bytes, or like 500M, 2G)") from None
    size = int(value * _UNITS[unit])
    if not 0 <= size <= MAX_FILE_SIZE:
        raise ValueError(f"{text!r} is not a size from 0 to 1T")
    return size


def _size_text(size: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if size and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return str(size)


def listen_address(text: str, default_host: str) -> tuple[str, int]:
    """Where to accept peers as typed (``HOST:PORT``, ``HOST``, ``PORT``): a host that is an
    IP literal or a hostname, and a port (0: any free one). Whether the host is one of this
    machine's is known only when listening (``address_unavailable``)."""
    host, port = parse_address(text, default_port=0, default_host=default_host)
    return validate_host(host), port


def _flag(source: str, parse: Callable[..., T], text: str, *more: str) -> T:
    """``parse(text, *more)``; its ValueError names where ``text`` came from (a flag or an
    environment variable)."""
    try:
        return parse(text, *more)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


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
        registry_text = pick(args.registry, "CHINWAG_REGISTRY") or DEFAULT_REGISTRY
        registry = _flag(
            "--registry" if args.registry is not None else "CHINWAG_REGISTRY",
            registry_endpoint,
            registry_text,
        )
        listen_text = pick(args.listen, "CHINWAG_LISTEN")
        listen_host = default_listen_host(*(endpoint.host for endpoint in registry.endpoints))
        listen: tuple[str, int] | None = (
            None
            if listen_text is not None and listen_text.strip().lower() == "none"
            else _flag(
                "--listen" if args.listen is not None else "CHINWAG_LISTEN",
                listen_address,
                listen_text,
                listen_host,
            )
            if listen_text
            else (listen_host, 0)
        )
        level = log_level(pick(args.log_level, "CHINWAG_LOG_LEVEL") or "WARNING")
        registry_key = pick(getattr(args, "registry_key", None), "CHINWAG_REGISTRY_KEY")
        if registry_key is not None:
            registry_key = normalize_fingerprint(registry_key)
        files = FileLimits()
        max_text = pick(getattr(args, "max_file_size", None), "CHINWAG_MAX_FILE_SIZE")
        auto_text = pick(getattr(args, "auto_accept_size", None), "CHINWAG_AUTO_ACCEPT_SIZE")
        if max_text is not None or auto_text is not None:
            files = FileLimits(
                max_size=files.max_size
                if max_text is None
                else _flag("--max-file-size", parse_size, max_text),
                auto_accept=0
                if auto_text is None
                else _flag("--auto-accept-size", parse_size, auto_text),
            )
    except InvalidUsername as exc:
        raise StartupError(str(exc), code=exc.code) from None
    except InvalidFingerprint as exc:
        raise StartupError(f"--registry-key: {exc}", code="bad_flag") from None
    except ValueError as exc:
        raise StartupError(str(exc), code="bad_flag") from None
    data_dir = pick(args.data_dir, "CHINWAG_DATA_DIR")
    downloads = pick(getattr(args, "downloads", None), "CHINWAG_DOWNLOADS")
    return ClientSettings(
        user=user,
        registry=registry,
        data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
        listen=listen,
        log_level=level,
        json=bool(getattr(args, "json", False)),
        registry_key=registry_key,
        downloads=Path(downloads).expanduser().absolute() if downloads else None,
        files=files,
    )


def prepare_user_folder(folder: Path) -> None:
    """Make ``folder`` a private folder of ours (0700) in its data folder, or StartupError.

    The data folder (the parent, which the user may have chosen and may share on purpose) is
    made 0700 if missing and otherwise left as it is; the user's own folder is narrowed to 0700
    if an older chinwag made it 0755, and so are the files in it (new ones are made 0600 by
    the adapters that write them, through :mod:`chinwag.adapters.files`). A symbolic link where
    our folder or one of our files should be is refused: it could send our keys or history
    wherever it points.
    """
    try:
        if not folder.parent.is_dir():
            private_folder(folder.parent)
        private_folder(folder, narrow=True)
        for name in OUR_FILES:
            narrow_file(folder / name)  # refuses a link, narrows an older chinwag's 0644
    except OSError as exc:
        raise StartupError(
            f"cannot use the data folder {folder}: {_reason(exc)}", code="storage"
        ) from None


def _reason(exc: OSError) -> str:
    """An OSError in one line, with the path it names (UnsafePath's message names it already)."""
    if exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror or str(exc)


def lock_user_folder(folder: Path, user: str) -> IO[bytes]:
    """Prepare ``folder`` (:func:`prepare_user_folder`) and make sure no other chinwag runs as
    ``user`` on it; keep the returned file open for as long as the program runs (the lock goes
    with it, even if the process is killed).

    Two clients sharing one history and one identity would take the name from each other; the
    second is refused instead.
    """
    prepare_user_folder(folder)
    try:
        fd = open_private(folder / LOCK_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        handle = os.fdopen(fd, "ab")
    except OSError as exc:
        raise StartupError(
            f"cannot use the data folder {folder}: {_reason(exc)}", code="storage"
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


def load_identity(settings: ClientSettings, user: str) -> LocalKeys:
    """``user``'s keys on this data folder (made on first use), or StartupError ``storage``
    saying what is wrong with the file: a damaged key file is never replaced, since new keys
    would make the user somebody else to every contact."""
    try:
        return load_or_create_keys(settings.user_dir(user) / "identity.key")
    except OSError as exc:  # KeyFileError, UnsafePath, permissions
        raise StartupError(str(exc), code="storage") from None


def container_config(settings: ClientSettings, user: str) -> dict[str, object]:
    """The container's configuration for ``user``: paths only, nothing is read or written here
    (the folder is prepared by :func:`lock_user_folder`; keys are loaded by the container)."""
    folder = settings.user_dir(user)
    return {
        "core": {"log_level": settings.log_level},
        "adapters": {
            "database_path": folder / HISTORY_FILE,
            "synchronous": "FULL",
            **registry_config(settings.registry),
            "keys_path": folder / KEYS_FILE,
            "pins_path": folder / PINS_FILE,
            "registry_key": settings.registry_key,
            "downloads": str(settings.downloads) if settings.downloads else None,
        },
        "use_cases": {
            "files": {
                "max_size": settings.files.max_size,
                "auto_accept": settings.files.auto_accept,
            },
        },
    }
