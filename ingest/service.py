"""``carehub ingest``: the service loop that moves hub readings from MQTT into PostgreSQL exactly once.

For each batch (bounded by message count and by how long the first message may wait):
validate every message (pure), write the batch in one transaction (:mod:`ingest.writer`), commit,
then publish ``down/readings/ack`` to each hub and only then acknowledge each MQTT message.

Failure handling:
- database unreachable or the transaction interrupted: keep the batch, acknowledge nothing, retry
  with jittered exponential backoff (the broker holds further messages once Receive Maximum
  deliveries wait for an ack); never drop.
- the database refuses a batch (a poison input no retry will fix): split the batch until the
  offending message is alone, dead-letter that message whole, and store the rest.
- ingest killed at any point: nothing was acknowledged before its commit, so the broker redelivers,
  and the unique keys make the replay store nothing twice."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.health import HealthServer
from core.topics import HubTopic, Topics
from ingest.batch import BatchResult, DeadLetter, Delivery
from ingest.consumer import InboundMessage, MqttConsumer
from ingest.hooks import StoredReadingsHook
from ingest.metrics import IngestMetrics
from ingest.settings import IngestSettings
from ingest.validation import ParsedMessage, RejectReason, ValidationLimits, parse_readings_message, payload_digest
from ingest.wire import ReadingsAck, RejectedId
from ingest.writer import ReadingWriter, StorageRejected, StorageUnavailable

logger = logging.getLogger(__name__)

PARTITIONS_BACK = timedelta(days=35)
PARTITIONS_AHEAD = timedelta(days=62)


def utc_now() -> datetime:
    return datetime.now(UTC)


def backoff_s(attempt: int, *, minimum: float, maximum: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [minimum, min(maximum, minimum * 2**attempt)]."""
    ceiling = min(maximum, minimum * (2 ** min(attempt, 30)))
    return rng.uniform(minimum, max(minimum, ceiling))


def _merge(results: Sequence[BatchResult]) -> BatchResult:
    return BatchResult(
        acks=[a for r in results for a in r.acks],
        dead_letters=[d for r in results for d in r.dead_letters],
        accepted=sum(r.accepted for r in results),
        duplicates=sum(r.duplicates for r in results),
        rejected=sum(r.rejected for r in results),
        rows_stored=sum(r.rows_stored for r in results),
    )


@dataclass
class _Outage:
    started: float
    attempts: int = 0


