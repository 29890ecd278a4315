"""The registry's relay, on loopback: sessions asked for on a registered connection, joined on
legs of their own, carrying plaintext both ways as it is, within their limits.

Clients are hand-driven (``Raw`` from the registry server's tests); a :class:`Leg` is a registry
connection whose first request is ``relay_join`` and which, once joined, reads and writes the
relayed byte stream itself (sealed in its session with the registry, never framed).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from typing import Any

import pytest

from chinwag.adapters.registry.protocol import MAX_SERVER_FRAME
from chinwag.adapters.registry.relay import RelayHub
from chinwag.adapters.registry.relay_session import HIGH_WATER, RelaySession, RelaySettings
from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.keys import LocalKeys
from chinwag.adapters.wire.codec import FrameDecoder
from tests.integration.test_registry_server import DEADLINE, Address, Message, Raw, run, started
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


class Leg:
    """One end's relay connection: ``relay_join``, its answer, then raw relayed bytes."""

    def __init__(self, raw: Raw) -> None:
        self.raw = raw
        self.layer = raw.tap.layer
        self.reader = raw.stream.reader
        self.writer = raw.stream.writer
        self.frames = FrameDecoder(MAX_SERVER_FRAME)
        self.data = bytearray()

    @classmethod
    async def open(
        cls, address: Address, keys: LocalKeys, sid: str, early: bytes = b"", rid: int = 7
    ) -> Leg:
        raw = await Raw.welcomed(address, keys)
        raw.send({"type": "relay_join", "rid": rid, "sid": sid})
        if early:
            raw.send_plain(early)  # relayed bytes, sent before the answer
        return cls(raw)

    async def _more(self) -> bytes:
        chunk = await self.reader.read(256 * 1024)
        if not chunk:
            raise ConnectionError("closed")
        return self.layer.open(chunk)

    async def answer(self, timeout: float = DEADLINE) -> Message:
        """The registry's one frame on this leg (``relay_joined`` or an error); what follows
        it is relayed bytes."""
        async with asyncio.timeout(timeout):
            plain = self.layer.open(b"")
            while True:
                frames = self.frames.feed(plain, max_frames=1)
                if frames:
                    self.data += self.frames.take_buffer()
                    message: Message = json.loads(frames[0])
                    return message
                plain = await self._more()

    def send(self, data: bytes) -> None:
        self.writer.write(self.layer.seal(data))

    async def receive(self, size: int, timeout: float = DEADLINE) -> bytes:
        async with asyncio.timeout(timeout):
            while len(self.data) < size:
                self.data += await self._more()
        out = bytes(self.data[:size])
        del self.data[:size]
        return out

    async def collect(self) -> None:
        """Read relayed bytes into :attr:`data` until the leg ends."""
        try:
            while True:
                self.data += await self._more()
        except (ConnectionError, OSError):
            pass

    async def closed(self, timeout: float = DEADLINE) -> bytes:
        """Everything relayed until the registry closes this leg."""
        async with asyncio.timeout(timeout):
            await self.collect()
        out = bytes(self.data)
        self.data.clear()
        return out


class Pair:
    """Two registered clients (accepting no connections), alice asking for a session to bob."""

    def __init__(self, server: RegistryServer, names: tuple[str, str] = ("alice", "bob")) -> None:
        self.server = server
        self.names = names
        self.alice_keys = LocalKeys.generate()
        self.bob_keys = LocalKeys.generate()

    async def sign_in(self) -> Pair:
        self.alice = await Raw.welcomed(self.server.address, self.alice_keys)
        await self.alice.register(self.names[0], port=None)
        self.bob = await Raw.welcomed(self.server.address, self.bob_keys)
        await self.bob.register(self.names[1], port=None)
        return self

    async def ask(self) -> str:
        """A session from alice to bob: its id, once bob was told."""
        asker, target = self.names
        ready = await self.alice.request({"type": "relay", "to": target.capitalize()})
        assert ready["type"] == "relay_ready", ready
        assert ready["to"] == target
        incoming = await self.bob.next()
        while incoming["type"] == "presence_changed":
            incoming = await self.bob.next()
        assert incoming == {
            "type": "relay_incoming",
            "sid": ready["sid"],
            "from": asker,
            "timeout": self.server.relay_hub.settings.join_timeout,
        }
        sid: str = ready["sid"]
        return sid

    async def joined(self, early_a: bytes = b"", early_b: bytes = b"") -> tuple[Leg, Leg, str]:
        sid = await self.ask()
        a = await Leg.open(self.server.address, self.alice_keys, sid, early_a, rid=11)
        b = await Leg.open(self.server.address, self.bob_keys, sid, early_b, rid=22)
        assert await a.answer() == {"type": "relay_joined", "rid": 11, "sid": sid}
        assert await b.answer() == {"type": "relay_joined", "rid": 22, "sid": sid}
        return a, b, sid


