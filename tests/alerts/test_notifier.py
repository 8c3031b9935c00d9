"""Delivery against real receivers started here: an HTTP server that checks the signature and fails
the first attempts (the retries succeed and nothing is delivered twice), and a real SMTP server, in
plain text, with STARTTLS and login, and with implicit TLS (a certificate made by the test)."""

from __future__ import annotations

import io
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from alerts import store
from alerts.delivery import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, retry_delay_s, sign, verify
from alerts.notifier import Notifier
from alerts.secrets import SecretUnavailable, new_key, unseal
from alerts.settings import NotifierSettings
from carehub.cli import main
from carehub.local_services import free_port
from tests.alerts.conftest import SECRET_KEY, add_route, bp_c1
from tests.ingest.conftest import World
from tests.pipeline import wait_until

SECRET = "s3cret-signing-key-0123456789"
KEY = SecretStr(SECRET_KEY)
T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


class Receiver:
    """A webhook endpoint: answers 503 to the first ``fail_first`` requests, then 204; records
    every request with whether its signature verified."""

    def __init__(self, fail_first: int, secret: str = SECRET) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[bool, str, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = int(self.headers[TIMESTAMP_HEADER])
                ok = verify(secret, ts, body, self.headers[SIGNATURE_HEADER], now=ts)
                receiver.requests.append((ok, self.headers[DELIVERY_HEADER], json.loads(body)))
                self.send_response(503 if len(receiver.requests) <= receiver.fail_first else 204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Any] = []

    def handle_message(self, message: Any) -> None:
        self.messages.append(message)


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


def raise_bp_alert(db: psycopg.Connection[Any], world: World) -> str:
    with db.transaction():
        raised = store.raise_alert(db, bp_c1(world, sys_mean=185), T0)
    return raised.alert_id


def test_signature_is_hmac_sha256_over_timestamp_and_raw_body() -> None:
    # Vector computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
    assert sign("key", 1700000000, b'{"a":1}') == (
        "v1=" + __import__("hmac").new(b"key", b'1700000000.{"a":1}', "sha256").hexdigest()
    )
    good = sign(SECRET, 100, b"x")
    assert verify(SECRET, 100, b"x", good, now=400)
    assert not verify(SECRET, 100, b"x", good, now=401)  # outside the 300 s replay window
    assert not verify(SECRET, 100, b"y", good, now=100)


@pytest.mark.parametrize(("attempts", "delay"), [(1, 5.0), (2, 10.0), (3, 20.0), (10, 900.0)])
def test_backoff_doubles_and_is_capped(attempts: int, delay: float) -> None:
    assert retry_delay_s(attempts, 5.0, 900.0) == delay


def test_webhook_retries_until_accepted_and_never_twice(
    db: psycopg.Connection[Any], world: World, database_url: str
) -> None:
    receiver = Receiver(fail_first=2)
    try:
        add_route(db, world.practice_id, "webhook", receiver.url, secret=SECRET)
        alert_id = raise_bp_alert(db, world)
        settings = NotifierSettings(
            database_url=database_url, notifier_retry_base_s=5, notifier_max_attempts=5, notifier_secret_key=KEY
        )
        with httpx.Client(timeout=5) as http:
            notifier = Notifier(settings, http)
            clock = T0
            results = []
            for _ in range(6):
                results.append(notifier.deliver_due(db, clock))
                clock += timedelta(seconds=60)
        assert [(r.delivered, r.retried, r.dead) for r in results] == [
            (0, 1, 0), (0, 1, 0), (1, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0)
        ]  # fmt: skip
        assert [ok for ok, _, _ in receiver.requests] == [True, True, True]
        assert {delivery for _, delivery, _ in receiver.requests} == {receiver.requests[0][1]}
        payload = receiver.requests[-1][2]
        assert (payload["alert_id"], payload["rule_id"], payload["severity"], payload["event"]) == (
            alert_id, "BP-C1", "critical", "opened"
        )  # fmt: skip
        assert "/" + str(world.homes[0].patient_id) not in receiver.url
        row = db.execute("SELECT status, attempts, last_error FROM notification_outbox").fetchone()
        assert row == ("delivered", 3, None)
    finally:
        receiver.close()


def test_a_route_that_never_answers_ends_dead(db: psycopg.Connection[Any], world: World, database_url: str) -> None:
    add_route(db, world.practice_id, "webhook", f"http://127.0.0.1:{free_port()}/gone", secret=SECRET)
    raise_bp_alert(db, world)
    settings = NotifierSettings(
        database_url=database_url, notifier_max_attempts=3, notifier_retry_base_s=1, notifier_secret_key=KEY
    )
    with httpx.Client(timeout=2) as http:
        notifier = Notifier(settings, http)
        for minute in range(5):
            notifier.deliver_due(db, T0 + timedelta(minutes=minute))
    assert db.execute("SELECT status, attempts FROM notification_outbox").fetchone() == ("dead", 3)


def test_email_reaches_a_real_smtp_server_without_patient_identifiers(
    db: psycopg.Connection[Any], world: World, database_url: str, smtp: tuple[Controller, Inbox]
) -> None:
    controller, inbox = smtp
    add_route(db, world.practice_id, "email", "nurse@example.org")
    alert_id = raise_bp_alert(db, world)
    settings = NotifierSettings(database_url=database_url, smtp_host="127.0.0.1", smtp_port=controller.port)
    with httpx.Client() as http:
        result = Notifier(settings, http).deliver_due(db, T0)
    assert result.delivered == 1
    wait_until(lambda: inbox.messages, 10, "the email at the SMTP server")
    (message,) = inbox.messages
    assert message["To"] == "nurse@example.org"
    assert message["Subject"] == f"[carehub] critical alert BP-C1 (opened) {alert_id[:8]}"
    patient = world.homes[0].patient_id
    assert str(patient) not in message["Subject"]
    assert str(patient) not in message.get_payload()
    assert alert_id in message.get_payload()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the test is its own CA): (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "carehub test smtp")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


