"""Pure parts of authentication: lockout decisions, the login rate limiter, access tokens, password
policy and hashing (argon2id with the library's production parameters)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from api.auth.lockout import LockoutPolicy
from api.auth.passwords import Passwords, WeakPassword
from api.auth.rate_limit import SlidingWindowLimiter
from api.auth.tokens import InvalidToken, issue_access_token, read_access_token, refresh_token_digest
from api.settings import ApiSettings

KEY = b"k" * 32
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_the_fifth_failure_locks_for_the_lockout_and_restarts_the_count() -> None:
    policy = LockoutPolicy(max_failures=5, lockout_s=900)
    assert policy.after_failure(0, NOW) == (1, None)
    assert policy.after_failure(3, NOW) == (4, None)
    assert policy.after_failure(4, NOW) == (0, NOW + timedelta(seconds=900))
    assert policy.is_locked(NOW + timedelta(seconds=900), NOW + timedelta(seconds=899))
    assert not policy.is_locked(NOW + timedelta(seconds=900), NOW + timedelta(seconds=900))
    assert not policy.is_locked(None, NOW)


def test_the_limiter_allows_n_per_window_then_says_how_long_to_wait() -> None:
    limiter = SlidingWindowLimiter(per_window=3, window_s=60)
    assert [limiter.attempt("10.0.0.1", t) for t in (0, 1, 2)] == [None, None, None]
    assert limiter.attempt("10.0.0.1", 30) == 30
    assert limiter.attempt("10.0.0.2", 30) is None  # per address
    assert limiter.attempt("10.0.0.1", 60) is None  # the first attempt left the window


@given(st.lists(st.floats(min_value=0, max_value=600), max_size=60), st.integers(min_value=1, max_value=10))
def test_the_limiter_never_allows_more_than_n_in_any_window(times: list[float], n: int) -> None:
    limiter = SlidingWindowLimiter(per_window=n, window_s=60)
    allowed = [t for t in sorted(times) if limiter.attempt("x", t) is None]
    for t in allowed:
        assert len([u for u in allowed if t - 60 < u <= t]) <= n


def test_an_access_token_round_trips_and_expires_on_the_callers_clock() -> None:
    user, practice = uuid.uuid4(), uuid.uuid4()
    token = issue_access_token(KEY, user_id=user, practice_id=practice, now=NOW, ttl_s=900)
    claims = read_access_token(KEY, token, now=NOW + timedelta(seconds=899))
    assert (claims.user_id, claims.practice_id) == (user, practice)
    assert claims.expires_at == NOW + timedelta(seconds=900)
    with pytest.raises(InvalidToken, match="expired"):
        read_access_token(KEY, token, now=NOW + timedelta(seconds=906))


def _claims(**changes: object) -> dict[str, object]:
    claims: dict[str, object] = {
        "iss": "carehub",
        "aud": "carehub-api",
        "sub": str(uuid.uuid4()),
        "prc": str(uuid.uuid4()),
        "exp": 9e9,
        "iat": 0,
    }
    return {k: v for k, v in (claims | changes).items() if v is not None}


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        jwt.encode(_claims(iss=None, aud=None), KEY),
        jwt.encode(_claims(sub="x", prc="y"), KEY),  # ids not UUIDs
        jwt.encode(_claims(prc=None), KEY),
        jwt.encode(_claims(), b"another-key-another-key-another-key"),
        jwt.encode(_claims(), KEY * 2, algorithm="HS512"),
        jwt.encode(_claims(aud="someone-else"), KEY),
    ],
)
def test_tokens_that_are_not_ours_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        read_access_token(KEY, token, now=NOW)


def test_refresh_tokens_are_stored_as_sha256() -> None:
    assert refresh_token_digest("abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_argon2id_hashes_verify_and_weak_passwords_are_refused() -> None:
    passwords = Passwords()
    stored = passwords.hash("a long enough passphrase")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "a long enough passphrase")
    assert not passwords.verify(stored, "a long enough passphrasE")
    assert not passwords.verify(None, "a long enough passphrase")
    assert not passwords.verify("not a hash", "a long enough passphrase")
    with pytest.raises(WeakPassword):
        passwords.hash("short")


def test_there_is_no_default_signing_key_outside_demo_mode() -> None:
    with pytest.raises(ValueError, match="JWT_SECRET is required"):
        ApiSettings(database_url="postgresql://x/y")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        ApiSettings(database_url="postgresql://x/y", api_jwt_secret=SecretStr("short"))
    assert ApiSettings(database_url="postgresql://x/y", api_demo_mode=True).signing_key()
