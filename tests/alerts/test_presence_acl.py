"""The presence consumer against the production broker config and ACL (deploy/mosquitto/acl): user
carehub-scheduler may take every hub's up/status and up/events through its shared subscription, and
a hub cannot speak for another hub's presence."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from alerts.presence import PresenceConsumer
from carehub.local_services import PRODUCTION_MOSQUITTO_ACL, MosquittoBroker
from core.db import connect
from core.topics import Topics
from tests.ingest.conftest import World
from tests.pipeline import wait_until

NOW = datetime.now(UTC)
CREDS = {"hub-0001": "pw-1", "hub-0002": "pw-2", "carehub-scheduler": "pw-scheduler"}


def test_scheduler_reads_presence_under_the_production_acl(
    private_broker: Callable[..., MosquittoBroker], database_url: str, db: psycopg.Connection[Any], world: World
) -> None:
    broker = private_broker(credentials=CREDS, acl_file=PRODUCTION_MOSQUITTO_ACL)
    consumer = PresenceConsumer(
        Topics("carehub/v1"),
        host="127.0.0.1",
        port=broker.port,
        client_id="scheduler-acl",
        group="scheduler",
        username="carehub-scheduler",
        password=CREDS["carehub-scheduler"],
        session_expiry_s=60,
    )
    consumer.start()
    hub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="hub-0001", protocol=mqtt.MQTTv5)
    hub.username_pw_set("hub-0001", CREDS["hub-0001"])
    connected = threading.Event()
    hub.on_connect = lambda *args: connected.set()
    hub.connect("127.0.0.1", broker.port)
    hub.loop_start()
    try:
        assert consumer.ready.wait(10)
        assert connected.wait(10)
        own = {"v": 1, "state": "online", "session": 4}
        hub.publish("carehub/v1/hub/hub-0001/up/status", json.dumps(own), qos=1).wait_for_publish(5)
        # Refused by the ACL; Mosquitto may also drop the connection of a hub that tries, so the
        # publish is not awaited: what matters is that it never reaches the consumer.
        forged = {"v": 1, "state": "lost", "session": 9}
        hub.publish("carehub/v1/hub/hub-0002/up/status", json.dumps(forged), qos=1)
        with connect(database_url, application_name="acl", autocommit=True) as conn:
            wait_until(lambda: consumer.process(conn, NOW, 0.1) > 0 or presence(db), 20, "hub-0001's status")
            consumer.process(conn, NOW, 0.5)
        assert db.execute("SELECT hub_id, state, session FROM hub_presence").fetchall() == [("hub-0001", "online", 4)]
    finally:
        hub.disconnect()
        hub.loop_stop()
        consumer.stop()


def presence(db: psycopg.Connection[Any]) -> bool:
    return db.execute("SELECT count(*) FROM hub_presence").fetchone() == (1,)