class Credentials:
    """An aiosmtpd authenticator accepting one user, recording what it was offered."""

    def __init__(self) -> None:
        self.offered: list[tuple[str, str]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        login = (auth_data.login.decode(), auth_data.password.decode())
        self.offered.append(login)
        return AuthResult(success=login == ("carehub", "s3cret"))


def _deliver_one(db: psycopg.Connection[Any], world: World, settings: NotifierSettings) -> tuple[Any, ...]:
    add_route(db, world.practice_id, "email", "nurse@example.org")
    raise_bp_alert(db, world)
    with httpx.Client() as http:
        Notifier(settings, http).deliver_due(db, T0)
    row = db.execute("SELECT status, last_error FROM notification_outbox").fetchone()
    assert row is not None
    return tuple(row)


def test_email_over_starttls_with_login_verifies_the_server(
    db: psycopg.Connection[Any], world: World, database_url: str, certificate: tuple[Path, Path]
) -> None:
    inbox, credentials = Inbox(), Credentials()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), tls_context=_server_context(certificate),
        require_starttls=True, authenticator=credentials, auth_required=True,
    )  # fmt: skip
    controller.start()
    try:
        settings = NotifierSettings(
            database_url=database_url, smtp_host="127.0.0.1", smtp_port=controller.port, smtp_security="starttls",
            smtp_ca_file=str(certificate[0]), smtp_username="carehub", smtp_password=SecretStr("s3cret"),
        )  # fmt: skip
        assert _deliver_one(db, world, settings) == ("delivered", None)
        wait_until(lambda: inbox.messages, 10, "the email at the SMTP server")
        assert inbox.messages[0]["To"] == "nurse@example.org"
        assert credentials.offered == [("carehub", "s3cret")]
    finally:
        controller.stop()


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted-ca", "unknown-ca"])
def test_email_over_implicit_tls_only_to_a_server_a_trusted_ca_certified(
    db: psycopg.Connection[Any], world: World, database_url: str, certificate: tuple[Path, Path], trusted: bool
) -> None:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=_server_context(certificate))
    controller.start()
    try:
        settings = NotifierSettings(
            database_url=database_url, smtp_host="127.0.0.1", smtp_port=controller.port, smtp_security="tls",
            smtp_ca_file=str(certificate[0]) if trusted else None,
        )  # fmt: skip
        status, error = _deliver_one(db, world, settings)
        if trusted:
            assert (status, error) == ("delivered", None)
            wait_until(lambda: inbox.messages, 10, "the email at the SMTP server")
        else:
            assert status == "pending"
            assert "CERTIFICATE_VERIFY_FAILED" in error
            assert inbox.messages == []
    finally:
        controller.stop()


