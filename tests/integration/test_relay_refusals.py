"""The registry's relay refusals as a user meets them: ``chinwag-cli --json`` processes started
with ``--listen none``, and a real registry whose relay limits are set low. A refused session
queues the message with the reason ``relay_refused``; the doctor answers ``path: "none"`` with
the cause the client makes of the registry's refusal (``relay_client._REFUSALS``); and once the
limit clears, the courier's retry delivers the message through the relay.

``relay_limit`` (one client's sessions) is a ``chinwag-registry --relay-sessions 1`` process.
The caps no flag sets (sessions in all, per target, per address) are a real
:class:`RegistryServer` run in a thread of the test, the clients still being processes.

Of ``_REFUSALS``, the registry cannot answer a relay request with the others: ``relay_off``
(a registry that does not relay says so in every lookup, so no client asks it),
``rate_limited`` (its request-rate error carries no request id, so it answers no request) and
``busy`` (only when its shared store fails: a Redis network's).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chinwag.adapters.registry.server import RegistryServer
from chinwag.adapters.secure.channel import Security
from chinwag.adapters.secure.keys import LocalKeys
from tests.processes import CliProcess, RegistryProcess, start

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

NONE = ("--listen", "none")
RETRIED = 60.0
"""Seconds the courier has to deliver once the limit cleared: its backoff doubles up to 30 s
(jittered), and the limit clears after a few tries."""


class ThreadedRegistry:
    """A real registry server on a loop of its own, in a thread: the relay caps no flag of
    ``chinwag-registry`` sets, for client processes to meet."""

    def __init__(self, **settings: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.server = RegistryServer(
            "127.0.0.1", 0, security=Security(LocalKeys.generate()), **settings
        )
        host, port = self._run(self.server.start())
        self.address = f"{host}:{port}"

    def _run(self, work: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(15)

    def refused(self, code: str) -> int:
        """How many relay requests the registry refused with ``code`` (its own count)."""
        return self.server.core.stats.relay_refused[code]

    def close(self) -> None:
        try:
            self._run(self.server.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)
            self._loop.close()


@contextmanager
def threaded_registry(**settings: Any) -> Iterator[ThreadedRegistry]:
    registry = ThreadedRegistry(**settings)
    try:
        yield registry
    finally:
        registry.close()


def client(clients: list[CliProcess], user: str, address: str, folder: Path) -> CliProcess:
    """A signed-in ``chinwag-cli --json --listen none`` of ``user``, on the registry at
    ``address``; killed with the ``clients`` fixture."""
    process = CliProcess(user, address, folder, *NONE)
    clients.append(process)
    process.wait_event("ready", user=user)
    return process


def chat(sender: CliProcess, recipient: CliProcess, body: str) -> None:
    """``sender``'s ``body`` reaches ``recipient`` through the relay, opening a session that
    then holds its places at the registry."""
    mark = sender.mark()
    sender.send(cmd="send", to=recipient.user, body=body)
    recipient.wait_event("message", body=body)
    delivered = sender.wait_event("status", state="delivered", since=mark)
    assert delivered["path"] == "relayed", delivered


def refused(sender: CliProcess, to: str, body: str, cause: str) -> str:
    """``sender``'s ``body`` to ``to`` waits, saying the relay refused it, and the doctor
    names ``cause``, with no path; the message's id."""
    mark = sender.mark()
    sender.send(cmd="send", to=to, body=body)
    queued = sender.wait_event("status", state="queued", since=mark, timeout=30)
    assert queued["reason"] == "relay_refused", queued
    doctor = sender.ask("doctor", {"cmd": "doctor", "with": to})
    assert doctor["event"] == "doctor", doctor
    assert (doctor["with"], doctor["path"], doctor["rtt_ms"]) == (to, "none", None), doctor
    assert doctor["cause"] == cause and doctor["reason"], doctor
    assert sender.of("status", since=mark, state="delivered") == []  # still waiting
    waiting: str = queued["id"]
    return waiting


def delivered_later(sender: CliProcess, recipient: CliProcess, waiting: str, body: str) -> None:
    """The message ``waiting`` (``body``) is delivered, through the relay, by the courier's own
    retry."""
    recipient.wait_event("message", body=body, timeout=RETRIED)
    delivered = sender.wait_event("status", state="delivered", id=waiting, timeout=RETRIED)
    assert delivered["path"] == "relayed", delivered


def test_one_clients_session_limit_is_relay_limit_until_a_session_ends(
    tmp_path: Path, clients: list[CliProcess]
) -> None:
    """``--relay-sessions 1``: alice's session to bob uses her one place; a message to carol
    waits ``relay_refused`` (``relay_limit``: hers to lift) until bob leaves and it goes."""
    registry = RegistryProcess(extra=("--relay-sessions", "1"))
    try:
        alice = start(clients, "alice", registry, tmp_path / "a", *NONE)
        bob = start(clients, "bob", registry, tmp_path / "b", *NONE)
        carol = start(clients, "carol", registry, tmp_path / "c", *NONE)
        alice.wait_online("bob", "carol")
        chat(alice, bob, "one session")
        waiting = refused(alice, "carol", "over my limit", "relay_limit")
        assert bob.quit() == 0  # alice's session to bob ends: her place is free again
        delivered_later(alice, carol, waiting, "over my limit")
    finally:
        registry.kill()


@pytest.mark.parametrize(
    ("settings", "code", "cause"),
    [
        ({"max_relay_sessions": 1}, "relay_full", "relay_full"),
        ({"relay_sessions_per_target": 1}, "relay_full", "relay_full"),
        ({"relay_sessions_per_address": 1}, "relay_limit", "relay_limit"),
    ],
    ids=["sessions in all", "sessions per target", "sessions per address"],
)
def test_the_registrys_refusals_reach_the_doctor_and_the_message_goes_once_they_clear(
    tmp_path: Path, clients: list[CliProcess], settings: dict[str, int], code: str, cause: str
) -> None:
    """carol holds the one session (to dave); bob's to dave (per target) or to alice (all,
    per address: every client here is on 127.0.0.1) is refused with ``code``, which the
    client calls ``cause``; once carol leaves, bob's message goes."""
    with threaded_registry(**settings) as registry:
        alice, bob, carol, dave = (
            client(clients, name, registry.address, tmp_path / name)
            for name in ("alice", "bob", "carol", "dave")
        )
        bob.wait_online("alice", "carol", "dave")
        chat(carol, dave, "the one session")
        recipient = dave if "relay_sessions_per_target" in settings else alice
        waiting = refused(bob, recipient.user, "when there is room", cause)
        assert registry.refused(code) >= 1  # the registry's own word, as the client took it
        assert carol.quit() == 0  # her session ends: the relay has room again
        delivered_later(bob, recipient, waiting, "when there is room")
