"""Group chat with 20 members, each a real client in a process of its own (issue 10's bench).

Every member is the product's container with the real adapters (TCP transport over Noise,
SQLite history with ``synchronous=FULL``, TCP registry client, Ed25519 signatures), in a child
process driven over a pipe (``benchmarks/group_member.py``); the registry (the product's
``RegistryServer``, relay on with its default limits) is one more process. One run measures,
in this order, on one group:

1. **one-to-one reference**: ``--messages`` direct messages from one member to another, sent as
   fast as the use case takes them, until the receiver has committed the last (and until all
   are ``delivered`` at the sender);
2. **group rate**: the same member posts ``--messages`` to the group of ``--members``; the time
   until every other member has committed the last one (each member notes when it committed it;
   ``time.perf_counter`` is one clock for all processes on Linux), and until all are
   ``delivered`` to every member at the author. The aim: at least the one-to-one rate divided
   by the number of members (a group message is one delivery per other member);
3. **catch-up**: two members sign out; ``--authors`` members post ``--catch-up`` messages in
   all; once a non-author member (the server) has committed them, every member but the server
   signs out, so the server is the only member the late one can get them from. The first late
   member signs in (listening on a port, as the server): the time from the start of its
   sign-in until it has committed all of them. Then the server restarts with no listen address
   and the second late member signs in with none either (``--listen none``), so the history can
   only come through the registry's relay. Each late member then checks what it stores: every
   author's numbers exactly 1..n (no gap, none twice), every signature verified again with the
   key the group's log gives the author, no id stored twice, each message told once; and the
   server's session to it went the way the phase says (direct, relayed). Aims: 2 s direct,
   10 s through the relay;
4. **steady-state sync**: the direct late member, caught up, signs out and in again: the sync
   its sign-in starts with the server (``group_have`` frames, and whatever is answered) while
   both are in step. Bytes are counted where they are written: every Noise record sealed by
   either process in that window, by the type of the frames inside (the record's codec header,
   ciphertext and tag; TCP/IP headers not counted). Aim: under 1 KB. The same through the relay
   with the relayed member (there the relay leg's records carry the peer session's records).

What is checked is asserted (the benchmark stops); the speed aims are printed, never asserted.

The rates alternate, ``--rounds`` runs of each (medians, with the CPU time each side used per
message: the figure that says where a rate's time goes); ``--profile`` prints the author's and
one member's profiles (cProfile, event loop thread) of the first group run.

Run: ``python benchmarks/bench_groups.py [--members 20] [--messages 2000] [--catch-up 1000]
[--authors 5] [--rounds 3] [--profile]`` (about 30 s on 2 cores).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.group_member import member_process
from benchmarks.registry_server import RegistryServerProcess
from benchmarks.secure_load import cpu_seconds

SYNC_FRAMES = ("group_have", "group_changes", "messages", "receipt")
"""Peer frames a sync exchange may write (forwarded history travels as ``messages``)."""


class Member:
    """A member's process: requests over a pipe, answers or the benchmark stops."""

    def __init__(self, name: str, folder: Path, registry_port: int) -> None:
        self.name = name
        self._pipe, theirs = mp.Pipe()
        self.process = mp.get_context("spawn").Process(
            target=member_process, args=(name, str(folder), registry_port, theirs), daemon=True
        )
        self.process.start()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def send(self, command: str, *args: object) -> None:
        self._pipe.send((command, *args))

    def answer(self) -> Any:
        if not self._pipe.poll(300):
            raise SystemExit(f"{self.name} did not answer within 300 s")
        status, result = self._pipe.recv()
        if status != "ok":
            raise SystemExit(f"bench_groups: {result}")
        return result

    def ask(self, command: str, *args: object) -> Any:
        self.send(command, *args)
        return self.answer()

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.send("stop")
                if self._pipe.poll(30):
                    self._pipe.recv()
            except (OSError, EOFError):
                pass
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(10)


class CpuClock:
    """The CPU seconds the author, the other members together and the registry use from the
    clock's making on (Linux: /proc; all threads, SQLite's writer included)."""

    def __init__(self, author: Member, others: Sequence[Member], registry: int) -> None:
        self._author, self._others, self._registry = author.pid, [m.pid for m in others], registry
        self._start = self._read()

    def _read(self) -> tuple[float, float, float]:
        others = sum(cpu_seconds(pid) for pid in self._others)
        return cpu_seconds(self._author), others, cpu_seconds(self._registry)

    def per(self, count: int) -> tuple[float, ...]:
        """What each used per message so far, in microseconds (clock ticks of 10 ms: the
        registry's share, small here, is coarse)."""
        return tuple(
            1e6 * (now - then) / count for then, now in zip(self._start, self._read(), strict=True)
        )


def ask_all(members: Sequence[Member], command: str, *args: object) -> list[Any]:
    """The same request to each member, all at once; their answers in order."""
    for member in members:
        member.send(command, *args)
    return [member.answer() for member in members]


