"""Who sent a webhook: each vendor's own scheme, checked against the raw bytes and headers (pure, no I/O;
``now`` is passed in). Reference: reference/cellular-and-logistics.md §1.9 and §2, DESIGN.md §5.

- ``basic``: ``Authorization: Basic`` with the user name and password we gave the vendor
  (default for BodyTrace, §1.1).
- ``header``: a static secret in a header whose name we configure: ``Authorization`` for Tenovi's
  ``auth_header``/``auth_key`` (§1.2), ``X-Api-Key`` for MioConnect forwarding (§1.4).
- ``hmac_sha256``: ``X-Carehub-Timestamp`` (Unix seconds) and ``X-Carehub-Signature: v1=<hex
  HMAC-SHA256 of "<timestamp>." + raw body>``, the contract of carehub's own outgoing webhooks
  (docs/alerts.md), for a vendor or relay that signs. Default for Withings, whose notifications carry
  no values: its measure groups arrive from a signing relay that pulls them (§1.6, §0.8).
- ``easypost_hmac``: EasyPost's ``X-Hmac-Signature: hmac-sha256-hex=<hex>`` over the raw body under the
  NFKD-normalised webhook secret (§3.4, :mod:`provisioning.carrier_webhooks`). It carries no timestamp:
  a replayed tracker event is harmless because carrier events are idempotent by their id.
- ``query_token``: a token we generate in the webhook URL's query string (``?token=…``), Shippo's option
  (§3.4). The router hands it over as the pseudo-header :data:`QUERY_TOKEN` (never stored with the
  envelope's headers; the access log never records query strings).

A request is matched against every active credential of the vendor (a few per vendor: one per
practice), each compared in constant time; the first match names the practice. No credential
configured means refused (fail closed, §2). A signed request is checked for its signature first and
then for its timestamp, so only a holder of the key learns that a timestamp was stale; replays of a
valid signature are caught by the replay cache (:mod:`api.webhooks.repository`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from alerts.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from provisioning.carrier_webhooks import EASYPOST_SIGNATURE_HEADER, WebhookSignatureInvalid, verify_easypost_signature


class Scheme(StrEnum):
    BASIC = "basic"
    HEADER = "header"
    HMAC_SHA256 = "hmac_sha256"
    EASYPOST_HMAC = "easypost_hmac"
    QUERY_TOKEN = "query_token"  # noqa: S105 - a scheme name, not a secret

    @property
    def sealed(self) -> bool:
        """The secret is a signing key that must be read back (kept sealed); else only its digest is kept."""
        return self in (Scheme.HMAC_SHA256, Scheme.EASYPOST_HMAC)


QUERY_TOKEN = ":query-token"  # noqa: S105 - a pseudo-header name, not a secret
"""Where the router puts the ``token`` query parameter among the request's headers (a name no real header
can have)."""


class AuthOutcome(StrEnum):
    """Stored on the envelope (``webhook_envelopes.auth_outcome``)."""

    ACCEPTED = "accepted"
    NO_CREDENTIALS = "no_credentials"  # nothing configured for this vendor: fail closed
    MISSING_CREDENTIALS = "missing_credentials"  # the request presents nothing the vendor's schemes read
    BAD_CREDENTIALS = "bad_credentials"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    REPLAYED = "replayed"


DEFAULT_SCHEMES: Mapping[str, tuple[Scheme, str]] = {
    "bodytrace": (Scheme.BASIC, ""),
    "tenovi": (Scheme.HEADER, "authorization"),
    "transtek": (Scheme.HEADER, "x-api-key"),
    "mioconnect": (Scheme.HEADER, "x-api-key"),
    "withings": (Scheme.HMAC_SHA256, "signing-key"),
    "easypost": (Scheme.EASYPOST_HMAC, "signing-key"),
    "shippo": (Scheme.QUERY_TOKEN, "token"),
}
"""Vendor → (scheme, default key id: the header name for ``header``) when a credential is created."""


@dataclass(frozen=True, slots=True)
class Credential:
    """One active credential, secrets as needed to verify: a SHA-256 for basic/header, the key for HMAC."""

    id: UUID
    practice_id: UUID
    scheme: Scheme
    key_id: str
    secret_sha256: bytes | None = None
    hmac_secret: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: AuthOutcome
    detail: str
    credential: Credential | None = None
    signature_sha256: bytes | None = None  # of an accepted signed request, for the replay cache
    signed_at: datetime | None = None


def secret_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header, or None."""
    if authorization is None:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _same(digest: bytes | None, presented: str) -> bool:
    return digest is not None and hmac.compare_digest(digest, secret_digest(presented))


