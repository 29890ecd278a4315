"""The registry at scale, side by side with Redis: lookups/s and sign-ins/s (memory per client,
at 10,000 version 3 clients over TCP and WebSocket, is ``bench_registry_presence.py``'s).

Usage: ``python benchmarks/bench_registry_scale.py [--lookup-clients 50] [--depths 1,16]
[--signins 2000] [--workers 1] [--concurrency 64] [--seconds 3]`` (RLIMIT_NOFILE is raised here
and inherited by the children). Needs ``redis-server`` and ``redis-benchmark`` (Debian's
``redis-server`` package); ``make bench`` runs it with the defaults.

Every registry is a child process (``benchmarks/registry_server.py``: the product's
``RegistryServer`` with Noise, a fresh one per part), and every load client speaks the real
protocol: TCP, the registry's clear welcome, the Noise handshake, ``register`` (the cheap
``asyncio.Protocol`` client of ``benchmarks/bench_registry.py`` and ``secure_load.py``). The two
parts, printed as one table:

1. **lookups/s**: ``--lookup-clients`` registered sessions (in this process) each keep ``depth``
   lookups in flight (1, then 16: pipelining) for ``--seconds``; next to it, ``redis-benchmark -t
   get -c N -P depth`` against a ``redis-server`` started in this run (``tests/services.py``),
   its keys set beforehand with values the size of a registry's answer. The ratio registry /
   Redis aims at >= 0.8. The CPU columns say who set the rate: a registry near 100% is the
   limit; a load generator near 100% means the figure is the load generator's, not the
   registry's (Redis's load generator is C and needs far less).
2. **sign-ins/s**: ``--signins`` new clients each open a TCP connection, do the handshake and
   register, ``--concurrency`` at a time in each of ``--workers`` load processes, as fast as they
   can; the rate is from the first connection to the last ``registered`` (aim >= 1,000/s for one
   registry process). The registry's CPU share says whether it or the load was the limit.
Part 2 costs the registry more per client the more clients there are while it pushes every
sign-in to every registered client (these clients register with version 2, told everything).
Other load on the machine lowers both sides of
part 1 alike: the ratio is the figure to compare across runs. Everything is bounded (deadlines
on every wait; ``--parts signins`` etc. runs one part) and every child process is stopped at the
end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import itertools
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_registry import MISTAKEN_FOR_V1, LoadClient, lookup_rates
from benchmarks.passthrough import SECURITY
from benchmarks.registry_server import RegistryServerProcess
from benchmarks.secure_load import cpu_seconds
from chinwag.adapters.secure.channel import SecureError
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.wire.codec import encode
from chinwag.entrypoints.common import run_event_loop
from tests.services import RedisServer, program

PER_SOURCE = 900
"""Clients per loopback source address: under the registry's 1,000 connections per address."""

PING = encode(b'{"type":"ping"}')
PING_EVERY = 4.0
"""Seconds between an idle client's pings: under the registry's 15 s idle timeout."""

SIGN_IN_TIMEOUT = 30.0
VALUE_SIZE = 200
"""Bytes of each Redis value: about a registry's ``found`` answer."""


