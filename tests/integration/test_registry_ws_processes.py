"""The registry over WebSocket, as operators run it: ``chinwag-registry --ws`` and
``chinwag-cli --json`` processes that reach it only by ``ws://`` URLs, straight or through a real
nginx (Debian's, started by the test) as a reverse proxy, in clear and with TLS (``wss://``).
Clients started with ``--listen none`` can only talk through the relay, so every message here
crosses the WebSocket link twice."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import CliProcess, RegistryProcess, _readline_with_deadline
from tests.services import Nginx

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

NONE = ("--listen", "none")


class WsRegistry:
    """A ``chinwag-registry --ws 127.0.0.1:0`` process; :attr:`ws_url` is its WebSocket URL as
    it prints it (its third line)."""

    def __init__(self, *extra: str) -> None:
        self.process = RegistryProcess(extra=("--ws", "127.0.0.1:0", *extra))
        line = _readline_with_deadline(self.process.proc, 20)
        match = re.fullmatch(r"chinwag-registry websocket on (ws://\S+)\n", line)
        assert match is not None, f"{line!r}; stderr: {self.process.log()}"
        self.ws_url = match.group(1)
        self.tcp = self.process.address

    def log(self) -> str:
        return "".join(self.process.stderr_lines)


@pytest.fixture
def ws_registry() -> Iterator[WsRegistry]:
    registry = WsRegistry("--trust-proxy", "127.0.0.1")
    yield registry
    registry.process.kill()


def client(
    clients: list[CliProcess],
    user: str,
    url: str,
    data: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> CliProcess:
    process = CliProcess(user, url, data, *NONE, *extra, env=env)
    clients.append(process)
    process.wait_event("ready", user=user)
    return process


def chat(alice: CliProcess, bob: CliProcess, text: str) -> None:
    alice.wait_online("bob")
    alice.send(cmd="send", to="bob", body=text)
    bob.wait_event("message", body=text)
    alice.wait_event("status", state="delivered", timeout=30)
    assert {e.get("path") for e in alice.of("status", state="delivered")} == {"relayed"}
    bob.send(cmd="send", to="alice", body=f"re: {text}")
    alice.wait_event("message", body=f"re: {text}")


def test_two_clients_on_websocket_only_chat_through_the_relay(
    tmp_path: Path, ws_registry: WsRegistry, clients: list[CliProcess]
) -> None:
    alice = client(clients, "alice", ws_registry.ws_url, tmp_path / "a")
    bob = client(clients, "bob", ws_registry.ws_url, tmp_path / "b")
    chat(alice, bob, "over a websocket, relayed")
    me = alice.ask("doctor", {"cmd": "doctor"})
    assert me["registry"] == "connected", me


def test_a_websocket_client_and_a_tcp_client_see_and_reach_each_other(
    tmp_path: Path, ws_registry: WsRegistry, clients: list[CliProcess]
) -> None:
    alice = client(clients, "alice", ws_registry.ws_url, tmp_path / "a")
    bob = client(clients, "bob", ws_registry.tcp, tmp_path / "b")
    bob.wait_online("alice")
    chat(alice, bob, "from a websocket to tcp")


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
def test_clients_behind_a_real_nginx_reverse_proxy_chat_as_directly(
    tmp_path: Path, ws_registry: WsRegistry, clients: list[CliProcess], tls: bool
) -> None:
    upstream = ws_registry.ws_url.removeprefix("ws://").removesuffix("/chinwag")
    with Nginx(upstream, tmp_path / "nginx", tls=tls) as nginx:
        env = {"SSL_CERT_FILE": str(nginx.certificate)} if tls else None
        alice = client(clients, "alice", nginx.url, tmp_path / "a", env=env)
        bob = client(clients, "bob", nginx.url, tmp_path / "b", env=env)
        assert nginx.url.startswith("wss://" if tls else "ws://")
        chat(alice, bob, "through nginx")
        # The proxy is trusted: the registry counts the client's address, not nginx's.
        assert "protocol violation" not in ws_registry.log()


def test_a_client_refuses_a_wss_proxy_whose_certificate_it_does_not_trust(
    tmp_path: Path, ws_registry: WsRegistry, clients: list[CliProcess]
) -> None:
    upstream = ws_registry.ws_url.removeprefix("ws://").removesuffix("/chinwag")
    with Nginx(upstream, tmp_path / "nginx", tls=True) as nginx:
        process = CliProcess("alice", nginx.url, tmp_path / "a", *NONE)
        clients.append(process)
        error = process.wait_event("error", timeout=30)
        assert error["code"] == "registry_unavailable", error
        assert "certificate" in error["message"], error
