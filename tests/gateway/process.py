"""``carehub gateway run`` as a child process the tests can SIGKILL, and a reader of its outbox file."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from carehub.local_services import free_port
from gateway.agent import OUTBOX_FILE


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    @classmethod
    def start(
        cls,
        *,
        hub_id: str,
        mqtt_port: int,
        topic_root: str,
        data_dir: Path,
        simulated_home: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> GatewayProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAREHUB_")}
        env.update(
            {
                "CAREHUB_MQTT_PORT": str(mqtt_port),
                "CAREHUB_MQTT_USERNAME": hub_id,
                "CAREHUB_MQTT_TOPIC_ROOT": topic_root,
                "CAREHUB_MQTT_RECONNECT_MIN_S": "0.1",
                "CAREHUB_MQTT_RECONNECT_MAX_S": "1",
                "CAREHUB_GATEWAY_DATA_DIR": str(data_dir),
                "CAREHUB_HEALTH_PORT": str(free_port()),
                "CAREHUB_LOG_FORMAT": "json",
            }
        )
        env.update(extra_env or {})
        data_dir.mkdir(parents=True, exist_ok=True)
        log_path = data_dir / "gateway.log"
        argv = [sys.executable, "-m", "carehub", "gateway", "run"]
        if simulated_home is not None:
            argv += ["--simulated-home", str(simulated_home)]
        with log_path.open("ab") as log:
            process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        return cls(process, data_dir, log_path)

    def kill(self) -> None:
        """SIGKILL: a power cut as far as the process can tell."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def outbox_counts(data_dir: Path) -> tuple[int, int]:
    """(unacknowledged, all) readings in a gateway's outbox file, read without disturbing the writer."""
    path = data_dir / OUTBOX_FILE
    if not path.exists():
        return (0, 0)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        pending, total = conn.execute(
            "SELECT count(*) FILTER (WHERE acked_at IS NULL), count(*) FROM readings"
        ).fetchone()
        return int(pending), int(total)
    except sqlite3.OperationalError:
        return (0, 0)
    finally:
        conn.close()
