"""File transfer: a 1 GiB file between two clients, side by side with a plain socket copy.

Three figures from one run, on this machine's loopback:

1. **plain copy** (the reference): the same file sent with ``socket.sendfile`` over a TCP
   connection and written into a file by the receiving thread (no encryption, no hashing).
2. **direct**: the product, two ``chinwag-cli --json`` processes (Noise, SQLite
   ``synchronous=FULL``, pieces hashed and written to disk, the whole file hashed again and
   moved into place): from ``accept_file`` to the recipient's ``done``. Aims: at least 0.5 of
   the plain copy and at least 100 MB/s. While it moves, alice also writes bob ten messages a
   second; the latency of each (from ``send`` to alice's ``delivered``: bob committed it and
   his receipt came back) is printed: the bound the README states comes from here.
3. **relayed**: the same with both clients on ``--listen none`` (every byte through the
   registry's relay, its rate limit lifted), next to direct.

The file is random data (``--sparse``: mostly a hole, which the recipient keeps sparse). The
offer's hashing (one pass over the file at ``send_file``) is printed apart. Nothing is asserted
but what must hold (the recipient's file has the sender's SHA-256).

Run: ``python benchmarks/bench_files.py [--size-mib 1024] [--sparse]`` (about a minute).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("CHINWAG_")},
    "CHINWAG_LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
}
Event = dict[str, Any]
CHAT_EVERY = 0.1
"""Seconds between chat messages during the direct transfer (ten a second: a lively chat)."""


class Client:
    """``chinwag-cli --json``: commands in, events (with the time each was read) out."""

    def __init__(self, user: str, registry: str, folder: Path, *extra: str) -> None:
        self.user = user
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "chinwag.entrypoints.cli", "--json", "--user", user),
                *("--registry", registry, "--data-dir", str(folder), *extra),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        self.events: list[tuple[float, Event]] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            with self._changed:
                self.events.append((time.perf_counter(), event))
                self._changed.notify_all()

    def send(self, **command: Any) -> float:
        assert self.proc.stdin is not None
        started = time.perf_counter()
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return started

    def wait(self, timeout: float = 600.0, since: int = 0, **fields: Any) -> tuple[float, Event]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for at, event in self.events[since:]:
                    if event.get("event") == "error":
                        raise SystemExit(f"{self.user}: {event}")
                    if all(event.get(k) == v for k, v in fields.items()):
                        return at, event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"{self.user}: no {fields} in {timeout}s")
                self._changed.wait(min(left, 0.5))

    def mark(self) -> int:
        with self._changed:
            return len(self.events)

    def quit(self) -> None:
        if self.proc.poll() is None:
            self.send(cmd="quit")
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_registry(folder: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "chinwag.entrypoints.registry", "--port", "0"),
            *("--data-dir", str(folder), "--relay-rate", str(1 << 40)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=ENV,
    )
    assert proc.stdout is not None
    match = re.search(r"listening on ([\d.]+):(\d+)", proc.stdout.readline())
    if match is None:
        raise SystemExit("the registry did not start")
    proc.stdout.readline()  # its key
    return proc, f"{match.group(1)}:{match.group(2)}"


def make_file(path: Path, size: int, sparse: bool) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        if sparse:
            out.truncate(size)
            out.write(os.urandom(4096))
        else:
            block = os.urandom(1 << 20)
            for n in range(size >> 20):  # a fresh first bytes per MiB: no two blocks alike
                chunk = n.to_bytes(8, "big") + block[8:]
                out.write(chunk)
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def plain_copy(source: Path, target: Path) -> float:
    """Seconds to ``socket.sendfile`` the file over loopback into ``target``."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def receive() -> None:
        connection, _ = server.accept()
        with connection, target.open("wb") as out:
            buffer = bytearray(1 << 20)
            view = memoryview(buffer)
            while count := connection.recv_into(buffer):
                out.write(view[:count])

    receiver = threading.Thread(target=receive)
    started = time.perf_counter()
    receiver.start()
    with socket.create_connection(("127.0.0.1", port)) as sender, source.open("rb") as data:
        sender.sendfile(data)
    receiver.join()
    elapsed = time.perf_counter() - started
    server.close()
    target.unlink()
    return elapsed


def transfer(
    registry: str, work: Path, source: Path, sha: str, listen: tuple[str, ...], chat: bool
) -> tuple[float, float, list[float]]:
    """(hashing seconds at the offer, transfer seconds, chat latencies) for one transfer."""
    bob = Client("bob", registry, work / "b", *listen)
    alice = Client("alice", registry, work / "a", *listen)
    try:
        bob.wait(event="ready")
        alice.wait(event="ready")
        alice.wait(event="presence", timeout=30)
        offered_at = alice.send(cmd="send_file", to="bob", path=str(source))
        hashed_at, sent = alice.wait(event="transfer", state="offered")
        tid = sent["id"]
        bob.wait(event="transfer", id=tid, state="offered")
        downloads = work / "downloads"
        accepted = bob.send(cmd="accept_file", id=tid, dir=str(downloads))
        latencies: list[float] = []
        n = 0
        while chat:
            if any(e.get("id") == tid and e.get("state") == "done" for _, e in bob.events):
                break
            since = alice.mark()
            said = alice.send(cmd="send", to="bob", body=f"ping {n}")
            at, _ = alice.wait(since=since, event="status", state="delivered")
            latencies.append(at - said)
            n += 1
            time.sleep(max(0.0, said + CHAT_EVERY - time.perf_counter()))  # a person's pace
        done_at, done = bob.wait(event="transfer", id=tid, state="done")
        saved = Path(done["path"])
        check = hashlib.sha256()
        with saved.open("rb") as data:
            while chunk := data.read(1 << 20):
                check.update(chunk)
        if check.hexdigest() != sha:
            raise SystemExit("the received file does not match")
        saved.unlink()
        return hashed_at - offered_at, done_at - accepted, latencies
    finally:
        alice.quit()
        bob.quit()


def mb_s(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:8.1f} MB/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--sparse", action="store_true")
    args = parser.parse_args()
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="chinwag-bench-files-") as folder:
        work = Path(folder)
        source = work / "payload.bin"
        sha = make_file(source, size, args.sparse)
        registry, address = start_registry(work / "registry")
        try:
            copy = plain_copy(source, work / "copy.bin")
            hashing, direct, latencies = transfer(
                address, work / "clients", source, sha, (), chat=True
            )
            _, relayed, _ = transfer(
                address, work / "clients", source, sha, ("--listen", "none"), chat=False
            )
        finally:
            registry.terminate()
            registry.wait(10)
    print(f"file transfer, {args.size_mib} MiB ({'sparse' if args.sparse else 'random'})")
    print(f"  plain socket.sendfile copy  {mb_s(size, copy)}  ({copy:.2f} s)")
    ratio = copy / direct
    aim = "ok" if ratio >= 0.5 and size / direct >= 100e6 else "below aim"
    print(
        f"  chinwag direct              {mb_s(size, direct)}  ({direct:.2f} s)  "
        f"ratio {ratio:.2f} of the plain copy (aim >= 0.5 and >= 100 MB/s: {aim})"
    )
    print(
        f"  chinwag relayed             {mb_s(size, relayed)}  ({relayed:.2f} s)  "
        f"{direct / relayed:.2f} of direct"
    )
    print(f"  offer hashing (one pass)    {mb_s(size, hashing)}  ({hashing:.2f} s)")
    if latencies:
        ordered = sorted(latencies)
        print(
            f"  chat during the transfer: {len(ordered)} messages, delivered in median "
            f"{statistics.median(ordered) * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
