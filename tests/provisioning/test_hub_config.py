"""Hub configuration: the outbox turns every committed assignment change into a strictly higher
retained ``down/config/desired`` version; the service records ``up/config/reported``; and, against a
private Mosquitto with the generated password file and ACL, hubs stay inside their own subtree and
a revoked hub cannot connect."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from uuid import UUID

import pytest

from carehub.local_services import PRODUCTION_MOSQUITTO_ACL, MosquittoBroker
from core.domain import DeviceKind
from core.hub_messages import HubConfig, ReportedConfig, parse_message
from provisioning import hub_config, hub_credentials, inventory, registry, replacement, shipping
from provisioning.broker_acl import render_acl
from provisioning.config_service import ConfigService, ProvisioningSettings
from provisioning.custody import CustodyAction
from provisioning.inventory import device_spec
from tests.pipeline import wait_until
from tests.provisioning.conftest import NOW, Clinic, Conn, rpm_ready_patient
from tests.provisioning.test_broker_acl import Client, wait_for

SERVICES = {"carehub-provisioning": "pw-prov", "carehub-ingest": "pw-ingest"}


def add_units(db: Conn, clinic: Clinic, *serials: str) -> None:
    for n, serial in enumerate(serials):
        model = clinic.cuff_model if serial.startswith("BP") else clinic.scale_model
        inventory.register_device(
            db,
            practice_id=clinic.practice_id,
            spec=device_spec(serial=serial, model=model, ble_address=f"A4:C1:38:0F:{len(serial):02X}:{n:02X}"),
        )


def assign(db: Conn, clinic: Clinic, serial: str, patient: UUID, hub_id: str) -> None:
    shipping.assign_device(db, serial=serial, patient_id=patient, at=NOW, actor_id=clinic.logistics, hub_id=hub_id)


def run_service(settings: ProvisioningSettings) -> Iterator[ConfigService]:
    service = ConfigService(settings)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), name="config-service")
    thread.start()
    try:
        yield service
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive()


@pytest.fixture
def anonymous_service(database_url: str, broker: MosquittoBroker, topic_root: str) -> Iterator[ConfigService]:
    settings = ProvisioningSettings(
        database_url=database_url,
        mqtt_port=broker.port,
        mqtt_topic_root=topic_root,
        provisioning_poll_interval_s=0.05,
        provisioning_client_id="prov-test",
    )
    yield from run_service(settings)


def test_outbox_versions_increase_and_only_the_newest_is_published(db: Conn, clinic: Clinic) -> None:
    registry.create_hub(db, practice_id=clinic.practice_id, hub_id="hub-cfg-1", serial="H1")
    add_units(db, clinic, "BP-C1", "SC-C1")
    patient = rpm_ready_patient(db, clinic)
    shipping.assign_device(
        db, serial="BP-C1", patient_id=patient, at=NOW, actor_id=clinic.logistics, hub_id="hub-cfg-1"
    )
    assert hub_config.materialise_pending(db, NOW) == [("hub-cfg-1", 1)]
    assert hub_config.materialise_pending(db, NOW) == []  # nothing changed since
    shipping.assign_device(
        db, serial="SC-C1", patient_id=patient, at=NOW, actor_id=clinic.logistics, hub_id="hub-cfg-1"
    )
    assert hub_config.materialise_pending(db, NOW) == [("hub-cfg-1", 2)]
    pending = hub_config.unpublished(db)
    assert [(e.hub_id, e.version) for e in pending] == [("hub-cfg-1", 2)]  # version 1 was superseded
    config = parse_message(HubConfig, pending[0].payload)
    assert [(w.serial, w.kind) for w in config.whitelist] == [
        ("BP-C1", DeviceKind.BP_CUFF),
        ("SC-C1", DeviceKind.SCALE),
    ]
    assert all(w.address is not None and w.model for w in config.whitelist)
    hub_config.mark_published(db, pending[0], NOW)
    assert hub_config.unpublished(db) == []
    # a unit lost in transit leaves the whitelist at once
    device = registry.device_by_serial(db, "SC-C1")
    label = {"carrier": "ups", "tracking_number": "1Z5R89390357567127"}
    inventory.transition(db, device.id, CustodyAction.CREATE_LABEL, at=NOW, actor_id=clinic.logistics, evidence=label)
    scan = {"carrier_event_id": "e1"}
    inventory.transition(db, device.id, CustodyAction.CARRIER_SCAN, at=NOW, actor_id=clinic.logistics, evidence=scan)
    replacement.report_lost(
        db, serial="SC-C1", reason="lost_at_home", at=NOW + timedelta(hours=1), actor_id=clinic.logistics
    )
    hub_config.materialise_pending(db, NOW + timedelta(hours=1))
    latest = parse_message(HubConfig, hub_config.unpublished(db)[0].payload)
    assert (latest.version, [w.serial for w in latest.whitelist]) == (3, ["BP-C1"])
    (status,) = hub_config.config_status(db, "hub-cfg-1")
    assert (status.desired_version, status.published_version, status.reported_version) == (3, 2, None)


def test_service_publishes_retained_configs_and_records_reports(
    db: Conn, clinic: Clinic, broker: MosquittoBroker, topic_root: str, anonymous_service: ConfigService
) -> None:
    registry.create_hub(db, practice_id=clinic.practice_id, hub_id="hub-cfg-2", serial="H2")
    add_units(db, clinic, "BP-D1", "SC-D1")
    patient = rpm_ready_patient(db, clinic)
    desired = f"{topic_root}/hub/hub-cfg-2/down/config/desired"
    hub = Client(broker.port, "hub-cfg-2", "")
    try:
        assert hub.connected.wait(5)
        hub.subscribe(desired)
        shipping.assign_device(
            db, serial="BP-D1", patient_id=patient, at=NOW, actor_id=clinic.logistics, hub_id="hub-cfg-2"
        )
        wait_until(lambda: len(hub.messages) >= 1, 15, "desired config v1")
        shipping.assign_device(
            db, serial="SC-D1", patient_id=patient, at=NOW, actor_id=clinic.logistics, hub_id="hub-cfg-2"
        )
        wait_until(lambda: len(hub.messages) >= 2, 15, "desired config v2")
        versions = [parse_message(HubConfig, payload).version for _, payload in hub.messages]
        assert versions == [1, 2]
        # a hub reconnecting later gets the current config from the retained message
        late = Client(broker.port, "hub-cfg-2-late", "")
        assert late.connected.wait(5)
        late.subscribe(desired)
        wait_until(lambda: late.messages, 10, "retained config")
        assert parse_message(HubConfig, late.messages[0][1]).version == 2
        late.close()
        reported = ReportedConfig(version=2, applied_at=NOW).to_json()
        hub.c.publish(f"{topic_root}/hub/hub-cfg-2/up/config/reported", reported, qos=1, retain=True)
        wait_until(lambda: hub_config.config_status(db, "hub-cfg-2")[0].reported_version == 2, 15, "reported v2")
        (status,) = hub_config.config_status(db, "hub-cfg-2")
        assert status.in_sync
        assert status.published_version == 2
        bad = json.dumps({"v": 1, "version": 3, "applied_at": NOW.isoformat(), "errors": ["BP-D1: pairing failed"]})
        hub.c.publish(f"{topic_root}/hub/hub-cfg-2/up/config/reported", bad.encode(), qos=1, retain=True)
        wait_until(lambda: hub_config.config_status(db, "hub-cfg-2")[0].reported_errors, 15, "reported errors")
        assert not hub_config.config_status(db, "hub-cfg-2")[0].in_sync
        # A report that is not a ReportedConfig is kept as a dead letter with its reason, not dropped.
        garbage = b'{"v":1,"version":"four"}'
        hub.c.publish(f"{topic_root}/hub/hub-cfg-2/up/config/reported", garbage, qos=1, retain=True)
        dead = "SELECT hub_id, reason, payload FROM dead_letters WHERE reason = 'invalid_reported_config'"
        wait_until(lambda: db.execute(dead).fetchall(), 15, "invalid report dead-lettered")
        assert db.execute(dead).fetchall() == [("hub-cfg-2", "invalid_reported_config", garbage)]
        assert hub_config.config_status(db, "hub-cfg-2")[0].reported_errors  # the last valid report stands
    finally:
        hub.close()
    registry_ = anonymous_service.metrics.registry
    assert registry_.get_sample_value("carehub_provisioning_configs_published_total") == 2


def test_generated_acl_is_the_deployed_acl() -> None:
    assert render_acl() == PRODUCTION_MOSQUITTO_ACL.read_text()


def test_database_issued_identities_on_the_production_acl(
    db: Conn,
    database_url: str,
    clinic: Clinic,
    private_broker: Callable[..., MosquittoBroker],
) -> None:
    broker = private_broker(credentials=SERVICES, acl_file=PRODUCTION_MOSQUITTO_ACL)
    for hub_id in ("hub-acl-a", "hub-acl-b"):
        registry.create_hub(db, practice_id=clinic.practice_id, hub_id=hub_id, serial=f"S-{hub_id}")
    passwords = {h: hub_credentials.issue_hub_credentials(db, h, at=NOW) for h in ("hub-acl-a", "hub-acl-b")}
    assert hub_credentials.write_broker_password_file(db, broker.password_path, SERVICES) == 4
    assert oct(broker.password_path.stat().st_mode & 0o777) == "0o600"
    assert not any(pw in broker.password_path.read_text() for pw in passwords.values())
    broker.reload()
    wait_until(lambda: _can_connect(broker, "hub-acl-a", passwords["hub-acl-a"]), 10, "hub A accepted")

    add_units(db, clinic, "BP-E1", "BP-E2")
    patient_a = rpm_ready_patient(db, clinic, mrn="A")
    patient_b = rpm_ready_patient(db, clinic, mrn="B", mbi="2EG4TE5MK73")
    settings = ProvisioningSettings(
        database_url=database_url,
        mqtt_port=broker.port,
        mqtt_username="carehub-provisioning",
        mqtt_password="pw-prov",  # type: ignore[arg-type]
        provisioning_poll_interval_s=0.05,
    )
    service_run = run_service(settings)
    next(service_run)
    hub_a = Client(broker.port, "hub-acl-a", passwords["hub-acl-a"])
    hub_b = Client(broker.port, "hub-acl-b", passwords["hub-acl-b"])
    ingest = Client(broker.port, "carehub-ingest", "pw-ingest")
    try:
        for client in (hub_a, hub_b, ingest):
            assert client.connected.wait(5)
            assert client.refused is None
        hub_a.subscribe("carehub/v1/hub/hub-acl-a/down/#")
        hub_a.subscribe("carehub/v1/hub/hub-acl-b/down/config/desired")  # granted, but never delivered
        hub_b.subscribe("carehub/v1/hub/hub-acl-b/down/#")
        shipping.assign_device(
            db, serial="BP-E1", patient_id=patient_a, at=NOW, actor_id=clinic.logistics, hub_id="hub-acl-a"
        )
        shipping.assign_device(
            db, serial="BP-E2", patient_id=patient_b, at=NOW, actor_id=clinic.logistics, hub_id="hub-acl-b"
        )
        wait_until(lambda: hub_a.messages and hub_b.messages, 15, "both hubs' configs")
        assert not wait_for(lambda: len(hub_a.messages) > 1, 1.0)
        assert [parse_message(HubConfig, p).whitelist[0].serial for _, p in hub_a.messages] == ["BP-E1"]
        assert [parse_message(HubConfig, p).whitelist[0].serial for _, p in hub_b.messages] == ["BP-E2"]

        # readings: own subtree only
        ingest.subscribe("$share/ingest/carehub/v1/hub/+/up/readings")
        hub_a.publish("carehub/v1/hub/hub-acl-a/up/readings", b"own")
        hub_a.publish("carehub/v1/hub/hub-acl-b/up/readings", b"forged")
        wait_until(lambda: ingest.messages, 10, "hub A's own readings")
        assert not wait_for(lambda: len(ingest.messages) > 1, 1.0)
        assert ingest.messages == [("carehub/v1/hub/hub-acl-a/up/readings", b"own")]
        # a hub cannot write another hub's configuration either
        hub_a.publish("carehub/v1/hub/hub-acl-b/down/config/desired", b"{}")
        assert not wait_for(lambda: len(hub_b.messages) > 1, 1.0)
        # reported config flows to provisioning through the ACL
        hub_a.publish(
            "carehub/v1/hub/hub-acl-a/up/config/reported", ReportedConfig(version=1, applied_at=NOW).to_json()
        )
        wait_until(lambda: hub_config.config_status(db, "hub-acl-a")[0].reported_version == 1, 15, "reported")
    finally:
        for client in (hub_a, hub_b, ingest):
            client.close()
        next(service_run, None)

    # revoke A: after the password file is rewritten and reloaded, A is refused and B is not
    assert hub_credentials.revoke_hub(db, "hub-acl-a", at=NOW, reason="hub_returned") == 1
    hub_credentials.write_broker_password_file(db, broker.password_path, SERVICES)
    broker.reload()
    wait_until(lambda: not _can_connect(broker, "hub-acl-a", passwords["hub-acl-a"]), 10, "hub A refused")
    assert _can_connect(broker, "hub-acl-b", passwords["hub-acl-b"])


def _can_connect(broker: MosquittoBroker, user: str, password: str) -> bool:
    client = Client(broker.port, user, password)
    client.connected.wait(5)
    ok = client.refused is None
    client.close()
    return ok


def test_a_change_committed_while_the_broker_is_down_is_published_when_it_returns(
    db: Conn, database_url: str, clinic: Clinic, private_broker: Callable[..., MosquittoBroker]
) -> None:
    from carehub.local_services import free_port

    port = free_port()
    settings = ProvisioningSettings(
        database_url=database_url, mqtt_port=port, provisioning_poll_interval_s=0.05, mqtt_reconnect_min_s=0.5
    )
    registry.create_hub(db, practice_id=clinic.practice_id, hub_id="hub-down-1", serial="HD1")
    add_units(db, clinic, "BP-G1")
    patient = rpm_ready_patient(db, clinic)
    service_run = run_service(settings)
    service = next(service_run)
    try:
        assign(db, clinic, "BP-G1", patient, "hub-down-1")
        wait_until(lambda: hub_config.config_status(db, "hub-down-1"), 10, "version issued")
        assert not wait_for(lambda: not hub_config.unpublished(db), 1.0)  # nowhere to publish it
        assert service.health is not None
        assert service.health.check() == {"mqtt": False, "database": True}
        broker = private_broker(port=port)
        wait_until(lambda: not hub_config.unpublished(db), 30, "published after the broker came up")
        hub = Client(broker.port, "hub-down-1", "")
        try:
            assert hub.connected.wait(5)
            hub.subscribe("carehub/v1/hub/hub-down-1/down/config/desired")
            wait_until(lambda: hub.messages, 10, "retained config")
            assert parse_message(HubConfig, hub.messages[0][1]).version == 1
        finally:
            hub.close()
    finally:
        next(service_run, None)
