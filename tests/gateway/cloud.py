"""The cloud side of a hub's control plane for tests: publishes desired config and commands as
provisioning would, and collects everything the hub publishes under its ``up/`` tree."""

from __future__ import annotations

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.topics import HubTopic, Topics


class Watcher:
    """Plays the cloud side of the control plane: publishes desired config and commands, collects
    what the hub publishes under its up/ tree."""

    def __init__(self, port: int, topic_root: str, hub_id: str) -> None:
        self.hub_id = hub_id
        self.topics = Topics(topic_root)
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"{topic_root}/hub/{self.hub_id}/up/#", qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic.rsplit(f"{self.hub_id}/", 1)[1], json.loads(message.payload)))

    def of(self, suffix: HubTopic) -> list[dict[str, Any]]:
        with self._lock:
            return [m for t, m in self.messages if t == suffix.value]

    def publish(self, suffix: HubTopic, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(self.topics.hub(self.hub_id, suffix), payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        """Every event the hub published (of one type)."""
        return [e for m in self.of(HubTopic.EVENTS) for e in m["events"] if type_ is None or e["type"] == type_]


def publish_desired(port: int, topic_root: str, hub_id: str, payload: bytes) -> None:
    """What provisioning does: the retained desired config on the hub's down/config/desired."""
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        topic = Topics(topic_root).hub(hub_id, HubTopic.CONFIG_DESIRED)
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