@dataclass
class Rate:
    """One run of a rate: messages/s until the last was committed by every receiver, and until
    all were delivered at the sender; the CPU each side used per message."""

    committed: float
    delivered: float
    cpu: tuple[float, ...]
    """Microseconds a message: the author's, the other members' together, the registry's."""


class Sender:
    """The author and whom it sends to, with the running totals the waits are counted in (a
    member counts what it committed, and the author what was delivered, since sign-in)."""

    def __init__(self, author: Member, members: Sequence[Member], registry: int) -> None:
        self.author, self.members, self.registry = author, members, registry
        self.delivered = 0
        self.received: dict[str | None, int] = {}

    def run(self, to: Sequence[Member], group: str | None, count: int) -> Rate:
        """``count`` messages to ``group`` (the members ``to``), or directly to ``to[0]``."""
        cpu = CpuClock(self.author, self.members, self.registry)
        self.delivered += count
        self.received[group] = self.received.get(group, 0) + count
        started = self.author.ask("post", group, None if group else to[0].name, count)
        lasts = [last for _, last in ask_all(to, "received", group, self.received[group])]
        delivered = self.author.ask("delivered", self.delivered)
        return Rate(count / (max(lasts) - started), count / (delivered - started), cpu.per(count))


def set_up(members: list[Member], registry: int) -> tuple[Sender, str]:
    """Everybody signs in; the first member creates the group with all the others."""
    ask_all(members, "sign_in", True)
    author, others = members[0], [m.name for m in members[1:]]
    author.ask("online", others)
    gid: str = author.ask("create", others)
    ask_all(members[1:], "joined", gid, len(members))
    return Sender(author, members[1:], registry), gid


def verdict(ok: bool) -> str:
    return "meets the aim" if ok else "MISSES the aim"


def median_range(rates: Sequence[float]) -> str:
    """The median, and the range of the runs when there are several."""
    middle = f"{statistics.median(rates):,.0f}"
    return middle if len(rates) == 1 else f"{middle} ({min(rates):,.0f}-{max(rates):,.0f})"


def rates(sender: Sender, gid: str, members: list[Member], args: argparse.Namespace) -> None:
    """The group rate beside the one-to-one rate, ``args.rounds`` runs of each, alternating."""
    runs: dict[str, list[Rate]] = {"direct": [], "group": []}
    for round_ in range(args.rounds):
        for kind in ("direct", "group") if round_ % 2 == 0 else ("group", "direct"):
            profile = args.profile and kind == "group" and round_ == 0
            if profile:
                ask_all(members[:2], "profile", True)
            if kind == "direct":
                runs[kind].append(sender.run(members[1:2], None, args.messages))
            else:
                runs[kind].append(sender.run(members[1:], gid, args.messages))
            if profile:
                for member, text in zip(
                    members[:2], ask_all(members[:2], "profile", False), strict=True
                ):
                    print(f"{member.name}'s event loop, a group run:\n{text}", flush=True)
    one = statistics.median(r.committed for r in runs["direct"])
    group = statistics.median(r.committed for r in runs["group"])
    share = one / len(members)

    def line(kind: str) -> str:
        done = runs[kind]
        cpu = [statistics.median(r.cpu[side] for r in done) for side in range(3)]
        author, others, registry = cpu
        return (
            f"{median_range([r.committed for r in done])} msgs/s "
            f"({median_range([r.delivered for r in done])} until all delivered at the author; "
            f"CPU a message: author {author:.0f} us, the other members {others:.0f} us in all, "
            f"registry {registry:.0f} us)"
        )

    print(
        f"groups: {len(members)} members, each its own process; {args.messages:,} messages from "
        f"one author until every member committed them (median (range) of {args.rounds}): "
        f"{line('group')} | one-to-one, the same way: {line('direct')} | group / (one-to-one / "
        f"{len(members)}) = {group / share:.2f} (aim >= 1: {verdict(group >= share)})",
        flush=True,
    )


def catch_up(late: Member, server: Member, gid: str, listen: bool, count: int) -> float:
    """``late`` signs in and takes ``count`` messages from ``server``, the only member online:
    seconds from the start of its sign-in until it committed the last."""
    ask_all([late, server], "count", True)
    started, signed = late.ask("sign_in", listen)
    first, last = late.ask("received", gid, count)
    late_wrote, server_wrote = ask_all([late, server], "count", False)
    frames, size, forwarded = server_wrote.get("messages", [0, 0, 0])
    haves = late_wrote.get("group_have", [0])[0] + server_wrote.get("group_have", [0])[0]
    print(
        f"  ({late.name}: signed in after {1000 * (signed - started):.0f} ms, first message "
        f"committed at {1000 * (first - started):.0f} ms, last at {1000 * (last - started):.0f} "
        f"ms; {server.name} forwarded {forwarded} messages in {frames} frames, "
        f"{size / 1000:.0f} KB; {haves} group_have frames both ways)",
        flush=True,
    )
    return float(last - started)


Wrote = dict[str, dict[str, list[int]]]
"""What each member wrote: by frame type, [frames, bytes, items]."""


