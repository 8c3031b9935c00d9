"""Every SQL statement of the vendor webhooks (tables in migration 0403). Runs as the owner: the API
role has no privilege on these tables."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from api.webhooks.authentication import Credential, Scheme, Verdict
from api.webhooks.sealing import SecretBox, SecretUnreadable

Conn = psycopg.Connection[tuple[Any, ...]]

_REPLAY_PRUNE_BATCH = 100


@dataclass(frozen=True, slots=True)
class Envelope:
    id: int
    vendor: str
    received_at: datetime
    body: bytes
    practice_id: UUID


def insert_envelope(
    conn: Conn,
    *,
    vendor: str,
    received_at: datetime,
    headers: Mapping[str, str],
    body: bytes,
    client_address: str | None,
) -> int:
    row = conn.execute(
        "INSERT INTO webhook_envelopes (vendor, received_at, headers, body, body_sha256, client_address)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (vendor, received_at, Jsonb(dict(headers)), body, hashlib.sha256(body).digest(), client_address),
    ).fetchone()
    assert row is not None
    return int(row[0])


def active_credentials(conn: Conn, vendor: str, box: SecretBox) -> tuple[list[Credential], list[str]]:
    """The vendor's active credentials, and a problem for each HMAC credential whose key cannot be
    opened (it is left out: a request signed with it is refused, never accepted unverified)."""
    rows = conn.execute(
        "SELECT id, practice_id, scheme, key_id, secret_sha256, secret_encrypted FROM webhook_credentials"
        " WHERE vendor = %s AND revoked_at IS NULL ORDER BY created_at, id",
        (vendor,),
    ).fetchall()
    credentials: list[Credential] = []
    problems: list[str] = []
    for cid, practice_id, scheme, key_id, digest, sealed in rows:
        if Scheme(scheme).sealed:
            try:
                secret = box.open(bytes(sealed))
            except SecretUnreadable as exc:
                problems.append(f"credential {cid}: {exc}")
                continue
            credentials.append(Credential(cid, practice_id, Scheme(scheme), key_id, hmac_secret=secret))
        else:
            credentials.append(Credential(cid, practice_id, Scheme(scheme), key_id, secret_sha256=bytes(digest)))
    return credentials, problems


def record_refusal(conn: Conn, envelope_id: int, verdict: Verdict) -> None:
    conn.execute(
        "UPDATE webhook_envelopes SET auth_outcome = %s, auth_detail = %s, state = 'refused',"
        " credential_id = %s WHERE id = %s",
        (verdict.outcome.value, verdict.detail, verdict.credential.id if verdict.credential else None, envelope_id),
    )


def remember_signature(conn: Conn, envelope_id: int, verdict: Verdict, now: datetime, window_s: int) -> bool:
    """Record an accepted signature; False when it was already seen (a replay). Prunes a few
    signatures that can no longer pass the timestamp check."""
    assert verdict.credential is not None
    assert verdict.signature_sha256 is not None
    conn.execute(
        "DELETE FROM webhook_replay_cache WHERE ctid = ANY (ARRAY(SELECT ctid FROM webhook_replay_cache"
        " WHERE seen_at < %s LIMIT %s))",
        (now - timedelta(seconds=2 * window_s), _REPLAY_PRUNE_BATCH),
    )
    row = conn.execute(
        "INSERT INTO webhook_replay_cache (credential_id, signature_sha256, signed_at, seen_at, envelope_id)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING envelope_id",
        (verdict.credential.id, verdict.signature_sha256, verdict.signed_at, now, envelope_id),
    ).fetchone()
    return row is not None


def record_acceptance(conn: Conn, envelope_id: int, verdict: Verdict) -> None:
    assert verdict.credential is not None
    conn.execute(
        "UPDATE webhook_envelopes SET auth_outcome = 'accepted', auth_detail = %s, practice_id = %s,"
        " credential_id = %s WHERE id = %s",
        (verdict.detail, verdict.credential.practice_id, verdict.credential.id, envelope_id),
    )


def lock_unprocessed(conn: Conn, envelope_id: int) -> Envelope | None:
    """The accepted, not yet processed envelope, locked for this transaction (None if another
    process has it or it is done)."""
    row = conn.execute(
        "SELECT id, vendor, received_at, body, practice_id FROM webhook_envelopes"
        " WHERE id = %s AND state = 'received' AND auth_outcome = 'accepted' FOR UPDATE SKIP LOCKED",
        (envelope_id,),
    ).fetchone()
    return None if row is None else Envelope(int(row[0]), row[1], row[2], bytes(row[3]), row[4])


def mark_processed(conn: Conn, envelope_id: int, outcome: Mapping[str, Any], at: datetime) -> None:
    conn.execute(
        "UPDATE webhook_envelopes SET state = 'processed', processed_at = %s, attempts = attempts + 1,"
        " outcome = %s, last_error = NULL WHERE id = %s",
        (at, Jsonb(json.loads(json.dumps(outcome, default=str))), envelope_id),
    )


def mark_failed(conn: Conn, envelope_id: int, error: str) -> None:
    conn.execute(
        "UPDATE webhook_envelopes SET attempts = attempts + 1, last_error = %s WHERE id = %s",
        (error[:2000], envelope_id),
    )


def unprocessed_ids(conn: Conn, limit: int) -> list[int]:
    rows = conn.execute(
        "SELECT id FROM webhook_envelopes WHERE state = 'received' AND auth_outcome = 'accepted' ORDER BY id LIMIT %s",
        (limit,),
    ).fetchall()
    return [int(r[0]) for r in rows]


def create_credential(
    conn: Conn,
    *,
    credential_id: UUID,
    practice_id: UUID,
    vendor: str,
    scheme: Scheme,
    key_id: str,
    secret_sha256: bytes | None,
    secret_encrypted: bytes | None,
) -> None:
    conn.execute(
        "INSERT INTO webhook_credentials (id, practice_id, vendor, scheme, key_id, secret_sha256, secret_encrypted)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (credential_id, practice_id, vendor, scheme.value, key_id, secret_sha256, secret_encrypted),
    )


def revoke_credential(conn: Conn, credential_id: UUID, at: datetime) -> bool:
    row = conn.execute(
        "UPDATE webhook_credentials SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL RETURNING id",
        (at, credential_id),
    ).fetchone()
    return row is not None
