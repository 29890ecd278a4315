"""The metrics of a live registry move with what it does: connections by state, registrations,
lookups, protocol violations and the error frames sent, relayed bytes and sessions, probes;
scraped over HTTP from a real RegistryServer."""

from __future__ import annotations

import asyncio
import re
import urllib.request

import pytest

from chinwag.adapters.registry.metrics import serve_metrics
from tests.integration.test_registry_relay import pair
from tests.integration.test_registry_server import run

pytestmark = pytest.mark.timeout(60)


def sample(text: str, name: str, labels: str = "") -> float:
    """The value of metric ``name`` (with exactly ``labels``, e.g. ``code="bad_request"``)."""
    wanted = f"chinwag_registry_{name}" + (f"{{{labels}}}" if labels else "")
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {wanted} in the scrape:\n{text}")


async def scrape(url: str) -> str:
    def get() -> str:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return str(answer.read().decode())

    return await asyncio.to_thread(get)


def test_a_scrape_reflects_connections_requests_errors_and_relayed_bytes() -> None:
    async def scenario() -> None:
        p = await pair()
        server = p.server
        metrics = serve_metrics("127.0.0.1", 0, server.core.stats, server)
        try:
            url = f"http://127.0.0.1:{metrics.address[1]}/metrics"
            before = await scrape(url)
            assert sample(before, "registered_clients") == 2
            assert sample(before, "connections", 'state="registered",transport="tcp"') == 2
            errors_before = _errors(before, "bad_request")

            refused = await p.alice.request({"type": "no such request"})
            assert refused["type"] == "error" and refused["code"] == "bad_request"
            assert (await p.alice.request({"type": "lookup", "user": "bob"}))["type"] == "found"
            a, b, _ = await p.joined()
            a.send(b"x" * 1000)
            assert await b.receive(1000) == b"x" * 1000

            after = await scrape(url)
            assert sample(after, "protocol_violations_total") >= 1
            assert _errors(after, "bad_request") == errors_before + 1
            assert sample(after, "lookups_total", 'result="found"') >= 1
            assert sample(after, "relay_bytes_total") >= 1000
            assert sample(after, "relay_sessions") == 1
            assert sample(after, "connections", 'state="relay_leg",transport="tcp"') == 2
            assert sample(after, "registrations_total", 'result="ok"') == 2
        finally:
            metrics.close()
            await server.close()

    run(scenario())


def _errors(text: str, code: str) -> float:
    match = re.search(rf'^chinwag_registry_errors_total{{code="{code}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0
