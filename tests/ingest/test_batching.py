"""How a writer closes a batch: at its size cap, at the first message's maximum wait, or, with
``ingest_batch_close_when_idle``, as soon as the inbox is empty while no other writer is in a
transaction (waiting then overlaps with nothing and only delays the readings and their alerts)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from ingest.consumer import InboundMessage
from ingest.service import IngestService
from ingest.settings import IngestSettings
from ingest.validation import ParsedMessage


def inbound(n: int) -> InboundMessage:
    return InboundMessage(
        topic="carehub/v1/hub/hub-0001/up/readings",
        payload=b"{}",
        mid=n,
        qos=1,
        generation=1,
        received_at=datetime.now(UTC),
        received_monotonic=time.monotonic(),
        parsed=ParsedMessage("hub-0001", f"B{n}", (), ()),
    )


def collect_with_a_late_second_message(service: IngestService) -> list[int]:
    """Put one message, start collecting, and put a second one 0.3 s later (well inside the 10 s
    batch wait): which messages did the batch get?"""
    service._inbox.put(inbound(1))
    late = threading.Timer(0.3, lambda: service._inbox.put(inbound(2)))
    late.start()
    try:
        batch = service._collect(threading.Event())
    finally:
        late.join()
    return [m.mid for m in batch]


def service(*, close_when_idle: bool = True) -> IngestService:
    # a cap of two: a batch that waits for the late message is full when it comes
    return IngestService(
        IngestSettings(
            database_url="postgresql://nobody@127.0.0.1:1/none",  # never connected in these tests
            ingest_batch_max_wait_s=10,
            ingest_batch_max_messages=2,
            ingest_batch_close_when_idle=close_when_idle,
        )
    )


def test_a_lone_message_is_not_held_back_when_no_writer_is_busy() -> None:
    assert collect_with_a_late_second_message(service()) == [1]


def test_the_batch_keeps_filling_while_another_writer_holds_the_database() -> None:
    busy = service()
    busy._busy_writers = 1
    assert collect_with_a_late_second_message(busy) == [1, 2]


def test_without_early_close_a_batch_always_waits_for_more() -> None:
    assert collect_with_a_late_second_message(service(close_when_idle=False)) == [1, 2]
