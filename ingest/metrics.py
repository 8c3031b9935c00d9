"""Prometheus metrics of one ingest process, on its own registry (no global state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class IngestMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.messages_received = Counter(
            "carehub_ingest_messages_received", "MQTT reading messages received", registry=r
        )
        self.readings_received = Counter(
            "carehub_ingest_readings_received", "Readings received (in parsable messages)", registry=r
        )
        self.readings_stored = Counter(
            "carehub_ingest_readings_stored", "Readings stored for the first time", registry=r
        )
        self.rows_stored = Counter("carehub_ingest_rows_stored", "Observation rows inserted", registry=r)
        self.readings_duplicate = Counter(
            "carehub_ingest_readings_duplicate", "Readings already stored (resends, replays)", registry=r
        )
        self.dead_letters = Counter(
            "carehub_ingest_dead_letters", "Readings or messages dead-lettered, by reason", ["reason"], registry=r
        )
        self.batches = Counter("carehub_ingest_batches", "Batches committed", registry=r)
        self.batch_latency = Histogram(
            "carehub_ingest_batch_latency_seconds",
            "From the first message of a batch received to its commit",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.batch_messages = Histogram(
            "carehub_ingest_batch_messages",
            "Messages per committed batch",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
            registry=r,
        )
        self.storage_retries = Counter(
            "carehub_ingest_storage_retries", "Batch attempts that failed on the database and were retried", registry=r
        )
        self.writer_failures = Counter(
            "carehub_ingest_writer_failures", "Writer threads that died unexpectedly and were restarted", registry=r
        )
        self.mqtt_connected = Gauge("carehub_ingest_mqtt_connected", "1 while connected to the broker", registry=r)
        self.database_up = Gauge("carehub_ingest_database_up", "1 while the last database call worked", registry=r)
        self.inbox = Gauge("carehub_ingest_inbox_messages", "Messages received and not yet committed", registry=r)
