"""``chinwag-cli --json`` at full speed, side by side with the use cases in the same run.

A script pipes N ``send`` commands at once into one ``chinwag-cli --json`` (alice, a process of
its own, with the product's defaults: Noise, SQLite ``synchronous=FULL``); the figure counts
until its stdout has said ``delivered`` for every one, i.e. bob (another client process, the
receiver of ``bench_messages.py``) committed each and alice recorded the acknowledgement. The
use-case figure is ``bench_messages.py``'s (the same receiver and registry, the sender calling
``SendMessage`` directly in-process, so no JSON, pipes or printing): the ratio is what the JSON
path keeps of it (target at least 0.8). The two alternate, ``--rounds`` times each; medians and
ranges are printed.

Run: ``python benchmarks/bench_json.py [--messages 20000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_messages import Peer, run, spread
from benchmarks.registry_server import RegistryServerProcess

ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("CHINWAG_")},
    "CHINWAG_LOG_LEVEL": "WARNING",
}
DELIVERED = b'"state": "delivered"'
BOB_ONLINE = b'"online": ["alice", "bob"]'


class JsonClient:
    """``chinwag-cli --json`` for alice; a thread reads its stdout and counts, without parsing
    JSON (the benchmark process must not steal the CPU it measures)."""

    def __init__(self, folder: Path, registry_port: int) -> None:
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "chinwag.entrypoints.cli", "--json", "--user", "alice"),
                *("--registry", f"127.0.0.1:{registry_port}", "--data-dir", str(folder)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=ENV,
        )
        self.delivered = 0
        self.bob_online = threading.Event()
        self.done = threading.Event()
        self.target = 0
        self.errors: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        tail = b""
        while chunk := os.read(self.proc.stdout.fileno(), 1 << 16):
            text = tail + chunk
            cut = text.rfind(b"\n") + 1
            lines, tail = text[:cut], text[cut:]
            self.delivered += lines.count(DELIVERED)
            if BOB_ONLINE in lines:
                self.bob_online.set()
            if b'"error"' in lines:
                self.errors.extend(line for line in lines.split(b"\n") if b'"error"' in line)
            if self.target and self.delivered >= self.target:
                self.done.set()
        self.done.set()

    def pipe(self, commands: bytes) -> None:
        """What a script does: write every command, as fast as the pipe takes them."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(commands)
        self.proc.stdin.flush()

    def quit(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # end of input: sign out and exit
        self.proc.wait(60)


def json_rate(count: int) -> float:
    """Messages/s from a script through ``chinwag-cli --json`` (alice) to bob."""
    body = "x" * 100
    line = b'{"cmd": "send", "to": "bob", "body": "%s"}\n' % body.encode()
    commands = line * count
    with RegistryServerProcess("noise") as registry, tempfile.TemporaryDirectory() as tmp:
        bob = Peer(f"{tmp}/bob", registry.port, "FULL", "noise")
        alice = JsonClient(Path(tmp) / "alice", registry.port)
        try:
            if not alice.bob_online.wait(30):
                raise RuntimeError("alice never saw bob online")
            alice.target = count
            started = time.perf_counter()
            writer = threading.Thread(target=alice.pipe, args=(commands,), daemon=True)
            writer.start()
            if not alice.done.wait(300) or alice.delivered < count:
                raise RuntimeError(f"{alice.delivered} of {count} delivered; {alice.errors[:3]}")
            elapsed = time.perf_counter() - started
            writer.join(30)
            alice.quit()
            bob.stop()
        finally:
            if alice.proc.poll() is None:
                alice.proc.kill()
            if bob.process.is_alive():
                bob.kill()
        stored = bob.stored_from("alice")
        if stored != count:
            raise RuntimeError(f"the receiver stored {stored} of {count}")
        return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (median)")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"json": [], "use case": []}
    for round_ in range(args.rounds):
        order = ("json", "use case") if round_ % 2 == 0 else ("use case", "json")
        for what in order:
            if what == "json":
                rates["json"].append(json_rate(args.messages))
            else:
                rates["use case"].append(run(args.messages, "FULL", "noise").rate)
    ratio = statistics.median(rates["json"]) / statistics.median(rates["use case"])
    print(
        f"chinwag-cli --json, {args.messages:,} piped sends until all delivered at another "
        f"client (encrypted, synchronous=FULL; median (range) of {args.rounds}): "
        f"{spread(rates['json'])} msgs/s | the use case in the same run "
        f"{spread(rates['use case'])} | ratio {ratio:.2f} (target >= 0.80)",
        flush=True,
    )


if __name__ == "__main__":
    main()
