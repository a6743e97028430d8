"""Numbers from outside are bounded before conversion (trialsite/numbers.py): pure tests."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trialsite import numbers

# The inputs of issue 12 §3 and their relatives: huge and tiny exponents, many digits, the
# special values Decimal() and float() accept, and look-alikes of digits.
EVIL = [
    "1e999999999",
    "-1e999999999",
    "1E+999999999",
    "9" * 10_000,
    "1e-999999",
    "0." + "0" * 5000 + "1",
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1_000",
    "١٢",  # Arabic-Indic digits: Decimal() reads them as 12
    "12 34",
    "",
    "0x10",
    float("inf"),
    float("nan"),
    10**5000,
    True,
    [],
    {"a": 1},
    None,
]


@pytest.mark.parametrize("value", EVIL, ids=lambda v: type(v).__name__ if isinstance(v, int) else repr(v)[:20])
def test_evil_numbers_are_refused_at_once(value: object) -> None:
    started = time.perf_counter()
    with pytest.raises(numbers.NumberError) as info:
        numbers.parse_decimal(value, max_digits=12, decimal_places=3)
    assert time.perf_counter() - started < 0.05
    assert str(info.value)  # a message for the field


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("61.5", Decimal("61.5")),
        (" 170 ", Decimal("170")),
        ("1.50", Decimal("1.50")),  # trailing zeros do not count as decimal places
        ("1.5e2", Decimal("150")),
        (80, Decimal(80)),
        (1.9, Decimal("1.9")),
        (Decimal("0.001"), Decimal("0.001")),
        ("-3", Decimal("-3")),
        ("999999999.999", Decimal("999999999.999")),
    ],
)
def test_ordinary_numbers_pass(value: object, expected: Decimal) -> None:
    assert numbers.parse_decimal(value, max_digits=12, decimal_places=3) == expected


def test_the_messages_say_what_is_wrong() -> None:
    with pytest.raises(numbers.NumberError, match="below 1000000000"):
        numbers.parse_decimal("1e999999999", max_digits=12, decimal_places=3)
    with pytest.raises(numbers.NumberError, match="at most 3 decimal places"):
        numbers.parse_decimal("1e-999999", max_digits=12, decimal_places=3)
    with pytest.raises(numbers.NumberError, match="at most 32 characters"):
        numbers.parse_decimal("9" * 10_000)
    with pytest.raises(numbers.NumberError, match="whole number"):
        numbers.parse_int("1.5", min_value=0, max_value=10)
    with pytest.raises(numbers.NumberError, match="from 1 to 99"):
        numbers.parse_int("100", min_value=1, max_value=99)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**8), max_value=10**8))
def test_every_bounded_decimal_round_trips(value: Decimal) -> None:
    assert numbers.parse_decimal(str(value), max_digits=12, decimal_places=3) == value


@given(st.text(max_size=40))
def test_any_text_is_a_number_or_a_number_error(text: str) -> None:
    try:
        number = numbers.parse_decimal(text, max_digits=12, decimal_places=3)
    except numbers.NumberError:
        return
    assert number.is_finite() and abs(number) < 10**9