def steady_sync(late: Member, server: Member, listen: bool) -> Wrote:
    """``late`` (in step with ``server``) signs out and in again: what each wrote meanwhile."""
    late.ask("sign_out")
    server.ask("offline", late.name)
    ask_all([late, server], "count", True)
    late.ask("sign_in", listen)
    late.ask("online", [server.name])
    server.ask("online", [late.name])
    ask_all([late, server], "settled", 0.3)
    wrote = ask_all([late, server], "count", False)
    return {late.name: wrote[0], server.name: wrote[1]}


def written(wrote: Wrote, kinds: Sequence[str] | None = None) -> tuple[int, str]:
    """The bytes written of ``kinds`` (None: all), and who wrote what."""
    parts, total = [], 0
    for name, frames in wrote.items():
        mine = {k: v for k, v in frames.items() if kinds is None or k in kinds}
        total += sum(size for _, size, _ in mine.values())
        listed = ", ".join(f"{n} {kind} {size} B" for kind, (n, size, _) in mine.items())
        parts.append(f"{name}: {listed or 'nothing'}")
    return total, "; ".join(parts)


def history(sender: Sender, gid: str, members: list[Member], args: argparse.Namespace) -> None:
    """Catch-up, direct and relayed, then the steady-state sync (see the module's text)."""
    authors, server = members[: args.authors], members[args.authors]
    direct_late, relayed_late = members[-2], members[-1]
    for late in (direct_late, relayed_late):
        late.ask("sign_out")
        ask_all(authors, "offline", late.name)
    total = args.catch_up
    each = [total // len(authors) + (i < total % len(authors)) for i in range(len(authors))]
    for member, count in zip(authors, each, strict=True):
        member.send("post", gid, None, count)
    for member in authors:
        member.answer()
    before = sender.received[gid]
    server.ask("received", gid, before + total)
    ask_all([m for m in members if m not in (server, direct_late, relayed_late)], "sign_out")
    expected = {m.name: count for m, count in zip(authors, each, strict=True)}
    expected[sender.author.name] += before
    server.ask("check", gid, expected, before + total)

    direct = catch_up(direct_late, server, gid, True, total)
    checked = direct_late.ask("check", gid, expected, total)
    route = server.ask("route", direct_late.name)
    assert route == "direct", f"the server reached {direct_late.name} by {route}"
    direct_wrote = steady_sync(direct_late, server, True)
    direct_late.ask("sign_out")
    server.ask("sign_out")
    server.ask("sign_in", False)  # no listen address: the relay is the only way between them
    relayed = catch_up(relayed_late, server, gid, False, total)
    relayed_late.ask("check", gid, expected, total)
    route = server.ask("route", relayed_late.name)
    assert route == "relayed", f"the server reached {relayed_late.name} by {route}"
    relayed_wrote = steady_sync(relayed_late, server, False)
    print(
        f"groups: catch-up of {total:,} messages from {len(authors)} authors from one other "
        f"member only, sign-in to the last committed: direct {direct:.2f} s (aim <= 2 s: "
        f"{verdict(direct <= 2)}) | through the relay (both with no listen address) "
        f"{relayed:.2f} s (aim <= 10 s: {verdict(relayed <= 10)}); checked at each: every "
        f"author's numbers 1..n with no gap or duplicate, the signatures of all "
        f"{checked['verified']:,} messages stored verified again",
        flush=True,
    )
    size, who = written(direct_wrote, SYNC_FRAMES)
    _, everything = written(direct_wrote)
    legs, by_leg = written(relayed_wrote, ("relayed",))
    print(
        f"groups: steady-state sync between two members in step ({len(expected)} authors), "
        f"Noise records as written: direct {size} bytes of sync frames (aim < 1 KB: "
        f"{verdict(size < 1024)}; {who}) | through the relay {legs} bytes on the relay legs "
        f"(the peer session's own handshake inside; {by_leg}); everything either wrote in the "
        f"direct window: {everything}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--messages", type=int, default=2000, help="for the two rates")
    parser.add_argument("--catch-up", type=int, default=1000, help="posted while two are away")
    parser.add_argument("--authors", type=int, default=5, help="who post them")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each rate (median)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print the profiles of the author and a member during the group rate",
    )
    args = parser.parse_args()
    if (
        args.members < args.authors + 3
        or min(args.messages, args.catch_up, args.authors, args.rounds) < 1
    ):
        parser.error("counts must be at least 1, and members at least authors + 3")
    began = time.perf_counter()
    with RegistryServerProcess("noise") as registry, tempfile.TemporaryDirectory() as tmp:
        members = [
            Member(f"member{i:02d}", Path(tmp) / f"member{i:02d}", registry.port)
            for i in range(args.members)
        ]
        try:
            for member in members:
                member.answer()  # started
            sender, gid = set_up(members, registry.pid)
            rates(sender, gid, members, args)
            history(sender, gid, members, args)
        finally:
            for member in members:
                member.stop()
    print(f"groups: the whole run took {time.perf_counter() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
