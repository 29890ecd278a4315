"""Every byte on the wire, captured on the loopback interface: nothing readable but the greeting.

A raw packet socket on ``lo`` (Linux, CAP_NET_RAW: CI runs as root) sees every TCP segment
between the registry and the clients and between the clients. The segments are put back into
byte streams by sequence number, one per direction of each connection, and searched for what
must never travel in clear: message bodies, usernames, fingerprints and keys. So that the test
cannot pass by capturing nothing, every connection it expects must be seen whole (from its SYN,
without a gap), carry bytes both ways, and start with the one clear frame its protocol has
(the registry's ``welcome``, the peer's ``hello``).
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import struct
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from chinwag.adapters.secure.keys import decode_keys
from chinwag.adapters.transport import protocol as peer_protocol
from chinwag.adapters.wire.codec import FrameDecoder, encode
from chinwag.entrypoints.settings import KEYS_FILE
from tests.processes import CliProcess, RegistryProcess, start, user_folder
from tests.support import wait_until_sync

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
"""On ``lo`` each packet is seen twice, going out and coming in; the incoming copy is kept."""
TCP_SYN = 0x02


@dataclass
class Stream:
    """One direction of one TCP connection, as captured."""

    start: int | None = None
    """The sequence number of the first data byte (the SYN's plus one), once the SYN is seen."""
    segments: dict[int, bytes] = field(default_factory=dict)

    def data(self) -> tuple[bytes, int]:
        """The bytes in order, and how many bytes are missing between them."""
        assert self.start is not None
        out = bytearray()
        missing = 0
        for offset, payload in sorted(
            ((seq - self.start) % 2**32, payload) for seq, payload in self.segments.items()
        ):
            if offset > len(out):
                missing += offset - len(out)
                out.extend(bytes(offset - len(out)))  # keep offsets; counted as missing
            out.extend(payload[len(out) - offset :])
        return bytes(out), missing


class LoopbackCapture:
    """Captures the TCP segments on ``lo`` from a background thread while it is open."""

    def __init__(self) -> None:
        try:
            self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
        except (PermissionError, AttributeError, OSError) as exc:
            pytest.skip(f"no raw packet capture here (needs Linux and CAP_NET_RAW): {exc}")
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024 * 1024)
        self._socket.bind(("lo", 0))
        self._socket.settimeout(0.1)
        self._lock = threading.Lock()
        self._streams: dict[tuple[int, int], Stream] = defaultdict(Stream)
        self._raw: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buffer = bytearray(256 * 1024)
        while not self._stop.is_set():
            try:
                size, address = self._socket.recvfrom_into(buffer)
            except TimeoutError:
                continue
            except OSError:
                return
            if address[2] != PACKET_OUTGOING:
                self._take(bytes(buffer[:size]))

    def _take(self, frame: bytes) -> None:
        if len(frame) < 14 + 20 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
            return
        ip = frame[14:]
        header = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0] or len(ip)
        if ip[9] != socket.IPPROTO_TCP:
            return
        tcp = ip[header:total]
        source, target, seq = struct.unpack("!HHI", tcp[:8])
        payload = tcp[(tcp[12] >> 4) * 4 :]
        with self._lock:
            stream = self._streams[(source, target)]
            if tcp[13] & TCP_SYN:
                stream.start = (seq + 1) % 2**32
            elif payload:
                if len(payload) > len(stream.segments.get(seq, b"")):  # a resend may hold more
                    stream.segments[seq] = payload
                self._raw.append(payload)

    def streams(self) -> dict[tuple[int, int], Stream]:
        with self._lock:
            return dict(self._streams)

    def seen(self, marker: bytes) -> bool:
        with self._lock:
            return any(marker in payload for payload in self._raw)

    def sync(self) -> None:
        """Wait until everything sent on ``lo`` so far has been captured: a marker sent now is
        queued behind it."""
        marker = b"capture marker " + secrets.token_hex(16).encode()
        self.send_in_clear(marker)
        wait_until_sync(lambda: self.seen(marker), 10, "the capture to see its marker")

    @staticmethod
    def send_in_clear(data: bytes) -> int:
        """Send ``data`` over a plain loopback connection; the port it went to."""
        with (
            socket.create_server(("127.0.0.1", 0)) as server,
            socket.create_connection(server.getsockname()) as client,
        ):
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for start in range(0, len(data), 1000):  # several segments
                client.sendall(data[start : start + 1000])
            server.accept()[0].close()
            port: int = server.getsockname()[1]
        return port

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


@pytest.fixture
def capture() -> Iterator[LoopbackCapture]:
    sniffer = LoopbackCapture()
    try:
        sniffer.sync()  # capturing from here on
        yield sniffer
    finally:
        sniffer.close()


