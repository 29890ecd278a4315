"""The registries' identity keys this client has seen: trust on first use, per address.

The first time a client reaches a registry address it records the registry's identity key;
from then on a different key at that address is an impostor (or a reinstalled registry) and the
caller refuses it until the user says otherwise. The file is small JSON, private (0600), never
written through a link, and replaced atomically, so a crash cannot lose the pins already made
(losing them would silently turn the next connection back into a first use). A link where the
file should be is refused (:class:`~chinwag.adapters.files.UnsafePath`); a file that cannot be
read or decoded is a :class:`PinsError`, never taken as "no pins".
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Final

from chinwag.adapters.files import UnsafePath, read_private, read_versioned_json, write_private
from chinwag.adapters.secure.keys import decode_raw_key

PINS_VERSION: Final = 1
KEY_SIZE: Final = 32
"""Bytes of an identity key (a raw Ed25519 public key)."""

_MAX_PINS_FILE = 1024 * 1024
"""Thousands of registries fit in far less; a bigger file is not ours and is not parsed."""


class PinsError(OSError):
    """The pins file exists but cannot be used; it is left alone for the user to look at."""


def registry_address(host: str, port: int) -> str:
    """The text pins are kept under: ``host:port`` (``[v6]:port``), the host in lowercase.

    Host names are case-insensitive, so ``Example.org`` must not get a second first use.
    """
    host = host.strip().lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _normalize(address: str) -> str:
    return address.strip().lower()


class RegistryPins:
    """Pinned identity keys by registry address, backed by the JSON file at ``path``.

    Read from disk at every call (pins are consulted once per connection), so two clients of
    the same data folder see each other's pins. A missing file means no pins yet.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path

    def get(self, address: str) -> bytes | None:
        """The key pinned for ``address`` (``host:port``), or ``None`` if it is not pinned."""
        with self._lock:
            return self._load().get(_normalize(address))

    def pin(self, address: str, key: bytes) -> None:
        """Pin ``key`` for ``address``, replacing any earlier pin (the caller decides when a
        changed key may replace the old one: only when the user says so)."""
        if not isinstance(key, bytes) or len(key) != KEY_SIZE:
            raise ValueError(f"an identity key is {KEY_SIZE} bytes")
        with self._lock:
            pins = self._load()
            pins[_normalize(address)] = key
            self._save(pins)

    def _load(self) -> dict[str, bytes]:
        try:
            data = read_private(self._path)
        except FileNotFoundError:
            return {}
        except UnsafePath:
            raise
        except OSError as exc:
            raise PinsError(f"cannot read the pins file {self._path}: {exc}") from exc
        return self._decode(data)

    def _decode(self, data: bytes) -> dict[str, bytes]:
        def damaged(why: str) -> PinsError:
            return PinsError(
                f"the registry pins file {self._path} is damaged ({why}); fix or remove it "
                "(removing it forgets every registry key this client has seen)"
            )

        document = read_versioned_json(
            data, version=PINS_VERSION, max_size=_MAX_PINS_FILE, damaged=damaged
        )
        registries = document.get("registries")
        if not isinstance(registries, dict):
            raise damaged("no 'registries' object")
        pins: dict[str, bytes] = {}
        for address, text in registries.items():
            key = decode_raw_key(text, f"the key of {address!r}", damaged)
            pins[_normalize(address)] = key
        return pins

    def _save(self, pins: dict[str, bytes]) -> None:
        document = {
            "version": PINS_VERSION,
            "registries": {
                address: base64.b64encode(key).decode("ascii")
                for address, key in sorted(pins.items())
            },
        }
        data = (json.dumps(document, indent=1, ensure_ascii=True) + "\n").encode("ascii")
        try:
            write_private(self._path, data)
        except UnsafePath:
            raise
        except OSError as exc:
            raise PinsError(f"cannot write the pins file {self._path}: {exc}") from exc
