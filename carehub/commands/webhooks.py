"""``carehub webhooks`` — vendor webhook credentials and the sweeper for envelopes left unprocessed
(:mod:`api.webhooks`). Secrets are generated here and printed once; only their SHA-256 (or, for HMAC
keys, their encryption under ``CAREHUB_WEBHOOK_SECRET_KEY``) is stored."""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from api.webhooks import repository
from api.webhooks.authentication import DEFAULT_SCHEMES, Scheme, secret_digest
from api.webhooks.carriers import CARRIERS
from api.webhooks.sealing import SecretBox
from api.webhooks.service import WebhookService
from api.webhooks.settings import WebhookSettings
from carehub.commands.ingest import stored_readings_hooks
from core.db import connect
from core.errors import CarehubError
from core.logs import configure_logging
from core.settings import DatabaseSettings, ServiceSettings
from drivers.vendors import VENDORS
from ingest.settings import IngestSettings

logger = logging.getLogger(__name__)

SECRET_BYTES = 32


class WebhookCommandSettings(DatabaseSettings, ServiceSettings, WebhookSettings):
    pass


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "webhooks",
        help="vendor webhook credentials; reprocess unprocessed envelopes",
        description="Configuration comes from CAREHUB_* environment variables (see README, Vendor webhooks).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add-credential", help="create a vendor credential for a practice; prints the secret once")
    add.add_argument("--practice-id", required=True, type=uuid.UUID)
    add.add_argument("--vendor", required=True, choices=sorted(set(VENDORS) | CARRIERS))
    add.add_argument("--scheme", choices=[s.value for s in Scheme], help="default: the vendor's own scheme")
    add.add_argument("--key-id", help="basic: user name; header: header name; otherwise a label")
    add.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin instead of generating")
    revoke = sub.add_parser("revoke-credential", help="stop accepting a credential")
    revoke.add_argument("credential_id", type=uuid.UUID)
    sub.add_parser("new-key", help="print a new CAREHUB_WEBHOOK_SECRET_KEY (Fernet key)")
    reprocess = sub.add_parser("reprocess", help="process accepted envelopes that were never processed")
    reprocess.add_argument("--limit", type=int, default=1000)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "new-key":
        print(SecretBox.new_key())
        return 0
    settings = WebhookCommandSettings()
    configure_logging(settings.log_level, settings.log_format)
    key = settings.webhook_secret_key
    try:
        box = SecretBox(key.get_secret_value() if key else None)
        if args.action == "add-credential":
            return _add(settings, box, args)
        if args.action == "revoke-credential":
            return _revoke(settings, args.credential_id)
        return _reprocess(settings, box, args.limit)
    except CarehubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _add(settings: WebhookCommandSettings, box: SecretBox, args: argparse.Namespace) -> int:
    default_scheme, default_key = DEFAULT_SCHEMES[args.vendor]
    scheme = Scheme(args.scheme) if args.scheme else default_scheme
    key_id = args.key_id or (default_key if scheme is default_scheme else "")
    if scheme is Scheme.HEADER:
        key_id = key_id.lower()
    if not key_id:
        key_id = f"{args.vendor}-{secrets.token_hex(4)}" if scheme is Scheme.BASIC else "signing-key"
    secret = sys.stdin.readline().strip() if args.secret_stdin else secrets.token_urlsafe(SECRET_BYTES)
    if len(secret) < 16:
        raise CarehubError("a webhook secret must be at least 16 characters")
    credential_id = uuid.uuid4()
    with connect(settings.database_url, application_name="carehub-webhooks") as conn, conn.transaction():
        repository.create_credential(
            conn,
            credential_id=credential_id,
            practice_id=args.practice_id,
            vendor=args.vendor,
            scheme=scheme,
            key_id=key_id,
            secret_sha256=None if scheme.sealed else secret_digest(secret),
            secret_encrypted=box.seal(secret) if scheme.sealed else None,
        )
    shown = {"credential_id": str(credential_id), "vendor": args.vendor, "scheme": scheme.value, "key_id": key_id}
    if scheme is Scheme.QUERY_TOKEN:  # the URL to register with the sender (it carries the secret)
        shown["path"] = f"/webhooks/{args.vendor}?token={secret}"
    print(json.dumps(shown | {"secret": secret}))  # once, to the operator's terminal; never logged
    return 0


def _revoke(settings: WebhookCommandSettings, credential_id: uuid.UUID) -> int:
    with connect(settings.database_url, application_name="carehub-webhooks") as conn, conn.transaction():
        revoked = repository.revoke_credential(conn, credential_id, datetime.now(UTC))
    print("revoked" if revoked else "no such active credential")
    return 0 if revoked else 1


def _reprocess(settings: WebhookCommandSettings, box: SecretBox, limit: int) -> int:
    from psycopg_pool import ConnectionPool

    with ConnectionPool(settings.database_url, min_size=1, max_size=2, kwargs={"options": "-c TimeZone=UTC"}) as pool:
        hooks = stored_readings_hooks(IngestSettings())
        service = WebhookService(settings, pool, lambda: datetime.now(UTC), box, hooks)
        receipts = service.reprocess(limit)
    counts: dict[str, int] = {}
    for receipt in receipts:
        counts[receipt.status.value] = counts.get(receipt.status.value, 0) + 1
    print(json.dumps({"envelopes": len(receipts)} | counts))
    return 0
