"""Health and metrics over HTTP for every carehub service.

- ``GET /healthz``: the process is alive (200).
- ``GET /readyz``: every readiness check passes (200), otherwise 503 with the failing checks, as JSON.
- ``GET /metrics``: Prometheus text exposition of the service's own registry.

Runs on a daemon thread with the standard library's HTTP server; the service owns it and stops it."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)


class HealthServer:
    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        checks: Mapping[str, Callable[[], bool]],
    ) -> None:
        self._registry = registry
        self._checks = dict(checks)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    self._send(200, "application/json", b'{"status":"ok"}')
                elif self.path == "/readyz":
                    results = server.check()
                    ok = all(results.values())
                    body = json.dumps({"status": "ready" if ok else "not_ready", "checks": results}).encode()
                    self._send(200 if ok else 503, "application/json", body)
                elif self.path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(server._registry))
                else:
                    self._send(404, "application/json", b'{"status":"not_found"}')

            def _send(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # probes every few seconds would drown the service's own log lines

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="health-http", daemon=True)

    @property
    def port(self) -> int:
        port: int = self._httpd.server_address[1]
        return port

    def check(self) -> dict[str, bool]:
        results = {}
        for name, probe in self._checks.items():
            try:
                results[name] = bool(probe())
            except Exception:  # a failing probe means "not ready", never a crashed health endpoint
                logger.exception("readiness check %s raised", name)
                results[name] = False
        return results

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