def test_starttls_is_never_downgraded_and_credentials_never_go_in_clear(
    db: psycopg.Connection[Any], world: World, database_url: str, smtp: tuple[Controller, Inbox]
) -> None:
    """A server that does not offer STARTTLS gets nothing (no plain-text fallback), and credentials are
    never sent without TLS; the notification stays pending with the reason."""
    controller, inbox = smtp
    plain = NotifierSettings(
        database_url=database_url, smtp_host="127.0.0.1", smtp_port=controller.port, smtp_security="starttls",
        smtp_username="carehub", smtp_password=SecretStr("s3cret"),
    )  # fmt: skip
    status, error = _deliver_one(db, world, plain)
    assert status == "pending"
    assert "SMTPNotSupportedError" in error
    assert inbox.messages == []
    credentials_in_clear = NotifierSettings(
        database_url=database_url, smtp_host="127.0.0.1", smtp_port=controller.port, smtp_username="carehub",
        smtp_password=SecretStr("s3cret"),
    )  # fmt: skip
    db.execute("UPDATE notification_outbox SET next_attempt_at = %s", (T0,))
    with httpx.Client() as http:
        Notifier(credentials_in_clear, http).deliver_due(db, T0)
    assert "without TLS" in str(db.execute("SELECT last_error FROM notification_outbox").fetchone())
    assert inbox.messages == []


def test_webhook_secrets_are_stored_sealed_and_a_route_in_clear_is_refused(
    db: psycopg.Connection[Any], world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database holds only the sealed secret and refuses one in clear; an operator seals a new one
    from stdin with the CLI; a notifier without the key (or a value stored in clear before 0202) keeps
    the notification pending with the reason, and the right key delivers it signed with the secret."""
    route = add_route(db, world.practice_id, "webhook", "https://practice.example/hook", secret=SECRET)
    (stored,) = db.execute("SELECT secret FROM notification_routes").fetchone() or ("",)
    assert stored.startswith("fernet:")
    assert SECRET not in stored
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("UPDATE notification_routes SET secret = %s", (SECRET,))
    with pytest.raises(SecretUnavailable, match="in clear"):
        unseal(SECRET_KEY, SECRET)
    with pytest.raises(SecretUnavailable, match="another key"):
        unseal(new_key(), stored)

    rotated = "rotated-signing-key-9876543210"
    receiver = Receiver(fail_first=0, secret=rotated)
    try:
        monkeypatch.setenv("CAREHUB_DATABASE_URL", database_url)
        monkeypatch.setenv("CAREHUB_NOTIFIER_SECRET_KEY", SECRET_KEY)
        monkeypatch.setattr("sys.stdin", io.StringIO(rotated + "\n"))
        assert main(["alerts", "route-secret", str(route), "--practice", str(world.practice_id)]) == 0
        db.execute("UPDATE notification_routes SET target = %s", (receiver.url,))
        raise_bp_alert(db, world)
        with httpx.Client() as http:
            Notifier(NotifierSettings(database_url=database_url, notifier_secret_key=None), http).deliver_due(db, T0)
            (status, error) = db.execute("SELECT status, last_error FROM notification_outbox").fetchone() or ("", "")
            assert status == "pending"
            assert "CAREHUB_NOTIFIER_SECRET_KEY is not set" in error
            db.execute("UPDATE notification_outbox SET next_attempt_at = %s", (T0,))
            Notifier(NotifierSettings(database_url=database_url, notifier_secret_key=KEY), http).deliver_due(db, T0)
        assert db.execute("SELECT status FROM notification_outbox").fetchone() == ("delivered",)
        assert [ok for ok, _, _ in receiver.requests] == [True]  # signed with the secret sealed from stdin
    finally:
        receiver.close()
