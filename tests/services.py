"""Real services for the registry's tests and benchmarks: a ``redis-server`` and an ``nginx`` in
front of a WebSocket listener, each on a free loopback port with its files in a folder of its own.

Never mocks: the Redis stores must be tested against what Redis really does (scripts, AOF, a
restart that drops every connection), and the WebSocket binding against what a real proxy does
to the upgrade and to ``X-Forwarded-For``. Neither program can be told "port 0, tell me which",
so each is started on a port found free a moment before and started again on another one when
that port was taken in between. Both are context managers::

    with RedisServer(tmp_path / "redis") as redis:   # redis.url = "redis://127.0.0.1:PORT/0"
        ...
        redis.kill()      # SIGKILL, a crash
        redis.restart()   # same port, same folder: the AOF is read back

Their methods block for at most a few seconds (the time the program takes to answer); from a
coroutine that must keep its loop running meanwhile, call them through ``asyncio.to_thread``.
``scripts/test.sh`` installs both programs (Debian ``redis-server`` and ``nginx``). Where one is
missing anyway, the test is skipped with the install command; under CI (``CI`` set) it fails,
since there it must have been installed.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import pytest

START_TIMEOUT = 10.0
"""Seconds a program gets to answer after it was started (AOF replay included)."""
STOP_TIMEOUT = 10.0
"""Seconds a program gets to exit after SIGTERM before it is killed."""
PROBE_TIMEOUT = 0.25
"""Seconds one probe waits for an answer (probes repeat until ``START_TIMEOUT``): short, since a
stranger that took the port first may never answer."""
PORT_ATTEMPTS = 5
"""Free ports tried before giving up: another process may take one between pick and bind."""
HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the OS's pick for port 0, then released)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def program(name: str, package: str) -> str:
    """The path of ``name``; skip the test (fail it under CI) when it is not installed.

    ``/usr/sbin`` is searched too: nginx lives there and is not on an ordinary user's PATH.
    """
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is not None:
        return found
    message = (
        f"{name} is not installed: scripts/test.sh installs it "
        f"(sudo apt-get install {package}), or install it yourself"
    )
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


class _Service:
    """A child process with its log in ``directory``; started on a free port, retried on another
    when the bind fails. Subclasses say how to start it and how to tell it answers."""

    name = "service"
    start_timeout = START_TIMEOUT

    def __init__(self, directory: Path | None) -> None:
        self._own: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:  # removed by close(), not before
            self._own = tempfile.TemporaryDirectory(prefix=f"chinwag-{self.name}-")
            directory = Path(self._own.name)
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.host = HOST
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # What a subclass provides.

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _answers(self) -> bool:
        """One quick probe: does *our* process answer on ``self.port``?"""
        raise NotImplementedError

    # Life.

    def start(self) -> Self:
        """Start on a free port (retried on a collision); return once it answers."""
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port(self.host)
            if self._launch():
                return self
            if "Address already in use" not in self.log():
                break
        log = self.log()
        self.close()
        raise AssertionError(f"{self.name} did not start:\n{log}")

    def _launch(self) -> bool:
        """Start the process on ``self.port``; True once it answers, False if it exited or did
        not answer in time (then it is killed)."""
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in _reap)
        self._log_file.write(f"== {self.name} on port {self.port}\n".encode())
        self._log_file.flush()
        self.process = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            start_new_session=True,  # a Ctrl-C meant for pytest is not theirs
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._reap()
                return False
            if self._answers():
                return True
            time.sleep(0.01)
        self.kill()
        return False

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    def log(self) -> str:
        """What the program wrote so far (every start in this folder), for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self._reap()

    def stop(self) -> None:
        """SIGTERM, a clean shutdown (killed if it takes longer than ``STOP_TIMEOUT``)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
            self._reap()

    def _reap(self) -> None:
        if self.process is not None:
            self.process.wait()
            self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def close(self) -> None:
        """Stop it, and remove its folder if this object made it."""
        self.stop()
        if self._own is not None:
            self._own.cleanup()
            self._own = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RedisServer(_Service):
    """``redis-server`` on a free port, its data (AOF, ``appendfsync everysec``, no RDB
    snapshots) in ``directory``: the persistence the design asks of a production Redis, so a
    :meth:`kill` and :meth:`restart` show what a crash really loses. A SIGKILL loses no write
    Redis answered, as a rule: Redis hands the AOF its writes before it answers, and only the
    fsync waits (up to a second); the OS keeps what was written. The exception is an fsync so
    slow that Redis holds writes back (up to 2 s), and a machine crash loses that second."""

    name = "redis"

    def __init__(self, directory: Path | None = None) -> None:
        self.binary = program("redis-server", "redis-server")
        super().__init__(directory)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def version(self) -> tuple[int, ...]:
        """The server's version, e.g. ``(7, 0, 15)`` (``WAITAOF`` needs 7.2)."""
        out = subprocess.run(
            [self.binary, "--version"], capture_output=True, text=True, check=True
        ).stdout
        text = out.split("v=", 1)[1].split()[0]
        return tuple(int(part) for part in text.split("."))

    def restart(self) -> None:
        """Stop it if it runs (SIGTERM), then start it again on the same port and folder, so
        clients reconnect to the same URL and find what the AOF kept."""
        self.stop()
        if not self._launch():
            raise AssertionError(f"redis did not restart on port {self.port}:\n{self.log()}")

    def _command(self) -> list[str]:
        return [
            self.binary,
            *("--port", str(self.port), "--bind", self.host),
            *("--dir", str(self.directory), "--daemonize", "no"),
            *("--save", "", "--appendonly", "yes", "--appendfsync", "everysec"),
            *("--logfile", "", "--loglevel", "notice"),
        ]

    def _answers(self) -> bool:
        """PING answered PONG (not ``-LOADING`` while the AOF is replayed) by this very process
        (``INFO server`` names its pid): not a stranger that took the port first."""
        assert self.process is not None
        expected = f"process_id:{self.process.pid}\r\n".encode()
        try:
            with socket.create_connection((self.host, self.port), timeout=PROBE_TIMEOUT) as sock:
                sock.sendall(b"PING\r\nINFO server\r\n")
                reply = b""
                while expected not in reply:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return False
                    reply += chunk
        except OSError:
            return False
        return reply.startswith(b"+PONG\r\n")


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen {host}:{port}{tls};
{certificate}
        location = /.ready {{ return 200 "{token}"; }}
        location {path} {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
    }}
}}
"""


class Nginx(_Service):
    """``nginx`` as a WebSocket reverse proxy on a free port: ``path`` (``/chinwag``) goes to
    ``upstream`` (``HOST:PORT``) with the upgrade headers and ``X-Forwarded-For``, as an
    operator would put it in front of registries. One process (``master_process off``), so a
    signal reaches the process that holds the sockets. With ``tls`` it serves ``wss://`` with a
    self-signed certificate for 127.0.0.1 and localhost (:attr:`certificate`: give it to clients
    as ``SSL_CERT_FILE`` or through :meth:`client_context`)."""

    name = "nginx"

    def __init__(
        self,
        upstream: str,
        directory: Path | None = None,
        *,
        tls: bool = False,
        path: str = "/chinwag",
    ) -> None:
        self.binary = program("nginx", "nginx")
        super().__init__(directory)
        self.upstream = upstream
        self.tls = tls
        self.path = path
        self.token = os.urandom(8).hex()  # tells our nginx from another program on the port
        self.certificate: Path | None = None
        self._key: Path | None = None
        if tls:
            self.certificate, self._key = self_signed(self.directory)

    @property
    def url(self) -> str:
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{self.host}:{self.port}{self.path}"

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this proxy's certificate (only with ``tls``)."""
        assert self.certificate is not None, "Nginx(tls=True) has a certificate"
        return ssl.create_default_context(cafile=str(self.certificate))

    def _command(self) -> list[str]:
        conf = self.directory / "nginx.conf"
        tls = " ssl" if self.tls else ""
        certificate = ""
        if self.certificate is not None:
            certificate = (
                f"        ssl_certificate {self.certificate};\n"
                f"        ssl_certificate_key {self._key};"
            )
        conf.write_text(
            NGINX_CONF.format(
                dir=self.directory,
                host=self.host,
                port=self.port,
                tls=tls,
                certificate=certificate,
                token=self.token,
                path=self.path,
                upstream=self.upstream,
            )
        )
        # -e: the log of the first moments too, before it has read the configuration (else
        # /var/log/nginx/error.log, not writable by everyone).
        return [self.binary, "-p", f"{self.directory}/", "-c", str(conf), "-e", str(self.log_path)]

    def _answers(self) -> bool:
        """``GET /.ready`` answered with this instance's token (an unclean TLS close after
        the answer does not matter)."""
        reply = b""
        with contextlib.suppress(OSError), contextlib.ExitStack() as stack:  # SSLError is one
            sock = stack.enter_context(
                socket.create_connection((self.host, self.port), timeout=PROBE_TIMEOUT)
            )
            if self.tls:
                context = self.client_context()
                sock = stack.enter_context(context.wrap_socket(sock, server_hostname=self.host))
            sock.sendall(b"GET /.ready HTTP/1.0\r\nHost: localhost\r\n\r\n")
            while chunk := sock.recv(4096):
                reply += chunk
        return self.token.encode() in reply


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for ``127.0.0.1`` and ``localhost`` and its key, as PEM files in
    ``directory`` (valid for a day)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chinwag test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path