def authenticate(
    credentials: Sequence[Credential],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    replay_window_s: int,
) -> Verdict:
    """Judge one request. ``headers`` has lower-case names; ``body`` is the raw bytes as received."""
    if not credentials:
        return Verdict(AuthOutcome.NO_CREDENTIALS, "no credential is configured for this vendor")
    presented = False
    stale: Verdict | None = None
    for credential in credentials:
        if credential.scheme is Scheme.BASIC:
            pair = basic_credentials(headers.get("authorization"))
            if pair is None:
                continue
            presented = True
            user, password = pair
            if hmac.compare_digest(user.encode(), credential.key_id.encode()) and _same(
                credential.secret_sha256, password
            ):
                return Verdict(AuthOutcome.ACCEPTED, "basic", credential)
        elif credential.scheme is Scheme.HEADER:
            value = headers.get(credential.key_id)
            if value is None:
                continue
            presented = True
            if _same(credential.secret_sha256, value):
                return Verdict(AuthOutcome.ACCEPTED, f"header {credential.key_id}", credential)
        elif credential.scheme is Scheme.QUERY_TOKEN:
            token = headers.get(QUERY_TOKEN)
            if token is None:
                continue
            presented = True
            if _same(credential.secret_sha256, token):
                return Verdict(AuthOutcome.ACCEPTED, "query token", credential)
        elif credential.scheme is Scheme.EASYPOST_HMAC:
            header = headers.get(EASYPOST_SIGNATURE_HEADER.lower())
            if header is None or credential.hmac_secret is None:
                continue
            presented = True
            try:
                verify_easypost_signature(credential.hmac_secret, body, header)
            except WebhookSignatureInvalid:
                continue
            return Verdict(AuthOutcome.ACCEPTED, "easypost_hmac", credential)
        else:
            signed = _signed(credential, headers, body, now=now, replay_window_s=replay_window_s)
            if signed is None:
                continue
            presented = True
            if signed.outcome is AuthOutcome.ACCEPTED:
                return signed
            if signed.outcome is AuthOutcome.STALE_TIMESTAMP:
                stale = signed
    if stale is not None:
        return stale
    if not presented:
        return Verdict(AuthOutcome.MISSING_CREDENTIALS, "the request carries none of this vendor's credentials")
    signed_by = {Scheme.HMAC_SHA256: SIGNATURE_HEADER, Scheme.EASYPOST_HMAC: EASYPOST_SIGNATURE_HEADER}
    if any(c.scheme in signed_by and signed_by[c.scheme].lower() in headers for c in credentials):
        return Verdict(AuthOutcome.BAD_SIGNATURE, "the signature does not match the body")
    return Verdict(AuthOutcome.BAD_CREDENTIALS, "the credentials do not match")


def _signed(
    credential: Credential, headers: Mapping[str, str], body: bytes, *, now: datetime, replay_window_s: int
) -> Verdict | None:
    signature = headers.get(SIGNATURE_HEADER.lower())
    timestamp_text = headers.get(TIMESTAMP_HEADER.lower())
    if signature is None or timestamp_text is None or credential.hmac_secret is None:
        return None
    try:
        timestamp = int(timestamp_text.strip())
        signed_at = datetime.fromtimestamp(timestamp, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return Verdict(AuthOutcome.BAD_SIGNATURE, f"{TIMESTAMP_HEADER} is not Unix seconds")
    expected = sign(credential.hmac_secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        return Verdict(AuthOutcome.BAD_SIGNATURE, "the signature does not match the body")
    if abs((now - signed_at).total_seconds()) > replay_window_s:
        return Verdict(
            AuthOutcome.STALE_TIMESTAMP,
            f"the signature's timestamp is more than {replay_window_s} s from the server clock",
            credential,
        )
    digest = hashlib.sha256(signature.strip().lower().encode()).digest()
    return Verdict(AuthOutcome.ACCEPTED, "hmac_sha256", credential, digest, signed_at)