async def pair(**options: Any) -> Pair:
    return await Pair(await started(**options)).sign_in()


# -- the happy path ----------------------------------------------------------------------------


def test_a_session_carries_any_bytes_both_ways_as_they_are() -> None:
    async def scenario() -> None:
        p = await pair()
        early = b"\x00\x00\x00\x05early bytes, before bob is in"
        a, b, sid = await p.joined(early_a=early)
        assert await b.receive(len(early)) == early
        rng = random.Random(9)
        for size in (1, 2, 17, 65519, 65520, 200_000, 1_000_000):
            there = rng.randbytes(size)
            back = rng.randbytes(size // 2 + 1)
            a.send(there)
            b.send(back)
            assert await b.receive(len(there)) == there
            assert await a.receive(len(back)) == back
        assert a.data == b.data == bytearray()
        session = p.server.relay_hub.sessions[sid]
        assert session.joined
        assert p.server.online() == frozenset({"alice", "bob"})  # legs register nothing
        await p.server.close()

    run(scenario())


def test_found_says_the_registry_relays() -> None:
    async def scenario() -> None:
        p = await pair()
        found = await p.alice.request({"type": "lookup", "user": "bob"})
        assert found["relay"] is True
        await p.server.close()

    run(scenario())


def test_a_session_is_joined_in_either_order() -> None:
    async def scenario() -> None:
        p = await pair()
        sid = await p.ask()
        b = await Leg.open(p.server.address, p.bob_keys, sid, b"from bob first")
        a = await Leg.open(p.server.address, p.alice_keys, sid, b"then alice")
        assert (await b.answer())["type"] == (await a.answer())["type"] == "relay_joined"
        assert await a.receive(14) == b"from bob first"
        assert await b.receive(10) == b"then alice"
        await p.server.close()

    run(scenario())


# -- refusals ----------------------------------------------------------------------------------


def test_only_the_two_expected_keys_may_join() -> None:
    async def scenario() -> None:
        p = await pair()
        sid = await p.ask()
        stranger = await Leg.open(p.server.address, LocalKeys.generate(), sid)
        refused = await stranger.answer()
        assert (refused["type"], refused["code"], refused["rid"]) == ("error", "relay_unknown", 7)
        assert await stranger.closed() == b""
        a = await Leg.open(p.server.address, p.alice_keys, sid)
        twice = await Leg.open(p.server.address, p.alice_keys, sid)  # alice's place is taken
        assert (await twice.answer())["code"] == "relay_unknown"
        made_up = await Leg.open(p.server.address, p.bob_keys, "x" * 22)
        assert (await made_up.answer())["code"] == "relay_unknown"
        b = await Leg.open(p.server.address, p.bob_keys, sid)  # the session is still there
        assert (await a.answer())["type"] == (await b.answer())["type"] == "relay_joined"
        await p.server.close()

    run(scenario())


def test_an_unjoined_session_expires() -> None:
    async def scenario() -> None:
        p = await pair(relay_join_timeout=0.3)
        sid = await p.ask()
        a = await Leg.open(p.server.address, p.alice_keys, sid)
        expired = await a.answer()
        assert (expired["code"], "rid" in expired) == ("relay_unknown", False)
        assert "did not join within 0.3 s" in expired["message"]
        assert await a.closed() == b""
        assert p.server.relay_hub.sessions == {}
        late = await Leg.open(p.server.address, p.bob_keys, sid)
        assert (await late.answer())["code"] == "relay_unknown"
        await p.server.close()

    run(scenario())


def test_no_relay_refuses_sessions_and_joins_and_lookups_say_so() -> None:
    async def scenario() -> None:
        p = await pair(relay=False)
        refused = await p.alice.request({"type": "relay", "to": "bob"})
        assert refused["code"] == "relay_off"
        found = await p.alice.request({"type": "lookup", "user": "bob"})
        assert found["relay"] is False
        leg = await Leg.open(p.server.address, p.alice_keys, "y" * 22)
        assert (await leg.answer())["code"] == "relay_off"
        await p.server.close()

    run(scenario())


def test_a_client_may_ask_for_a_few_sessions_only() -> None:
    async def scenario() -> None:
        p = await pair(relay_sessions=2, relay_join_timeout=0.5)
        first, _ = await p.ask(), await p.ask()
        refused = await p.alice.request({"type": "relay", "to": "bob"})
        assert refused["code"] == "relay_limit"
        # Bob may still ask alice: the limit is on what a client asks for.
        ready = await p.bob.request({"type": "relay", "to": "alice"})
        assert ready["type"] == "relay_ready"
        # Once a session is over (joined and closed here), alice may ask again.
        a = await Leg.open(p.server.address, p.alice_keys, first)
        b = await Leg.open(p.server.address, p.bob_keys, first)
        assert (await a.answer())["type"] == (await b.answer())["type"] == "relay_joined"
        await a.raw.close()
        await b.closed()
        again = await p.alice.request({"type": "relay", "to": "bob"})
        assert again["type"] == "relay_ready"
        await p.server.close()

    run(scenario())


def test_a_target_and_the_registry_take_a_few_sessions_only() -> None:
    async def scenario() -> None:
        server = await started(relay_sessions_per_target=1, max_relay_sessions=2)
        clients = [await Raw.welcomed(server.address) for _ in range(4)]
        for n, client in enumerate(clients):
            await client.register(f"user{n}", port=None)
        one, two, three, _ = clients
        assert (await one.request({"type": "relay", "to": "user3"}))["type"] == "relay_ready"
        to_target = await two.request({"type": "relay", "to": "user3"})
        assert to_target["code"] == "relay_full"
        assert "user3" in to_target["message"]
        assert (await two.request({"type": "relay", "to": "user0"}))["type"] == "relay_ready"
        in_all = await three.request({"type": "relay", "to": "user0"})
        assert in_all["code"] == "relay_full"
        await server.close()

    run(scenario())


def test_relay_asks_like_a_lookup_and_needs_a_registration() -> None:
    async def scenario() -> None:
        p = await pair()
        ask = p.alice.request
        assert (await ask({"type": "relay", "to": "nobody"}))["code"] == "unknown_user"
        assert (await ask({"type": "relay", "to": "no one"}))["code"] == "invalid_username"
        assert (await ask({"type": "relay", "to": "alice"}))["code"] == "bad_request"
        await p.bob.request({"type": "unregister"})
        assert (await ask({"type": "relay", "to": "bob"}))["code"] == "offline"
        stranger = await Raw.welcomed(p.server.address)
        assert (await stranger.request({"type": "relay", "to": "alice"}))[
            "code"
        ] == "not_registered"
        await p.server.close()

    run(scenario())


def test_relay_join_after_another_request_is_refused_and_changes_nothing() -> None:
    async def scenario() -> None:
        p = await pair()
        sid = await p.ask()
        late = await Raw.welcomed(p.server.address, p.alice_keys)
        assert (await late.request({"type": "ping"}))["type"] == "pong"
        answer = await late.request({"type": "relay_join", "sid": sid})
        assert answer["code"] == "bad_request"
        assert (await late.request({"type": "ping"}))["type"] == "pong"
        a = await Leg.open(p.server.address, p.alice_keys, sid)  # alice's place is still free
        b = await Leg.open(p.server.address, p.bob_keys, sid)
        assert (await a.answer())["type"] == (await b.answer())["type"] == "relay_joined"
        await p.server.close()

    run(scenario())


def test_too_much_before_both_are_in_closes_the_leg() -> None:
    async def scenario() -> None:
        p = await pair()
        sid = await p.ask()
        a = await Leg.open(p.server.address, p.alice_keys, sid, os.urandom(70_000))
        refused = await a.answer()
        assert refused["code"] == "bad_request"
        assert await a.closed() == b""
        await p.server.close()

    run(scenario())


# -- ends --------------------------------------------------------------------------------------


def test_one_leg_closing_closes_the_other_after_what_it_sent() -> None:
    async def scenario() -> None:
        p = await pair()
        a, b, _ = await p.joined()
        a.send(b"last words")
        await a.raw.close()
        assert await b.closed() == b"last words"
        await wait_until(lambda: p.server.relay_hub.sessions == {}, what="the session ended")
        # ... and the other way round, with bob leaving.
        a, b, _ = await p.joined()
        await b.raw.close()
        assert await a.closed() == b""
        assert (await p.alice.request({"type": "ping"}))["type"] == "pong"
        await p.server.close()

    run(scenario())


def test_the_registry_shutting_down_closes_every_leg() -> None:
    async def scenario() -> None:
        p = await pair()
        a, b, _ = await p.joined()
        waiting = await Leg.open(p.server.address, p.alice_keys, await p.ask())
        await wait_until(lambda: p.server.connection_count == 5, what="every leg in")
        await p.server.close()
        assert await a.closed() == b""
        assert await b.closed() == b""
        await waiting.closed()

    run(scenario())


def test_an_idle_session_is_closed() -> None:
    async def scenario() -> None:
        p = await pair(relay_idle_timeout=0.5)
        a, b, _ = await p.joined()
        for _ in range(4):  # traffic keeps it open past its idle timeout
            a.send(b"still here")
            assert await b.receive(10) == b"still here"
            await asyncio.sleep(0.2)
        assert await a.closed() == b""
        assert await b.closed() == b""
        assert (await p.alice.request({"type": "ping"}))["type"] == "pong"
        await p.server.close()

    run(scenario())


def test_garbage_on_a_leg_ends_its_session_and_nothing_else() -> None:
    async def scenario() -> None:
        p = await pair()
        for garbage in (b"\x00\x00\x00\x20" + os.urandom(32), b"\xff\xff\xff\xff", b"\x00" * 4):
            a, b, _ = await p.joined()
            a.writer.write(garbage)  # not a record of its session
            assert await b.closed() == b""
            await a.closed()
            found = await p.alice.request({"type": "lookup", "user": "bob"})
            assert found["type"] == "found"
        await wait_until(lambda: p.server.relay_hub.sessions == {})
        await p.server.close()

    run(scenario())


# -- limits ------------------------------------------------------------------------------------


def test_a_clients_relayed_bytes_keep_to_its_rate_over_all_its_sessions() -> None:
    rate, burst = 64 * 1024, 16 * 1024

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        server = await started(relay_rate=rate, relay_burst=burst)
        p = await Pair(server).sign_in()
        carol_keys = LocalKeys.generate()
        carol = await Raw.welcomed(server.address, carol_keys)
        await carol.register("carol", port=None)
        start = loop.time()  # before any bucket exists
        a, b, _ = await p.joined()
        ready = await p.alice.request({"type": "relay", "to": "carol"})
        assert (await carol.next())["type"] == "relay_incoming"
        a2 = await Leg.open(server.address, p.alice_keys, ready["sid"])
        c = await Leg.open(server.address, carol_keys, ready["sid"])
        assert (await a2.answer())["type"] == (await c.answer())["type"] == "relay_joined"
        readers = [asyncio.create_task(leg.collect()) for leg in (b, c)]
        a.send(os.urandom(512 * 1024))
        a2.send(os.urandom(512 * 1024))

        def relayed() -> int:
            return len(b.data) + len(c.data)

        def within_bound() -> bool:
            assert relayed() <= burst + rate * (loop.time() - start), "over the rate"
            return relayed() >= burst + rate // 2

        await wait_until(within_bound, what="relaying at the rate")
        # Both sessions share the one bucket, and take turns at it: neither starves.
        assert min(len(b.data), len(c.data)) >= burst
        await server.close()
        await asyncio.gather(*readers)

    run(scenario())


def test_a_leg_whose_other_end_does_not_read_is_not_read_either() -> None:
    async def scenario() -> None:
        p = await pair(relay_rate=1 << 30)
        sid = await p.ask()
        a = await Leg.open(p.server.address, p.alice_keys, sid)
        slow = await Raw.welcomed(p.server.address, p.bob_keys, rcvbuf=4096)
        slow.send({"type": "relay_join", "rid": 1, "sid": sid})
        b = Leg(slow)
        assert (await a.answer())["type"] == (await b.answer())["type"] == "relay_joined"
        session = p.server.relay_hub.sessions[sid]
        alice_leg, bob_leg = session.legs
        assert alice_leg is not None and bob_leg is not None
        sent = hashlib.sha256()
        total = 0
        while a.writer.transport.get_write_buffer_size() < 1024 * 1024:  # the registry stopped
            chunk = os.urandom(256 * 1024)
            a.send(chunk)
            sent.update(chunk)
            total += len(chunk)
            assert total < 512 * 1024 * 1024, "the registry never stopped reading alice"
            await asyncio.sleep(0.001)
        assert alice_leg.paused
        # What the registry holds for bob stays about its high-water mark (plus one read).
        assert bob_leg.connection.unsent() <= HIGH_WATER + 512 * 1024
        got = hashlib.sha256()
        received = 0
        async with asyncio.timeout(30):
            while received < total:  # bob reads at last: everything arrives, in order
                chunk = await b._more()
                got.update(chunk)
                received += len(chunk)
        assert received == total and got.digest() == sent.digest()
        await p.server.close()

    run(scenario())


def test_a_relay_flood_does_not_hold_up_lookups_presence_or_another_pair() -> None:
    """The bound: with one client relaying as fast as it can (8 MiB/s by default), every lookup
    of another client is answered within a second, a presence change reaches it as fast, and
    another pair's relayed exchanges each come back within a second."""

    async def scenario() -> None:
        p = await pair()
        a, b, _ = await p.joined()
        reader = asyncio.create_task(b.collect())
        stop = asyncio.Event()

        async def flood() -> None:
            chunk = os.urandom(64 * 1024)
            while not stop.is_set():
                a.send(chunk)
                await a.writer.drain()

        flooder = asyncio.create_task(flood())
        await wait_until(lambda: len(b.data) > 2 * 1024 * 1024, what="the flood under way")
        carol = await Raw.welcomed(p.server.address)
        await carol.register("carol")
        slowest = 0.0
        for _ in range(100):
            began = time.monotonic()
            found = await carol.request({"type": "lookup", "user": "alice"})
            slowest = max(slowest, time.monotonic() - began)
            assert found["type"] == "found"
        dave = await Raw.welcomed(p.server.address)
        began = time.monotonic()
        await dave.register("dave")
        await carol.sees(lambda online: "dave" in online)
        assert time.monotonic() - began < 1.0
        assert slowest < 1.0
        # Another pair's relayed chat goes on: each small exchange comes back within a second.
        other = await Pair(p.server, ("erin", "frank")).sign_in()
        erin, frank, _ = await other.joined()
        for n in range(20):
            began = time.monotonic()
            line = f"message {n}".encode()
            erin.send(line)
            assert await frank.receive(len(line)) == line
            frank.send(b"ack " + line)
            assert await erin.receive(len(line) + 4) == b"ack " + line
            slowest = max(slowest, time.monotonic() - began)
        assert slowest < 1.0
        flowed = len(b.data)
        await wait_until(lambda: len(b.data) > flowed, what="the flood still flowing")
        stop.set()
        flooder.cancel()
        await p.server.close()
        await asyncio.gather(reader, flooder, return_exceptions=True)

    run(scenario())


# -- the tamper hook ---------------------------------------------------------------------------


class Shouting(RelayHub):
    """Forwards alice's bytes in capitals, drops bob's "x" bytes."""

    def forward(self, session: RelaySession, side: int, data: bytes) -> bytes:
        return data.upper() if side == 0 else data.replace(b"x", b"")


def test_every_relayed_byte_goes_through_forward() -> None:
    async def scenario() -> None:
        for hub in (Shouting, Shouting(RelaySettings(rate=1 << 20))):
            p = await pair(relay_hub=hub)
            assert isinstance(p.server.relay_hub, Shouting)
            a, b, _ = await p.joined(early_a=b"early ")
            a.send(b"hello bob")
            assert await b.receive(15) == b"EARLY HELLO BOB"
            b.send(b"xoxo")
            assert await a.receive(2) == b"oo"
            await p.server.close()

    run(scenario())