class IngestService:
    def __init__(
        self,
        settings: IngestSettings,
        *,
        metrics: IngestMetrics | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        hooks: Sequence[StoredReadingsHook] = (),
    ) -> None:
        self._settings = settings
        self._hooks = tuple(hooks)
        self._metrics = metrics or IngestMetrics()
        self._clock = clock
        self._monotonic = monotonic
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._topics = Topics(settings.mqtt_topic_root)
        self._limits = ValidationLimits(
            max_message_bytes=settings.ingest_max_message_bytes,
            max_readings_per_message=settings.ingest_max_readings_per_message,
            max_future_skew=timedelta(seconds=settings.ingest_max_future_skew_s),
            max_reading_age=timedelta(days=settings.ingest_max_reading_age_days),
        )
        self._inbox: queue.Queue[InboundMessage] = queue.Queue(maxsize=settings.ingest_inbox_max_messages)
        self._writers = [self._new_writer(f"w{i}") for i in range(settings.ingest_writers)]
        self._maintenance = self._new_writer("maintenance")
        self._consumer = MqttConsumer(
            settings, self._metrics, self._inbox, parse=self._parse, clock=clock, monotonic=monotonic
        )
        self._database_ok = False
        self._database_lock = threading.Lock()
        self._busy_writers = 0  # writers between taking a batch and settling it
        self._busy_lock = threading.Lock()
        self._outage: _Outage | None = None
        self._next_partition_check = 0.0
        self.health: HealthServer | None = None

    @property
    def metrics(self) -> IngestMetrics:
        return self._metrics

    def _new_writer(self, role: str) -> ReadingWriter:
        return ReadingWriter(
            self._settings.database_url,
            application_name=f"carehub-ingest-{self._settings.ingest_worker_id}-{role}",
            connect_timeout_s=self._settings.db_connect_timeout_s,
            statement_timeout_s=self._settings.db_statement_timeout_s,
            hooks=self._hooks,
        )

    def _parse(self, topic: str, payload: bytes, received_at: datetime) -> ParsedMessage:
        return parse_readings_message(self._topics, topic, payload, now=received_at, limits=self._limits)

    # lifecycle ---------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set, then finish the batch in hand and disconnect."""
        self.health = HealthServer(
            self._settings.health_host,
            self._settings.health_port,
            self._metrics.registry,
            {"mqtt": lambda: self._consumer.ready, "database": lambda: self._database_ok},
        )
        self.health.start()
        logger.info(
            "ingest starting",
            extra={
                "worker_id": self._settings.ingest_worker_id,
                "subscription": self._consumer.subscription,
                "health_port": self.health.port,
            },
        )
        self._consumer.start()
        supervisor = WriterSupervisor(self, stop)
        try:
            supervisor.start()
            while not stop.wait(1.0):
                self._periodic()
                supervisor.check()
            supervisor.join()
            # Finish what already arrived (it is unacknowledged; storing it now saves a redelivery).
            leftover = self._drain_nowait()
            if leftover:
                self._process(self._writers[0], leftover, stop, final=True)
        finally:
            self._consumer.stop()
            for writer in (*self._writers, self._maintenance):
                writer.close()
            self.health.stop()
            logger.info("ingest stopped")

    def writer_loop(self, writer: ReadingWriter, stop: threading.Event) -> None:
        """One writer: take a batch from the shared inbox, commit it, acknowledge it; repeat.
        Several writers overlap their database round trips (one commits while the next stages)."""
        while not stop.is_set():
            batch = self._collect(stop)
            if batch:
                with self._busy_lock:
                    self._busy_writers += 1
                try:
                    self._process(writer, batch, stop)
                finally:
                    with self._busy_lock:
                        self._busy_writers -= 1

    def recover_unacknowledged(self) -> None:
        """After a writer failed with batches in hand, make the broker redeliver them: they were
        never acknowledged, and a reconnect resumes the session and resends them."""
        self._consumer.reconnect()

    def _periodic(self) -> None:
        now = self._monotonic()
        if now < self._next_partition_check:
            return
        try:
            created = self._maintenance.ensure_partitions(self._clock(), back=PARTITIONS_BACK, ahead=PARTITIONS_AHEAD)
        except (StorageUnavailable, StorageRejected) as exc:
            self._set_database(ok=False, reason=str(exc))
            self._next_partition_check = now + 5.0
            return
        self._set_database(ok=True)
        if created:
            logger.info("created reading partitions", extra={"created": created})
        self._next_partition_check = now + self._settings.ingest_partition_check_interval_s

    # batching ----------------------------------------------------------------------------------

    def _drain_nowait(self, into: list[InboundMessage] | None = None, limit: int | None = None) -> list[InboundMessage]:
        batch = into if into is not None else []
        cap = limit if limit is not None else self._settings.ingest_batch_max_messages
        while len(batch) < cap:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _collect(self, stop: threading.Event) -> list[InboundMessage]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        cap = self._settings.ingest_batch_max_messages
        deadline = first.received_monotonic + self._settings.ingest_batch_max_wait_s
        close_when_idle = self._settings.ingest_batch_close_when_idle
        while len(batch) < cap:
            self._drain_nowait(batch, cap)
            remaining = deadline - self._monotonic()
            if len(batch) >= cap or remaining <= 0 or stop.is_set():
                break
            # The inbox is empty. Waiting pays only while another writer holds the database: the
            # next batch then fills meanwhile. With every writer idle it would only add latency
            # (a reading's alert waits for this commit).
            if close_when_idle and self._busy_writers == 0:
                break
            try:
                batch.append(self._inbox.get(timeout=remaining))
            except queue.Empty:
                break
        self._metrics.inbox.set(self._inbox.qsize())
        return batch

    # one batch ---------------------------------------------------------------------------------

    def _process(
        self, writer: ReadingWriter, batch: list[InboundMessage], stop: threading.Event, *, final: bool = False
    ) -> None:
        parsed = [m.parsed for m in batch]
        deliveries = [Delivery(m.topic, m.payload, m.received_at) for m in batch]
        result = self._write_until_committed(writer, parsed, deliveries, stop, final=final)
        if result is None:
            return  # stopping during an outage: nothing acknowledged, the broker redelivers later
        self._publish_acks(batch, parsed, result)
        self._count(batch, parsed, result)

    def _write_until_committed(
        self,
        writer: ReadingWriter,
        parsed: list[ParsedMessage],
        deliveries: list[Delivery],
        stop: threading.Event,
        *,
        final: bool,
    ) -> BatchResult | None:
        attempt = 0
        while True:
            try:
                result = self._write_isolating(writer, parsed, deliveries)
            except StorageUnavailable as exc:
                attempt += 1
                self._metrics.storage_retries.inc()
                self._set_database(ok=False, reason=str(exc), held=len(parsed))
                if stop.is_set() and (final or attempt >= 3):
                    logger.warning(
                        "stopping with an uncommitted batch; it stays unacknowledged and will be redelivered",
                        extra={"messages": len(parsed)},
                    )
                    return None
                delay = backoff_s(
                    attempt,
                    minimum=self._settings.ingest_retry_min_s,
                    maximum=self._settings.ingest_retry_max_s,
                    rng=self._rng,
                )
                stop.wait(delay)
                continue
            self._set_database(ok=True)
            return result

    def _write_isolating(
        self, writer: ReadingWriter, parsed: list[ParsedMessage], deliveries: list[Delivery]
    ) -> BatchResult:
        try:
            return writer.write(parsed, deliveries)
        except StorageRejected as exc:
            if len(parsed) > 1:
                half = len(parsed) // 2
                return _merge(
                    [
                        self._write_isolating(writer, parsed[:half], deliveries[:half]),
                        self._write_isolating(writer, parsed[half:], deliveries[half:]),
                    ]
                )
            return self._dead_letter_whole(writer, parsed[0], deliveries[0], str(exc))

    def _dead_letter_whole(
        self, writer: ReadingWriter, message: ParsedMessage, delivery: Delivery, reason: str
    ) -> BatchResult:
        logger.error(
            "database refused a message; dead-lettering it whole",
            extra={"hub_id": message.hub_id, "batch_id": message.batch_id, "error": reason[:300]},
        )
        letter = DeadLetter(
            practice_id=None,
            hub_id=message.hub_id,
            topic=delivery.topic,
            batch_id=message.batch_id,
            reading_id=None,
            device_serial=None,
            reason=RejectReason.STORAGE_ERROR.value,
            detail=reason[:1000],
            payload=delivery.payload[:65536],
            payload_size=len(delivery.payload),
            payload_sha256=payload_digest(delivery.payload),
            received_at=delivery.received_at,
        )
        writer.write_dead_letters([letter])
        ids = [a.reading_id_text for a in message.accepted] + [
            r.reading_id_text for r in message.rejected if r.reading_id_text is not None
        ]
        ack = ReadingsAck(
            message.batch_id,
            rejected=[RejectedId(i, RejectReason.STORAGE_ERROR.value) for i in ids],
            error=RejectReason.STORAGE_ERROR.value,
        )
        return BatchResult([ack], [letter], 0, 0, len(ids), 0)

    def _publish_acks(self, batch: list[InboundMessage], parsed: list[ParsedMessage], result: BatchResult) -> None:
        for inbound, message, ack in zip(batch, parsed, result.acks, strict=True):
            if message.hub_id is not None:
                self._consumer.publish(self._topics.hub(message.hub_id, HubTopic.READINGS_ACK), ack.to_json())
            self._consumer.ack(inbound)

    def _count(self, batch: list[InboundMessage], parsed: list[ParsedMessage], result: BatchResult) -> None:
        m = self._metrics
        m.batches.inc()
        m.batch_messages.observe(len(batch))
        m.batch_latency.observe(self._monotonic() - batch[0].received_monotonic)
        m.readings_received.inc(sum(len(p.accepted) + len(p.rejected) for p in parsed))
        m.readings_stored.inc(result.accepted)
        m.rows_stored.inc(result.rows_stored)
        m.readings_duplicate.inc(result.duplicates)
        for letter in result.dead_letters:
            m.dead_letters.labels(reason=letter.reason).inc()
        logger.debug(
            "batch committed",
            extra={
                "messages": len(batch),
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
            },
        )

    def _set_database(self, *, ok: bool, reason: str = "", held: int = 0) -> None:
        with self._database_lock:
            self._set_database_locked(ok=ok, reason=reason, held=held)

    def _set_database_locked(self, *, ok: bool, reason: str, held: int) -> None:
        self._database_ok = ok
        self._metrics.database_up.set(1 if ok else 0)
        if ok and self._outage is not None:
            logger.info(
                "database available again",
                extra={
                    "outage_s": round(self._monotonic() - self._outage.started, 1),
                    "attempts": self._outage.attempts,
                },
            )
            self._outage = None
        elif not ok:
            if self._outage is None:
                self._outage = _Outage(started=self._monotonic())
                logger.warning(
                    "database unavailable; holding messages unacknowledged and retrying",
                    extra={"error": reason[:300], "messages_held": held},
                )
            self._outage.attempts += 1


