"""Helpers for end-to-end tests: a hub-side MQTT client that publishes and collects acks, a TCP
proxy that can cut the database link, and polling with a deadline (waiting for a condition, never
asserting on elapsed time)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from carehub.local_services import free_port


def wait_until(condition: Callable[[], object], timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


class HubClient:
    """Publishes as a hub (client id and username = hub id) and records the acks it receives."""

    def __init__(self, port: int, topic_root: str, hub_id: str, password: str | None = None) -> None:
        self.hub_id = hub_id
        self.topic = f"{topic_root}/hub/{hub_id}/up/readings"
        self.ack_topic = f"{topic_root}/hub/{hub_id}/down/readings/ack"
        self.acks: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=hub_id, protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(hub_id, password)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 2)
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        self._client.connect(host="127.0.0.1", port=port, clean_start=False, properties=props)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError(f"hub {hub_id} could not subscribe to its acks")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe(self.ack_topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.acks.append(json.loads(message.payload))

    def publish(self, payload: bytes, topic: str | None = None, timeout_s: float = 30.0) -> None:
        info = self._client.publish(topic or self.topic, payload, qos=1)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise AssertionError("the broker did not acknowledge the publish")

    def acks_for(self, batch_id: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return [a for a in self.acks if a.get("batch_id") == batch_id]

    def wait_ack(self, batch_id: str | None, timeout_s: float = 30.0) -> dict[str, Any]:
        wait_until(lambda: self.acks_for(batch_id), timeout_s, f"ack of batch {batch_id}")
        return self.acks_for(batch_id)[0]

    def acknowledged_ids(self) -> set[str]:
        with self._lock:
            ids: set[str] = set()
            for ack in self.acks:
                ids.update(ack.get("accepted", []))
                ids.update(ack.get("duplicate", []))
                ids.update(r["reading_id"] for r in ack.get("rejected", []))
            return ids

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a PostgreSQL server; ``cut()`` drops every connection and
    refuses new ones (the database is unreachable), ``restore()`` accepts again."""

    def __init__(self, database_url: str) -> None:
        params = conninfo_to_dict(database_url)
        host = str(params.get("host") or "localhost")
        port = int(str(params.get("port") or 5432))
        self._target: Any = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)
        self.port = free_port()
        self.url = make_conninfo(database_url, host="127.0.0.1", port=str(self.port))
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def _open_target(self) -> socket.socket:
        if isinstance(self._target, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self._target)
            return sock
        return socket.create_connection(self._target)

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = self._open_target()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the socket
            # listening while that thread holds it.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.cut()
