"""A registry process for the benchmarks: the product's ``RegistryServer``, Noise or pass-through.

Run as a script (``python benchmarks/registry_server.py --security passthrough``) it builds
``RegistryServer(..., security=SECURITY[kind](keys), names=NameBook(path))`` as
``chinwag.entrypoints.registry`` does, on uvloop where installed, and prints the entrypoint's two
lines (``listening on HOST:PORT``, then ``key FINGERPRINT``). Both kinds are started by this one
script, so an encrypted and a pass-through registry differ in nothing but their records. The
other departures from the entrypoint are two limits lifted (still checked, never reached): new
names per address and minute (30, against floods of fresh names), since a load generator
registers a hundred names from 127.0.0.1 at once; and requests per second and connection (2,000,
where a chat client makes a handful a minute), since 100 load clients would otherwise cap the
registry at 200,000 lookups/s, about what it serves.

:class:`RegistryServerProcess` starts it from a benchmark and knows its address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.passthrough import SECURITY
from chinwag.adapters.registry.names import NameBook
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.domain.identity import fingerprint
from chinwag.entrypoints.common import run_event_loop

_LISTENING = re.compile(r"listening on \[?([^\]\s]+)\]?:(\d+)")


async def _serve(kind: str, names: NameBook) -> None:
    keys = LocalKeys.generate()
    server = RegistryServer(
        "127.0.0.1",
        0,
        names=names,
        security=SECURITY[kind](keys),
        max_new_names_per_minute=1_000_000,
        max_rate=1e9,
    )
    host, port = await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        print(f"bench-registry ({kind}) listening on {host}:{port}", flush=True)
        print(f"bench-registry key {fingerprint(keys.identity_key)}", flush=True)
        await stop.wait()
    finally:
        await server.close()


class RegistryServerProcess:
    """This script as a child process (``kind``: ``noise`` or ``passthrough``)."""

    def __init__(self, kind: str) -> None:
        if kind not in SECURITY:
            raise ValueError(f"unknown security {kind!r}")
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--security", kind], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed as soon as it listens
        match = _LISTENING.search(line)
        if match is None:
            self.stop()
            raise SystemExit(f"the benchmark registry did not start: {line!r}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.process.stdout.readline()  # the key line

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> RegistryServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--security", choices=sorted(SECURITY), default="noise")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chinwag-bench-registry-") as folder:
        names = NameBook(Path(folder) / "registry.sqlite3")
        try:
            with contextlib.suppress(KeyboardInterrupt):
                run_event_loop(_serve(args.security, names))
        finally:
            names.close()


if __name__ == "__main__":
    main()