class WriterSupervisor:
    """Owns the writer threads: starts them, restarts one that died with jittered backoff (logged
    once when it goes down and once when it is back), and joins them at shutdown. A writer that
    dies may have held a batch that was never acknowledged, so its death also makes the consumer
    reconnect: the broker then redelivers everything unacknowledged."""

    def __init__(self, service: IngestService, stop: threading.Event) -> None:
        self._service = service
        self._stop = stop
        self._threads: dict[int, threading.Thread] = {}
        self._failures: dict[int, int] = {}
        self._restart_at: dict[int, float] = {}
        self._rng = random.Random()  # noqa: S311 - jitter, not security

    def start(self) -> None:
        for index in range(len(self._service._writers)):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        writer = self._service._writers[index]
        thread = threading.Thread(target=self._run, args=(index, writer), name=f"ingest-writer-{index}", daemon=True)
        self._threads[index] = thread
        thread.start()

    def _run(self, index: int, writer: ReadingWriter) -> None:
        try:
            self._service.writer_loop(writer, self._stop)
        except Exception:  # a supervisor is the one place that catches everything: log, count, restart
            self._failures[index] = self._failures.get(index, 0) + 1
            self._service.metrics.writer_failures.inc()
            logger.exception("ingest writer failed; restarting it", extra={"writer": index})
            writer.close()
            self._service.recover_unacknowledged()
            delay = backoff_s(self._failures[index], minimum=0.5, maximum=30.0, rng=self._rng)
            self._restart_at[index] = time.monotonic() + delay

    def check(self) -> None:
        for index, thread in list(self._threads.items()):
            if thread.is_alive() or self._stop.is_set():
                continue
            if time.monotonic() >= self._restart_at.get(index, 0.0):
                logger.info(
                    "ingest writer restarted", extra={"writer": index, "failures": self._failures.get(index, 0)}
                )
                self._spawn(index)

    def join(self, timeout_s: float = 30.0) -> None:
        for thread in self._threads.values():
            thread.join(timeout_s)
