"""A registry under a small descriptor limit raises it, takes what it can, and says whom it
refuses: under ``ulimit -n 1024`` two addresses once locked everyone out, silently."""

from __future__ import annotations

import re
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chinwag.adapters.registry.limits import MAX_CONNECTIONS
from tests.processes import ENV

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

LIMIT = 150  # soft and hard: the registry cannot raise it


def test_a_small_descriptor_limit_caps_connections_and_refusals_are_logged(
    tmp_path: Path,
) -> None:
    def small_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))

    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "chinwag.entrypoints.registry", "--port", "0"),
            *("--data-dir", str(tmp_path)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=small_limit,
    )
    sockets: list[socket.socket] = []
    try:
        assert proc.stdout is not None and proc.stderr is not None
        match = re.search(r"listening on ([\d.]+):(\d+)", proc.stdout.readline())
        assert match is not None
        port = int(match.group(2))
        allowed = LIMIT - 128
        for _ in range(allowed + 5):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        # The last ones are told busy (in clear, before any handshake) and closed.
        last = sockets[-1]
        last.settimeout(5)
        data = b""
        while b"busy" not in data:
            chunk = last.recv(4096)
            if not chunk:
                break
            data += chunk
        assert b"busy" in data
    finally:
        for sock in sockets:
            sock.close()
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert f"allows {LIMIT - 128} client connections, not {MAX_CONNECTIONS}" in err
    assert "refused a connection from 127.0.0.1" in err
    assert "Traceback" not in err and "EMFILE" not in err