def connections(capture: LoopbackCapture, server_port: int) -> list[tuple[bytes, bytes]]:
    """Every connection to ``server_port`` as (client to server, server to client) bytes, each
    seen from its SYN and without a gap."""
    streams = capture.streams()
    found = []
    for (source, target), upstream in streams.items():
        if target != server_port:
            continue
        downstream = streams.get((server_port, source))
        assert upstream.start is not None, f"a connection to {server_port} began before capture"
        assert downstream is not None and downstream.start is not None
        (sent, lost_up), (answered, lost_down) = upstream.data(), downstream.data()
        assert lost_up == lost_down == 0, f"the capture lost bytes of port {server_port}"
        found.append((sent, answered))
    return found


def first_frame(data: bytes) -> dict[str, object]:
    frames = FrameDecoder(65536).feed(data, max_frames=1)
    assert frames, data[:64]
    frame: dict[str, object] = json.loads(frames[0])
    return frame


def forms(text: str) -> list[bytes]:
    """The ways ``text`` could show up in clear: UTF-8, UTF-16 and JSON's ASCII escapes."""
    return [
        text.encode("utf-8"),
        text.encode("utf-16-le"),
        text.encode("utf-16-be"),
        json.dumps(text).encode("ascii")[1:-1],
    ]


def key_forms(raw: bytes) -> list[bytes]:
    return [raw, base64.b64encode(raw), base64.b64encode(raw).rstrip(b"="), raw.hex().encode()]


def test_nothing_readable_crosses_the_wire_but_the_greetings(
    tmp_path: Path,
    capture: LoopbackCapture,
    registry: RegistryProcess,
    clients: list[CliProcess],
) -> None:
    alice_name, bob_name = f"al{secrets.token_hex(5)}", f"bo{secrets.token_hex(5)}"
    alice = start(clients, alice_name, registry, tmp_path / "a")
    bob = start(clients, bob_name, registry, tmp_path / "b")
    alice.wait_online(bob_name)
    bodies = {
        alice: [f"secret {secrets.token_hex(16)}", f"ünïcödé {secrets.token_hex(8)} 秘密"],
        bob: [f"reply {secrets.token_hex(16)}", secrets.token_hex(8) * 2000],
    }
    for sender, peer in ((alice, bob), (bob, alice)):
        for body in bodies[sender]:
            sender.send(cmd="send", to=peer.user, body=body)
        for body in bodies[sender]:
            peer.wait_event("message", body=body)
    alice.send(cmd="verify", **{"with": bob_name})
    alice.wait_event("safety_number")
    # The control: the same search finds a body sent in clear, across segments.
    control_port = capture.send_in_clear(bodies[bob][1].encode())
    capture.sync()  # every byte sent so far is captured
    control = connections(capture, control_port)

    ports = {
        "registry": registry.port,
        alice_name: int(alice.wait_event("ready")["listen"].rsplit(":", 1)[1]),
        bob_name: int(bob.wait_event("ready")["listen"].rsplit(":", 1)[1]),
    }
    to_registry = connections(capture, ports["registry"])
    to_alice, to_bob = (
        connections(capture, ports[alice_name]),
        connections(capture, ports[bob_name]),
    )
    assert len(to_registry) >= 2 and to_alice and to_bob, (to_registry, to_alice, to_bob)
    for sent, answered in to_registry:
        assert sent and answered
        assert first_frame(answered)["type"] == "welcome"  # the one clear frame
    for sent, answered in [*to_alice, *to_bob]:
        assert sent.startswith(encode(peer_protocol.hello()))  # the one clear frame
        assert answered
    assert sum(len(sent) for sent, _ in to_alice) > len(bodies[bob][1])

    secrets_ = [alice_name, bob_name, *bodies[alice], *bodies[bob]]
    keys = []
    for client in (alice, bob):
        fingerprint = client.wait_event("ready")["fingerprint"]
        secrets_ += [fingerprint, fingerprint.replace(" ", "")]
        own = decode_keys((user_folder(client.data, client.user) / KEYS_FILE).read_bytes(), Path())
        private = own.signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        keys += [own.identity_key, own.noise_public, own.noise_private, private]
    secrets_ += [registry.fingerprint, registry.fingerprint.replace(" ", "")]
    needles = [form for text in secrets_ for form in forms(text)]
    needles += [form for key in keys for form in key_forms(key)]
    needles += [b'"body"', b'"register"', b'"lookup"', b'"found"', b'"presence"', b'"messages"']
    wire = [data for pair in [*to_registry, *to_alice, *to_bob] for data in pair]
    assert leaks(wire, needles) == []
    assert bodies[bob][1].encode() in leaks([sent for sent, _ in control], needles)


def leaks(wire: list[bytes], needles: list[bytes]) -> list[bytes]:
    return [needle for needle in needles if any(needle in data for data in wire)]
