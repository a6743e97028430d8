"""Numbers that come from outside (API bodies, admin forms, protocol-driven findings), bounded in
length, magnitude and decimal places BEFORE anything converts or computes with them.

Why before: `Decimal("1e999999999")` is cheap, but `int()` of it builds a billion-digit integer
and `quantize()` of it raises; one such request stalled a web worker (issue 12 §3). Here the text
is at most `MAX_TEXT_LENGTH` ASCII characters, and the magnitude is read from the exponent
(`Decimal.adjusted()`, no arithmetic), so every refusal is immediate. Every door calls
`parse_decimal` (trialsite/api/fields.py, trialsite/forms.py, the services).
"""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal, InvalidOperation

from django.utils.translation import gettext as _

# "-1234567.123456e-3" is 18 characters; nothing a person or a laboratory system sends is longer.
MAX_TEXT_LENGTH = 32
# ASCII digits only (Decimal() would also take "١٢", "1_000" and "NaN"), an optional exponent.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,9})?", re.ASCII)
# Enough precision for any number of MAX_TEXT_LENGTH digits (or a 128-bit integer).
_EXACT = Context(prec=64)


class NumberError(ValueError):
    """A number refused before conversion; str() is the message for the field."""


def parse_decimal(value: object, *, max_digits: int = 15, decimal_places: int = 6) -> Decimal:
    """The Decimal that `value` (text, int, float or Decimal) stands for, or NumberError.

    At most `max_digits - decimal_places` digits before the point and `decimal_places` after it
    (trailing zeros do not count); NaN, infinities and booleans are refused."""
    number = _to_decimal(value)
    if not number.is_finite():
        raise NumberError(_("Enter a number."))
    whole_digits = max_digits - decimal_places
    if number and number.adjusted() >= whole_digits:
        raise NumberError(_("Enter a number below %(limit)s.") % {"limit": f"1{'0' * whole_digits}"})
    exponent = number.normalize(_EXACT).as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimal_places:
        if decimal_places == 0:
            raise NumberError(_("Enter a whole number."))
        raise NumberError(_("Enter at most %(n)s decimal places.") % {"n": decimal_places})
    return number


def parse_int(value: object, *, min_value: int, max_value: int) -> int:
    """A whole number within [min_value, max_value], bounded as parse_decimal bounds decimals."""
    # One digit more than the bounds have, so that 100 for 1–99 gets the range in its message.
    digits = max(len(str(abs(min_value))), len(str(abs(max_value)))) + 1
    number = int(parse_decimal(value, max_digits=digits, decimal_places=0))
    if not min_value <= number <= max_value:
        raise NumberError(_("Enter a whole number from %(low)s to %(high)s.") % {"low": min_value, "high": max_value})
    return number


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise NumberError(_("Enter a number."))
    if isinstance(value, Decimal):
        if value.is_finite() and len(value.as_tuple().digits) > MAX_TEXT_LENGTH:
            raise NumberError(_("Enter a number of at most %(n)s characters.") % {"n": MAX_TEXT_LENGTH})
        return value
    if isinstance(value, int):
        # A JSON number of thousands of digits arrives as an int: refuse it without printing it.
        if value.bit_length() > 128:
            raise NumberError(_("Enter a number of at most %(n)s characters.") % {"n": MAX_TEXT_LENGTH})
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    if not isinstance(value, str):
        raise NumberError(_("Enter a number."))
    text = value.strip()
    if len(text) > MAX_TEXT_LENGTH:
        raise NumberError(_("Enter a number of at most %(n)s characters.") % {"n": MAX_TEXT_LENGTH})
    if not _NUMBER.fullmatch(text):
        raise NumberError(_("Enter a number."))
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only what Decimal reads
        raise NumberError(_("Enter a number.")) from None
