"""``carehub webhooks``: a credential's secret is printed once and stored only as a digest (or
encrypted, for HMAC keys), the printed secret authenticates, revocation stops it, and ``reprocess``
finishes envelopes whose processing failed."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.webhooks.sealing import SecretBox
from carehub.cli import main
from tests.api.conftest import World
from tests.api.test_webhooks import BODYTRACE_IMEI, _bodytrace_bp

Conn = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    key = SecretBox.new_key()
    monkeypatch.setenv("CAREHUB_DATABASE_URL", database_url)
    monkeypatch.setenv("CAREHUB_WEBHOOK_SECRET_KEY", key)
    monkeypatch.setenv("CAREHUB_LOG_FORMAT", "text")
    return key


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["webhooks", *argv])
    return code, capsys.readouterr().out


def test_a_basic_credential_is_printed_once_and_stored_as_a_digest(
    cli_env: str, two_practices: World, db: Conn, app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(
        "INSERT INTO devices (id, practice_id, serial, kind, connectivity, imei)"
        " VALUES (gen_random_uuid(), %s, 'BT-1', 'bp_cuff', 'cellular', %s)",
        (two_practices.a.id, BODYTRACE_IMEI),
    )
    code, out = _run(capsys, "add-credential", "--practice-id", str(two_practices.a.id), "--vendor", "bodytrace")
    assert code == 0
    shown = json.loads(out)
    assert (shown["vendor"], shown["scheme"]) == ("bodytrace", "basic")
    assert len(shown["secret"]) >= 40
    stored = db.execute(
        "SELECT key_id, secret_sha256, secret_encrypted, practice_id FROM webhook_credentials WHERE id = %s",
        (shown["credential_id"],),
    ).fetchone()
    assert stored == (shown["key_id"], hashlib.sha256(shown["secret"].encode()).digest(), None, two_practices.a.id)
    auth = base64.b64encode(f"{shown['key_id']}:{shown['secret']}".encode()).decode()
    with TestClient(app, raise_server_exceptions=False) as client:
        # the device has no patient: accepted and processed, the reading dead-lettered with its reason
        accepted = client.post(
            "/webhooks/bodytrace", content=_bodytrace_bp(), headers={"Authorization": f"Basic {auth}"}
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["rejected"] == 1
        assert _run(capsys, "revoke-credential", shown["credential_id"]) == (0, "revoked\n")
        refused = client.post(
            "/webhooks/bodytrace", content=_bodytrace_bp(), headers={"Authorization": f"Basic {auth}"}
        )
        assert refused.status_code == 401


def test_an_hmac_key_is_stored_encrypted_under_the_configured_key(
    cli_env: str, two_practices: World, db: Conn, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "add-credential", "--practice-id", str(two_practices.a.id), "--vendor", "withings")
    assert code == 0
    shown = json.loads(out)
    sealed = db.execute("SELECT secret_encrypted FROM webhook_credentials").fetchone()
    assert sealed is not None
    assert shown["secret"].encode() not in bytes(sealed[0])
    assert SecretBox(cli_env).open(bytes(sealed[0])) == shown["secret"]


def test_carrier_credentials_easypost_sealed_and_shippo_with_the_path_to_register(
    cli_env: str, two_practices: World, db: Conn, app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    practice = str(two_practices.a.id)
    code, out = _run(capsys, "add-credential", "--practice-id", practice, "--vendor", "easypost")
    easypost = json.loads(out)
    assert (code, easypost["scheme"], "path" in easypost) == (0, "easypost_hmac", False)
    sealed = db.execute("SELECT secret_encrypted FROM webhook_credentials WHERE id = %s", (easypost["credential_id"],))
    row = sealed.fetchone()
    assert row is not None
    assert SecretBox(cli_env).open(bytes(row[0])) == easypost["secret"]

    code, out = _run(capsys, "add-credential", "--practice-id", practice, "--vendor", "shippo")
    shippo = json.loads(out)
    assert (code, shippo["scheme"]) == (0, "query_token")
    assert shippo["path"] == f"/webhooks/shippo?token={shippo['secret']}"
    with TestClient(app, raise_server_exceptions=False) as client:
        # the printed path authenticates (an unknown tracker: acknowledged, nothing moved)
        status = {"object_id": "st_1", "status": "TRANSIT", "status_date": "2026-03-02T10:00:00Z"}
        track = {"carrier": "ups", "tracking_number": "1Z5R89390000000000", "tracking_status": status}
        body = json.dumps({"event": "track_updated", "data": track})
        response = client.post(shippo["path"], content=body)
        assert response.status_code == 200, response.text
        assert response.json()["carrier_events"] == {"no_shipment": 1}