def raise_file_limit(needed: int) -> None:
    """Raise RLIMIT_NOFILE to ``needed`` (children inherit it), up to the hard limit, or past it
    where allowed (root)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return
        needed = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


# -- 1. lookups --------------------------------------------------------------------------------


def _fill_redis(host: str, port: int, keys: int) -> None:
    """SET ``key:000000000000`` ... (the names ``redis-benchmark -r`` GETs), pipelined."""
    value = b"v" * VALUE_SIZE
    with socket.create_connection((host, port), timeout=30) as sock:
        for start in range(0, keys, 1000):
            batch = b"".join(
                b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n" % (i, len(value), value)
                for i in range(start, min(keys, start + 1000))
            )
            sock.sendall(batch)
            want, got = (min(keys, start + 1000) - start) * 5, b""
            while len(got) < want:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("redis closed the connection")
                got += chunk


def _redis_benchmark(
    binary: str, host: str, port: int, clients: int, depth: int, requests: int, keys: int
) -> tuple[float, float]:
    """``redis-benchmark -t get``: (requests/s, its own CPU share)."""
    command = [binary, "-h", host, "-p", str(port), "-t", "get", "-c", str(clients)]
    command += ["-P", str(depth), "-n", str(requests), "-r", str(keys), "--csv"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / elapsed
    for row in csv.DictReader(io.StringIO(out)):
        if row.get("test") == "GET":
            return float(row["rps"]), cpu
    raise RuntimeError(f"no GET line in redis-benchmark's output: {out!r}")


def redis_gets(
    clients: int, depths: list[int], seconds: float
) -> dict[int, tuple[float, float, float]]:
    """``{depth: (GETs/s, redis-server CPU, redis-benchmark CPU)}`` against a fresh server."""
    binary = program("redis-benchmark", "redis-tools")
    keys = clients * 64
    results = {}
    with RedisServer() as redis:
        assert redis.process is not None
        _fill_redis(redis.host, redis.port, keys)
        for depth in depths:
            trial = max(20_000, 2_000 * clients * depth // 16)
            rate, _ = _redis_benchmark(binary, redis.host, redis.port, clients, depth, trial, keys)
            requests = max(trial, int(rate * seconds))
            server_before, started = cpu_seconds(redis.process.pid), time.perf_counter()
            rate, ours = _redis_benchmark(
                binary, redis.host, redis.port, clients, depth, requests, keys
            )
            server = (cpu_seconds(redis.process.pid) - server_before) / (
                time.perf_counter() - started
            )
            results[depth] = (rate, server, ours)
    return results


# -- 2 and 3. sign-ins and idle clients (load worker processes) -------------------------------


class _IdleClient(LoadClient):
    """A registered session that only pings (as a real client must, to stay)."""

    def __init__(self, name: str) -> None:
        super().__init__(SECURITY["noise"](LocalKeys.generate()), name, [])
        self.dropped = False

    def ping(self) -> None:
        if not self.closing and self.registered.done() and not self.registered.exception():
            self.send(PING)

    def failed(self, exc: BaseException) -> None:
        self.dropped = True
        super().failed(exc)


async def _sign_in(host: str, port: int, index: int) -> tuple[_IdleClient, int]:
    """Client ``u{index}`` signed in from its loopback address; and its retries."""
    loop = asyncio.get_running_loop()
    source = f"127.0.0.{2 + index // PER_SOURCE}"
    for attempt in range(5):
        client = _IdleClient(f"u{index}")
        await loop.create_connection(lambda c=client: c, host, port, local_addr=(source, 0))  # type: ignore[misc]
        try:
            await asyncio.wait_for(client.registered, timeout=SIGN_IN_TIMEOUT)
        except SecureError as exc:
            client.close()
            if exc.code != MISTAKEN_FOR_V1:
                raise
            continue
        except BaseException:
            client.close()
            raise
        return client, attempt
    raise ConnectionError(f"u{index} was refused as a version-1 client 5 times")


async def _worker_main(
    conn: Connection, host: str, port: int, indices: list[int], concurrency: int
) -> None:
    loop = asyncio.get_running_loop()
    clients: list[_IdleClient] = []
    errors: list[str] = []
    retries = 0
    todo = iter(indices)

    async def lane() -> None:
        nonlocal retries
        for index in todo:
            try:
                client, again = await _sign_in(host, port, index)
            except (OSError, SecureError, TimeoutError, ConnectionError) as exc:
                errors.append(repr(exc)[:200])
                continue
            clients.append(client)
            retries += again

    async def pinger() -> None:
        for turn in itertools.count():
            await asyncio.sleep(PING_EVERY / 4)
            for client in clients[turn % 4 :: 4]:
                client.ping()

    await loop.run_in_executor(None, conn.recv)  # "go"
    pinging = loop.create_task(pinger())
    started, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    ended = time.monotonic()
    report = {"signed": len(clients), "errors": errors, "retries": retries}
    conn.send(report | {"start": started, "end": ended, "cpu": time.process_time() - cpu})
    while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
        assert command == "alive"
        conn.send(sum(not c.dropped and not c.closing for c in clients))
    pinging.cancel()
    for client in clients:
        client.close()
    await asyncio.sleep(0.1)


def _worker(conn: Connection, host: str, port: int, indices: list[int], concurrency: int) -> None:
    """A load process: signs in ``indices`` when told, keeps them until told to stop."""
    raise_file_limit(len(indices) + 256)
    run_event_loop(_worker_main(conn, host, port, indices, concurrency))


class LoadWorkers:
    """``workers`` load processes signing in ``count`` clients between them."""

    def __init__(self, host: str, port: int, count: int, workers: int, concurrency: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for w in range(workers):
            ours, theirs = context.Pipe()
            indices = list(range(w, count, workers))
            process = context.Process(
                target=_worker, args=(theirs, host, port, indices, concurrency), daemon=True
            )
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    def _recv(self, pipe: Connection, timeout: float) -> Any:
        if not pipe.poll(timeout):
            raise SystemExit(f"a load worker did not answer within {timeout:g} s")
        return pipe.recv()

    def sign_in(self, timeout: float) -> list[dict[str, Any]]:
        """Start them all at once; each one's report once its clients are signed in."""
        time.sleep(0.5)  # let them import
        for pipe in self.pipes:
            pipe.send("go")
        deadline = time.monotonic() + timeout
        return [self._recv(p, max(0.1, deadline - time.monotonic())) for p in self.pipes]

    def alive(self) -> int:
        for pipe in self.pipes:
            pipe.send("alive")
        return sum(self._recv(p, 30) for p in self.pipes)

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send("stop")
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)

    def __enter__(self) -> LoadWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


