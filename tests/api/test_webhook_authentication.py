"""Pure tests of webhook authentication (api.webhooks.authentication) and of the pieces of webhook
processing that need no database. Signature vectors computed independently with openssl:
    printf '1772460000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec-test-0123456789'"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from api.webhooks.authentication import (
    QUERY_TOKEN,
    AuthOutcome,
    Credential,
    Scheme,
    authenticate,
    basic_credentials,
    secret_digest,
)
from api.webhooks.processing import reason_of, split_parts
from api.webhooks.sealing import SecretBox, SecretUnreadable
from api.webhooks.service import kept_headers
from drivers.errors import ImplausibleValue, UnknownVendorField
from ingest.cellular import WEBHOOK_READING_NAMESPACE, vendor_reading_id

SECRET = "whsec-test-0123456789"
TS = 1772460000
BODY = b'{"a":1}'
SIGNATURE = "v1=2570fc8452375ad2ef1bd90e043be4403be4c627c5418979a19ce047224faa43"
NOW = datetime.fromtimestamp(TS, tz=UTC)
PRACTICE = uuid.UUID("11111111-1111-1111-1111-111111111111")

HMAC = Credential(uuid.uuid4(), PRACTICE, Scheme.HMAC_SHA256, "signing-key", hmac_secret=SECRET)
BASIC = Credential(uuid.uuid4(), PRACTICE, Scheme.BASIC, "bodytrace-a", secret_digest("pw-0123456789abcdef"))
HEADER = Credential(uuid.uuid4(), PRACTICE, Scheme.HEADER, "authorization", secret_digest("Token t-0123456789abcdef"))


def _signed(signature: str = SIGNATURE, ts: int = TS) -> dict[str, str]:
    return {"x-carehub-timestamp": str(ts), "x-carehub-signature": signature}


def _basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_valid_signature_over_the_raw_bytes_is_accepted() -> None:
    verdict = authenticate([HMAC], _signed(), BODY, now=NOW + timedelta(seconds=299), replay_window_s=300)
    assert verdict.outcome is AuthOutcome.ACCEPTED
    assert verdict.credential == HMAC
    assert verdict.signed_at == NOW
    assert verdict.signature_sha256 is not None
    assert len(verdict.signature_sha256) == 32


def test_the_signature_covers_the_exact_bytes_not_the_parsed_json() -> None:
    verdict = authenticate([HMAC], _signed(), b'{"a": 1}', now=NOW, replay_window_s=300)
    assert (verdict.outcome, verdict.credential) == (AuthOutcome.BAD_SIGNATURE, None)


def test_a_stale_or_future_timestamp_is_refused_even_with_a_valid_signature() -> None:
    for now in (NOW + timedelta(seconds=301), NOW - timedelta(seconds=301)):
        verdict = authenticate([HMAC], _signed(), BODY, now=now, replay_window_s=300)
        assert verdict.outcome is AuthOutcome.STALE_TIMESTAMP
        assert verdict.signature_sha256 is None


def test_a_timestamp_that_is_not_unix_seconds_is_a_bad_signature() -> None:
    headers = {"x-carehub-timestamp": "yesterday", "x-carehub-signature": SIGNATURE}
    assert authenticate([HMAC], headers, BODY, now=NOW, replay_window_s=300).outcome is AuthOutcome.BAD_SIGNATURE


EASYPOST_SECRET = "ep-whsec-0123456789abcdef"
EASYPOST = Credential(uuid.uuid4(), PRACTICE, Scheme.EASYPOST_HMAC, "signing-key", hmac_secret=EASYPOST_SECRET)


def test_easypost_signs_the_raw_body_with_its_own_header() -> None:
    # the vector: HMAC-SHA256 over the raw body under the NFKD-normalised secret, as EasyPost sends it
    expected = "hmac-sha256-hex=" + hmac.new(EASYPOST_SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    headers = {"x-hmac-signature": expected}
    verdict = authenticate([HMAC, EASYPOST], headers, BODY, now=NOW, replay_window_s=300)
    assert (verdict.outcome, verdict.credential, verdict.signature_sha256) == (AuthOutcome.ACCEPTED, EASYPOST, None)
    upper = {"x-hmac-signature": expected[:16] + expected[16:].upper()}  # hex digits in either case
    assert authenticate([EASYPOST], upper, BODY, now=NOW, replay_window_s=300).outcome is AuthOutcome.ACCEPTED
    wrong = authenticate([EASYPOST], headers, BODY + b" ", now=NOW, replay_window_s=300)
    assert (wrong.outcome, wrong.credential) == (AuthOutcome.BAD_SIGNATURE, None)
    malformed = authenticate([EASYPOST], {"x-hmac-signature": "sha256=" + expected[16:]}, BODY, now=NOW,
                             replay_window_s=300)  # fmt: skip
    assert malformed.outcome is AuthOutcome.BAD_SIGNATURE
    assert authenticate([EASYPOST], {}, BODY, now=NOW, replay_window_s=300).outcome is AuthOutcome.MISSING_CREDENTIALS


def test_a_query_token_is_compared_whole() -> None:
    token = Credential(uuid.uuid4(), PRACTICE, Scheme.QUERY_TOKEN, "token", secret_digest("qt-0123456789abcdef"))
    accepted = authenticate([HEADER, token], {QUERY_TOKEN: "qt-0123456789abcdef"}, BODY, now=NOW, replay_window_s=1)
    assert (accepted.outcome, accepted.credential) == (AuthOutcome.ACCEPTED, token)
    for wrong in ("qt-0123456789abcde", "qt-0123456789abcdef ", ""):
        assert authenticate([token], {QUERY_TOKEN: wrong}, BODY, now=NOW, replay_window_s=1).outcome is (
            AuthOutcome.BAD_CREDENTIALS
        )
    # a header called "token" is not the query parameter
    assert authenticate([token], {"token": "qt-0123456789abcdef"}, BODY, now=NOW, replay_window_s=1).outcome is (
        AuthOutcome.MISSING_CREDENTIALS
    )


def test_schemes_that_keep_a_signing_key_are_sealed() -> None:
    assert {s for s in Scheme if s.sealed} == {Scheme.HMAC_SHA256, Scheme.EASYPOST_HMAC}


def test_basic_credentials_match_user_and_password() -> None:
    assert basic_credentials("Basic dXNlcjpwYTpzcw==") == ("user", "pa:ss")
    assert basic_credentials("Bearer dXNlcjpwYXNz") is None
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials("Basic bm9jb2xvbg==") is None  # "nocolon"
    ok = authenticate([BASIC], _basic("bodytrace-a", "pw-0123456789abcdef"), BODY, now=NOW, replay_window_s=300)
    assert (ok.outcome, ok.credential) == (AuthOutcome.ACCEPTED, BASIC)
    wrong_user = authenticate([BASIC], _basic("other", "pw-0123456789abcdef"), BODY, now=NOW, replay_window_s=300)
    assert wrong_user.outcome is AuthOutcome.BAD_CREDENTIALS
    wrong_pw = authenticate([BASIC], _basic("bodytrace-a", "pw-x"), BODY, now=NOW, replay_window_s=300)
    assert wrong_pw.outcome is AuthOutcome.BAD_CREDENTIALS


def test_a_static_header_is_compared_whole() -> None:
    ok = authenticate([HEADER], {"authorization": "Token t-0123456789abcdef"}, BODY, now=NOW, replay_window_s=300)
    assert ok.outcome is AuthOutcome.ACCEPTED
    bad = authenticate([HEADER], {"authorization": "Token t-0123456789abcde"}, BODY, now=NOW, replay_window_s=300)
    assert bad.outcome is AuthOutcome.BAD_CREDENTIALS


def test_nothing_configured_or_nothing_presented_is_refused() -> None:
    assert authenticate([], _signed(), BODY, now=NOW, replay_window_s=300).outcome is AuthOutcome.NO_CREDENTIALS
    for creds in ([HMAC], [BASIC], [HEADER], [HMAC, BASIC, HEADER]):
        verdict = authenticate(creds, {"content-type": "application/json"}, BODY, now=NOW, replay_window_s=300)
        assert verdict.outcome is AuthOutcome.MISSING_CREDENTIALS


def test_the_matching_credential_names_the_practice_among_several() -> None:
    other = Credential(uuid.uuid4(), uuid.uuid4(), Scheme.HMAC_SHA256, "k", hmac_secret="another-secret-0123456")
    verdict = authenticate([other, HMAC], _signed(), BODY, now=NOW, replay_window_s=300)
    assert verdict.credential == HMAC


def test_sealed_secrets_open_only_with_their_key() -> None:
    box = SecretBox(SecretBox.new_key())
    sealed = box.seal(SECRET)
    assert SECRET.encode() not in sealed
    assert box.open(sealed) == SECRET
    other = SecretBox(SecretBox.new_key())
    with pytest.raises(SecretUnreadable):
        other.open(sealed)


def test_secrets_never_reach_the_stored_headers() -> None:
    headers = {"authorization": "Basic c2VjcmV0", "x-api-key": "k-123", "content-type": "application/json"}
    assert kept_headers(headers) == {"content-type": "application/json", "authorization-scheme": "Basic"}


def test_reading_ids_are_stable_per_idempotency_key() -> None:
    key = "bodytrace:357872040012347:1772456400000:blood_pressure"
    assert vendor_reading_id(key) == str(uuid.uuid5(WEBHOOK_READING_NAMESPACE, key))
    assert vendor_reading_id(key) == vendor_reading_id(key)
    assert vendor_reading_id(key) != vendor_reading_id(key.replace("1772456400000", "1772456400001"))


def test_bodies_split_into_independently_decodable_parts() -> None:
    bp = {"metric": "blood_pressure", "hwi_device_id": "d1", "timestamp": "t1", "filter_params": {}}
    pulse = {"metric": "pulse", "hwi_device_id": "d1", "timestamp": "t1"}
    later = {"metric": "blood_pressure", "hwi_device_id": "d1", "timestamp": "t2"}
    assert split_parts("tenovi", [bp, pulse, later]) == [[bp, pulse], [later]]
    assert split_parts("tenovi", bp) == [bp]
    assert split_parts("withings", {"measuregrps": [{"grpid": 1}, {"grpid": 2}]}) == [{"grpid": 1}, {"grpid": 2}]
    assert split_parts("bodytrace", [1, 2]) == [[1, 2]]
    assert reason_of(UnknownVendorField("x")) == "unknown_vendor_field"
    assert reason_of(ImplausibleValue("x")) == "implausible_value"
