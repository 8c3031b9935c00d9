"""UUIDv7 layout (RFC 9562 §5.7) and ULID parsing."""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.ids import InvalidIdentifier, format_ulid, parse_reading_id, parse_ulid, uuid7


def test_uuid7_layout_matches_rfc_9562_example() -> None:
    # RFC 9562 Appendix A.6: unix_ts_ms 0x017F22E279B0, rand_a 0xCC3, rand_b 0x18C4DC0C0C07398F
    rand_int = (0xCC3 << 68) | 0x18C4DC0C0C07398F
    value = uuid7(0x017F22E279B0, rand_int.to_bytes(10, "big"))
    assert value == UUID("017f22e2-79b0-7cc3-98c4-dc0c0c07398f")
    assert value.version == 7


def test_uuid7_is_time_ordered() -> None:
    ids = [uuid7(ms) for ms in range(1_700_000_000_000, 1_700_000_000_050)]
    assert ids == sorted(ids)


def test_ulid_spec_example() -> None:
    # ULID spec: 01ARZ3NDEKTSV4RRFFQ69G5FAV is timestamp 1469922850259 (0x01563E3AB5D3)
    value = parse_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert value.int >> 80 == 1469922850259
    assert format_ulid(value) == "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert parse_ulid("01arz3ndektsv4rrffq69g5fav") == value


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_ulid_round_trip(number: int) -> None:
    value = UUID(int=number)
    assert parse_ulid(format_ulid(value)) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-an-id",
        "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        "01ARZ3NDEKTSV4RRFFQ69G5FAU!",
        "0123456789abcdef0123456789abcdefXX",
    ],
)
def test_invalid_reading_ids_are_typed_errors(text: str) -> None:
    with pytest.raises(InvalidIdentifier):
        parse_reading_id(text)


def test_reading_id_accepts_uuid_and_ulid() -> None:
    assert parse_reading_id("017f22e2-79b0-7cc3-98c4-dc0c0c07398f") == UUID("017f22e2-79b0-7cc3-98c4-dc0c0c07398f")
    assert parse_reading_id("01ARZ3NDEKTSV4RRFFQ69G5FAV") == parse_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAV")
