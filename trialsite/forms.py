"""Form fields shared by the admin pages: numbers bounded before conversion (trialsite/numbers.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from trialsite import numbers


class BoundedDecimalField(forms.DecimalField):
    """forms.DecimalField that refuses "1e999999999", "NaN" or 10,000 digits before converting
    (Django's own converts first and checks the digits after)."""

    def __init__(self, *, max_digits: int = 15, decimal_places: int = 6, **kwargs: Any) -> None:
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]  # the stubs say int
        if value in self.empty_values:
            return None
        assert self.max_digits is not None and self.decimal_places is not None
        try:
            return numbers.parse_decimal(value, max_digits=self.max_digits, decimal_places=self.decimal_places)
        except numbers.NumberError as exc:
            raise ValidationError(str(exc), code="invalid") from exc
