"""One webhook request, in the order reference §0 asks for:

1. the raw envelope (selected headers, body bytes, SHA-256, our ``received_at``) is **committed** in
   its own transaction before anything else; if that fails the sender gets 503 and retries;
2. the request is authenticated against those raw bytes (:mod:`api.webhooks.authentication`); a
   refusal is recorded on the envelope and logged (vendor, envelope id, outcome: never the body);
   an accepted signature is remembered, and the same signature again is a replay (409);
3. the envelope is processed **inline**, in one transaction with its readings, dead letters, hooks
   and its ``processed`` mark. Should that fail (database gone, a hook defect), the envelope stays
   ``received`` + ``accepted`` and the answer is still 202: it is stored and authenticated, and
   ``carehub webhooks reprocess`` (run at API start and on demand) picks it up. Processing twice is
   harmless: readings are keyed by the vendor's idempotency key.

Chosen over a queue worker: the sender learns the outcome of its readings in the response, there
is no second process to run, and the sweeper covers the crash between commit and processing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from api.webhooks import carriers, repository
from api.webhooks.authentication import AuthOutcome, Verdict, authenticate
from api.webhooks.processing import Outcome, process
from api.webhooks.sealing import SecretBox
from api.webhooks.settings import WebhookSettings
from core.errors import CarehubError
from ingest.hooks import HookFailed, StoredReadingsHook

logger = logging.getLogger(__name__)

Conn = psycopg.Connection[tuple[Any, ...]]

KEPT_HEADERS = (
    "content-type",
    "content-length",
    "user-agent",
    "x-carehub-timestamp",
    "x-carehub-signature",
    "x-hmac-signature",
    "x-request-id",
)
"""Headers stored on the envelope. Secrets (Authorization, API keys) never are: only the scheme word
of ``Authorization`` is kept."""


class Status(StrEnum):
    PROCESSED = "processed"
    QUEUED = "queued"  # stored and authenticated; processing will be retried
    UNDECODABLE = "undecodable"  # stored and authenticated; nothing in it decodes (dead-lettered)
    REFUSED = "refused"
    REPLAYED = "replayed"


class EnvelopeNotStored(CarehubError):
    """The envelope could not be committed: nothing is acknowledged (advice: the sender retries)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    status: Status
    envelope_id: int
    detail: str = ""
    outcome: Outcome | None = None


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {name: headers[name][:500] for name in KEPT_HEADERS if name in headers}
    if "authorization" in headers:
        kept["authorization-scheme"] = headers["authorization"].strip().split(" ", 1)[0][:20]
    return kept


@dataclass
class WebhookService:
    settings: WebhookSettings
    pool: ConnectionPool[Conn]
    clock: Callable[[], datetime]
    box: SecretBox
    hooks: Sequence[StoredReadingsHook] = ()

    def receive(self, vendor: str, headers: Mapping[str, str], body: bytes, client_address: str | None) -> Receipt:
        """Store, authenticate and process one request (``headers`` with lower-case names)."""
        received_at = self.clock()
        try:
            with self.pool.connection() as conn, conn.transaction():
                envelope_id = repository.insert_envelope(
                    conn,
                    vendor=vendor,
                    received_at=received_at,
                    headers=kept_headers(headers),
                    body=body,
                    client_address=client_address,
                )
        except psycopg.Error as exc:
            raise EnvelopeNotStored(f"the webhook envelope could not be stored: {type(exc).__name__}") from exc
        verdict = self._authenticate(vendor, envelope_id, headers, body, received_at)
        if verdict.outcome is not AuthOutcome.ACCEPTED:
            logger.warning(
                "webhook refused",
                extra={"vendor": vendor, "envelope_id": envelope_id, "outcome": verdict.outcome.value,
                       "client": client_address},
            )  # fmt: skip
            status = Status.REPLAYED if verdict.outcome is AuthOutcome.REPLAYED else Status.REFUSED
            return Receipt(status, envelope_id, verdict.detail)
        return self.process(envelope_id)

    def _authenticate(
        self, vendor: str, envelope_id: int, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Verdict:
        window_s = self.settings.webhook_replay_window_s
        with self.pool.connection() as conn, conn.transaction():
            credentials, problems = repository.active_credentials(conn, vendor, self.box)
            for problem in problems:
                logger.error("webhook credential unusable", extra={"vendor": vendor, "problem": problem})
            verdict = authenticate(credentials, headers, body, now=now, replay_window_s=window_s)
            signed = verdict.outcome is AuthOutcome.ACCEPTED and verdict.signature_sha256 is not None
            if signed and not repository.remember_signature(conn, envelope_id, verdict, now, window_s):
                verdict = Verdict(AuthOutcome.REPLAYED, "this signed request was already received", verdict.credential)
            if verdict.outcome is AuthOutcome.ACCEPTED:
                repository.record_acceptance(conn, envelope_id, verdict)
            else:
                repository.record_refusal(conn, envelope_id, verdict)
        return verdict

    def process(self, envelope_id: int) -> Receipt:
        """Process one accepted envelope now; on failure it stays queued for the sweeper."""
        try:
            with self.pool.connection() as conn, conn.transaction():
                envelope = repository.lock_unprocessed(conn, envelope_id)
                if envelope is None:
                    return Receipt(Status.QUEUED, envelope_id, "already being processed or done")
                if envelope.vendor in carriers.CARRIERS:
                    outcome = carriers.process(conn, envelope, now=self.clock())
                else:
                    outcome = process(
                        conn, envelope, now=self.clock(), limits=self.settings.reading_limits(), hooks=self.hooks
                    )
        except (psycopg.Error, HookFailed) as exc:
            logger.exception("webhook processing failed; left for reprocessing", extra={"envelope_id": envelope_id})
            self._note_failure(envelope_id, f"{type(exc).__name__}: {exc}")
            return Receipt(Status.QUEUED, envelope_id, "stored; processing will be retried")
        status = Status.UNDECODABLE if outcome.undecodable else Status.PROCESSED
        logger.info(
            "webhook processed",
            extra={"envelope_id": envelope_id, "stored": outcome.readings_stored, "duplicates": outcome.duplicates,
                   "rejected": outcome.rejected, "undecodable_parts": outcome.undecodable_parts},
        )  # fmt: skip
        return Receipt(status, envelope_id, outcome=outcome)

    def _note_failure(self, envelope_id: int, error: str) -> None:
        try:
            with self.pool.connection() as conn, conn.transaction():
                repository.mark_failed(conn, envelope_id, error)
        except psycopg.Error:
            logger.warning("could not record a webhook processing failure", extra={"envelope_id": envelope_id})

    def reprocess(self, limit: int = 1000) -> list[Receipt]:
        """Process envelopes that were accepted but never processed (a crash, the database away)."""
        with self.pool.connection() as conn:
            ids = repository.unprocessed_ids(conn, limit)
        return [self.process(envelope_id) for envelope_id in ids]