SignIns = tuple[float, float, float, int, list[str]]


def sign_ins(count: int, workers: int, concurrency: int) -> SignIns:
    """(sign-ins/s, registry CPU share meanwhile, load processes' CPU share (summed), signed in,
    first errors) on a fresh registry."""
    with (
        RegistryServerProcess("noise") as registry,
        LoadWorkers(registry.host, registry.port, count, workers, concurrency) as load,
    ):
        cpu_before = cpu_seconds(registry.pid)
        reports = load.sign_in(timeout=60 + count / 10)
        cpu = cpu_seconds(registry.pid) - cpu_before
    start = min(r["start"] for r in reports)
    elapsed = max(r["end"] for r in reports) - start
    signed = sum(r["signed"] for r in reports)
    load = sum(r["cpu"] for r in reports) / elapsed
    errors = [e for r in reports for e in r["errors"]][:3]
    return signed / elapsed, cpu / elapsed, load, signed, errors


# -- the table --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookup-clients", type=int, default=50, help="N, both sides")
    parser.add_argument("--depths", default="1,16", help="pipeline depths, comma-separated")
    parser.add_argument("--seconds", type=float, default=3.0, help="per lookup measurement")
    parser.add_argument("--signins", type=int, default=2000, help="M new clients")
    parser.add_argument("--workers", type=int, default=1, help="load processes")
    parser.add_argument("--concurrency", type=int, default=64, help="sign-ins in flight/worker")
    parser.add_argument("--parts", default="lookups,signins", help="which to run")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    raise_file_limit(args.signins + 1024)
    cpus = os.cpu_count()
    print(f"registry scale (RegistryServer with Noise, own process; {cpus} CPUs)", flush=True)
    parts = set(args.parts.split(","))
    missing = [p for p in ("redis-server", "redis-benchmark") if shutil.which(p) is None]
    if "lookups" in parts and missing:  # tests.services.program would skip a *test*
        raise SystemExit(f"{', '.join(missing)} missing: sudo apt-get install redis-server")
    if parts - {"lookups", "signins"}:
        parser.error(f"unknown parts: {args.parts}")
    if "lookups" in parts:
        lookups(args.lookup_clients, depths, args.seconds)
    if "signins" in parts:
        report_sign_ins(args.signins, args.workers, args.concurrency)


def lookups(clients: int, depths: list[int], seconds: float) -> None:
    """Part 1 and its lines of the table."""
    with RegistryServerProcess("noise") as registry:
        ours = run_event_loop(
            lookup_rates(
                "noise",
                registry.host,
                registry.port,
                clients,
                seconds,
                registry.pid,
                tuple(depths),
            )
        )
    theirs = redis_gets(clients, depths, seconds)
    print(
        f"{'lookups/s':<12}{'clients':>8}{'depth':>6}{'registry':>11}{'redis GET':>11}"
        f"{'ratio':>7}  CPU registry/load | redis/redis-benchmark   (aim ratio >= 0.80)"
    )
    for depth in depths:
        (rate, server, load), (redis, rserver, rload) = ours[depth], theirs[depth]
        verdict = "met" if rate / redis >= 0.8 else "MISSED"
        print(
            f"{'':<12}{clients:>8}{depth:>6}{rate:>11,.0f}{redis:>11,.0f}"
            f"{rate / redis:>7.2f}  {server:4.0%} / {load:4.0%} | {rserver:4.0%} / {rload:4.0%}"
            f"   {verdict}",
            flush=True,
        )


def report_sign_ins(count: int, workers: int, concurrency: int) -> None:
    """Part 2 and its line of the table."""
    rate, busy, load_busy, signed, errors = sign_ins(count, workers, concurrency)
    print(
        f"{'sign-ins/s':<12}{rate:>8,.0f}  {signed:,} of {count:,} new clients "
        f"(TCP + Noise handshake + register), {workers} worker(s) x {concurrency} "
        f"in flight; CPU registry {busy:.0%} / load {load_busy:.0%}   (aim >= 1,000/s: "
        f"{'met' if rate >= 1000 and signed == count else 'MISSED'})",
        flush=True,
    )
    for error in errors:
        print(f"  e.g. {error}")


if __name__ == "__main__":
    main()
