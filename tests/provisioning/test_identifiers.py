"""IMEI, MBI, BLE address and tracking-number validation against published examples and properties
of their check digits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.identifiers import (
    InvalidIdentifier,
    luhn_check_digit,
    normalise_ble_address,
    normalise_imei,
    normalise_mbi,
)
from provisioning.tracking_numbers import Carrier, InvalidTrackingNumber, normalise_tracking_number

# 3GPP TS 23.003 / Wikipedia "International Mobile Equipment Identity" worked example.
VALID_IMEI = "490154203237518"


def test_imei_example_and_typos() -> None:
    assert normalise_imei("49-015420-323751-8") == VALID_IMEI
    for bad in ("490154203237519", "49015420323751", "4901542032375180", "49015420323751X"):
        with pytest.raises(InvalidIdentifier):
            normalise_imei(bad)


@given(st.text(alphabet="0123456789", min_size=14, max_size=14), st.integers(0, 13), st.integers(1, 9))
def test_imei_luhn_detects_every_single_digit_error(body: str, position: int, delta: int) -> None:
    imei = body + str(luhn_check_digit(body))
    assert normalise_imei(imei) == imei
    digits = list(imei)
    digits[position] = str((int(digits[position]) + delta) % 10)
    with pytest.raises(InvalidIdentifier):
        normalise_imei("".join(digits))


# CMS "Understanding the Medicare Beneficiary Identifier format" example: 1EG4-TE5-MK73.
def test_mbi_cms_example() -> None:
    assert normalise_mbi("1EG4-TE5-MK73") == "1EG4TE5MK73"
    assert normalise_mbi("1eg4te5mk73") == "1EG4TE5MK73"


@pytest.mark.parametrize(
    "bad",
    [
        "0EG4TE5MK73",  # position 1 is 1-9
        "1SG4TE5MK73",  # S is never used
        "1EG4TE5MK7",  # 10 characters
        "1EGATE5MK73",  # position 4 numeric
        "1EG4TE5M173",  # position 9 alphabetic
        "1EG4-TE5MK73",  # dashes only as 4-3-4
        "1EG4TE5MK7O",  # O never used, position 11 numeric
    ],
)
def test_mbi_format_errors(bad: str) -> None:
    with pytest.raises(InvalidIdentifier) as refused:
        normalise_mbi(bad)
    assert bad.replace("-", "") not in str(refused.value)  # patient data never echoed


def test_ble_address_normalised() -> None:
    assert normalise_ble_address("a4:c1:38:12:34:56") == "A4:C1:38:12:34:56"
    assert normalise_ble_address("A4C138123456") == "A4:C1:38:12:34:56"
    with pytest.raises(InvalidIdentifier):
        normalise_ble_address("A4:C1:38:12:34")


# reference/cellular-and-logistics.md §3.3 (tracking_number_data and drogher test numbers).
VALID_TRACKING = [
    (Carrier.UPS, "1Z5R89390357567127"),
    (Carrier.USPS, "9400111201080805483016"),
    (Carrier.USPS, "03071790000523483741"),
    (Carrier.FEDEX, "986578788855"),
    (Carrier.FEDEX, "568283610012734"),
]
INVALID_TRACKING = [
    (Carrier.UPS, "1Z1111111111111111"),
    (Carrier.FEDEX, "996578788855"),
    (Carrier.UPS, "9400111201080805483016"),  # a USPS number is not a UPS number
    (Carrier.USPS, "1Z5R89390357567127"),
    (Carrier.FEDEX, "12345"),
]


@pytest.mark.parametrize(("carrier", "number"), VALID_TRACKING)
def test_valid_tracking_numbers(carrier: Carrier, number: str) -> None:
    spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    assert normalise_tracking_number(carrier, spaced.lower()) == number


@pytest.mark.parametrize(("carrier", "number"), INVALID_TRACKING)
def test_invalid_tracking_numbers(carrier: Carrier, number: str) -> None:
    with pytest.raises(InvalidTrackingNumber):
        normalise_tracking_number(carrier, number)


@pytest.mark.parametrize(("carrier", "number"), VALID_TRACKING)
def test_every_other_check_digit_is_refused(carrier: Carrier, number: str) -> None:
    for digit in "0123456789":
        if digit != number[-1]:
            with pytest.raises(InvalidTrackingNumber):
                normalise_tracking_number(carrier, number[:-1] + digit)


def test_usps_label_barcode_routing_prefix_is_stripped() -> None:
    assert normalise_tracking_number(Carrier.USPS, "42080202" + "9400111201080805483016") == "9400111201080805483016"


@given(st.text(max_size=40))
def test_any_text_is_an_mbi_or_a_typed_error(text: str) -> None:
    try:
        mbi = normalise_mbi(text)
    except InvalidIdentifier:
        return
    assert len(mbi) == 11
    assert normalise_mbi(mbi) == mbi


@given(st.sampled_from(Carrier), st.text(alphabet="0123456789 1ZABCXYZ-", max_size=40))
def test_any_text_is_a_tracking_number_or_a_typed_error(carrier: Carrier, text: str) -> None:
    try:
        number = normalise_tracking_number(carrier, text)
    except InvalidTrackingNumber:
        return
    assert normalise_tracking_number(carrier, number) == number
