"""Prometheus metrics of one gateway (``GET /metrics`` on its health port), read from the parts'
own counters when scraped, so the hot paths carry no metrics code."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from gateway.agent import Gateway


def gateway_registry(gateway: Gateway) -> CollectorRegistry:
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, read: object) -> None:
        Gauge(name, doc, registry=registry).set_function(read)  # type: ignore[arg-type]

    stats = gateway.publisher.stats
    gauge("carehub_gateway_mqtt_connected", "1 while the MQTT session is up", gateway.link.connected.is_set)
    gauge("carehub_gateway_outbox_depth", "Readings not yet acknowledged by the cloud", gateway.outbox.depth)
    gauge(
        "carehub_gateway_readings_published", "Readings published (resends included)", lambda: stats.readings_published
    )
    gauge("carehub_gateway_readings_acknowledged", "Readings the cloud acknowledged", lambda: stats.acknowledged)
    gauge("carehub_gateway_batches_resent", "Batches resent after an ack timeout", lambda: stats.resent_batches)
    gauge("carehub_gateway_events_published", "Hub events published", lambda: gateway.events.published)
    gauge("carehub_gateway_device_sessions", "Device sessions in progress", lambda: gateway.devices.active)
    gauge(
        "carehub_gateway_device_sessions_failed", "Device sessions that failed", lambda: gateway.devices.sessions_failed
    )
    gauge(
        "carehub_gateway_advertisements_ignored",
        "Advertisements of non-whitelisted devices",
        lambda: gateway.scanner.ignored,
    )
    return registry
