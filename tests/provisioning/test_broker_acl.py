"""The production broker config, ACL and generated password file on a real Mosquitto: a hub talks
only inside its own subtree, ingest reads every hub's readings and writes their acks, a wrong
password is refused, and a revoked hub cannot connect."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from carehub.local_services import PRODUCTION_MOSQUITTO_ACL, MosquittoBroker
from provisioning.broker_credentials import password_entry

CREDS = {"hub-aaaa": "pw-a", "hub-bbbb": "pw-b", "carehub-ingest": "pw-ingest"}


class Client:
    def __init__(self, port: int, username: str, password: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.refused: object = None
        self.c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5)
        self.c.username_pw_set(username, password)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda client, userdata, m: self.messages.append((m.topic, m.payload))
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            self.refused = rc
        self.connected.set()

    def subscribe(self, topic: str) -> list[Any]:
        done = threading.Event()
        codes: list[Any] = []

        def on_subscribe(client: Any, userdata: Any, mid: int, reason_codes: list[Any], props: Any) -> None:
            codes.extend(reason_codes)
            done.set()

        self.c.on_subscribe = on_subscribe
        self.c.subscribe(topic, options=SubscribeOptions(qos=1))
        assert done.wait(5)
        return codes

    def publish(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        info = self.c.publish(topic, payload, qos=1)
        info.wait_for_publish(5)
        return info

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def acl_broker(private_broker: Callable[..., MosquittoBroker]) -> MosquittoBroker:
    return private_broker(credentials=CREDS, acl_file=PRODUCTION_MOSQUITTO_ACL)


def connect(broker: MosquittoBroker, user: str, password: str | None = None) -> Client:
    client = Client(broker.port, user, password or CREDS[user])
    assert client.connected.wait(5)
    return client


def wait_for(predicate: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    event = threading.Event()
    for _ in range(int(timeout_s / 0.05)):
        if predicate():
            return True
        event.wait(0.05)
    return predicate()


def test_hub_publishes_own_readings_and_ingest_receives_them_shared(acl_broker: MosquittoBroker) -> None:
    ingest = connect(acl_broker, "carehub-ingest")
    hub_a = connect(acl_broker, "hub-aaaa")
    try:
        assert not ingest.subscribe("$share/ingest/carehub/v1/hub/+/up/readings")[0].is_failure
        hub_a.publish("carehub/v1/hub/hub-aaaa/up/readings", b"own")
        hub_a.publish("carehub/v1/hub/hub-bbbb/up/readings", b"forged")
        assert wait_for(lambda: len(ingest.messages) >= 1)
        assert not wait_for(lambda: len(ingest.messages) >= 2, 1.0)
        assert ingest.messages == [("carehub/v1/hub/hub-aaaa/up/readings", b"own")]
    finally:
        ingest.close()
        hub_a.close()


def test_hub_cannot_read_another_hubs_down_topics(acl_broker: MosquittoBroker) -> None:
    ingest = connect(acl_broker, "carehub-ingest")
    hub_a = connect(acl_broker, "hub-aaaa")
    hub_b = connect(acl_broker, "hub-bbbb")
    try:
        # Mosquitto 2.0 grants the subscription and enforces read access on every delivery.
        hub_a.subscribe("carehub/v1/hub/hub-bbbb/down/#")
        assert not hub_b.subscribe("carehub/v1/hub/hub-bbbb/down/#")[0].is_failure
        ingest.publish("carehub/v1/hub/hub-bbbb/down/readings/ack", b"ack-for-b")
        assert wait_for(lambda: len(hub_b.messages) == 1)
        assert hub_a.messages == []
        # ingest may write acks but not configuration
        ingest.publish("carehub/v1/hub/hub-bbbb/down/config/desired", b"{}")
        assert not wait_for(lambda: len(hub_b.messages) == 2, 1.0)
    finally:
        for c in (ingest, hub_a, hub_b):
            c.close()


def test_wrong_password_and_revoked_hub_are_refused(acl_broker: MosquittoBroker) -> None:
    wrong = Client(acl_broker.port, "hub-aaaa", "not-the-password")
    assert wrong.connected.wait(5)
    assert wrong.refused is not None
    wrong.close()
    acl_broker.reload_credentials({k: v for k, v in CREDS.items() if k != "hub-bbbb"})
    assert wait_for(lambda: _refused(acl_broker, "hub-bbbb"), 5.0)
    still = connect(acl_broker, "hub-aaaa")
    assert still.refused is None
    still.close()


def _refused(broker: MosquittoBroker, user: str) -> bool:
    client = Client(broker.port, user, CREDS[user])
    client.connected.wait(5)
    refused = client.refused is not None
    client.close()
    return refused


def test_password_entry_format_matches_mosquitto_passwd() -> None:
    # PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt: $7$101$<b64 salt>$<b64 hash>
    entry = password_entry("hub-aaaa", "pw-a", salt=bytes(range(12)))
    assert entry == (
        "hub-aaaa:$7$101$AAECAwQFBgcICQoL$"
        + __import__("base64")
        .b64encode(__import__("hashlib").pbkdf2_hmac("sha512", b"pw-a", bytes(range(12)), 101, dklen=64))
        .decode()
    )
