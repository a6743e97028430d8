"""Input fields of the API's serializers. Numbers are bounded before conversion
(trialsite/numbers.py): use DecimalIn and IntegerIn for every number a client sends
(tests/security/test_input_bounds.py holds every input serializer to it)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trialsite import labs, numbers


class DecimalIn(serializers.DecimalField):
    """A DecimalField that refuses "1e999999999", "NaN" or 10,000 digits before converting."""

    def __init__(self, *, max_digits: int, decimal_places: int, **kwargs: Any) -> None:
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        assert self.max_digits is not None and self.decimal_places is not None
        try:
            numbers.parse_decimal(
                data.strip() if isinstance(data, str) else data,
                max_digits=self.max_digits,
                decimal_places=self.decimal_places,
            )
        except numbers.NumberError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from exc
        return super().to_internal_value(data)


class IntegerIn(serializers.IntegerField):
    """An IntegerField that must have both bounds and checks them before converting."""

    def __init__(self, *, min_value: int, max_value: int, **kwargs: Any) -> None:
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        assert self.min_value is not None and self.max_value is not None
        try:
            return numbers.parse_int(data, min_value=self.min_value, max_value=self.max_value)
        except numbers.NumberError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from exc


class UnitIn(serializers.ChoiceField):
    """A lab unit, one of the catalogue's codes; other spellings of the same unit ("µmol/L",
    "μmol/L", "×10⁹/L", "x10^9/L", "10*9/L") are accepted and normalised first."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=labs.UNIT_CHOICES, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(labs.normalize_unit(data) if isinstance(data, str) else data)


@extend_schema_field({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "07:30:00"})
class LocalTimeField(serializers.TimeField):
    """A wall-clock time at a site, in the site's time zone ("07:30:00"). The schema says so with
    a pattern: JSON Schema's "time" format (RFC 3339) requires a UTC offset, which a site's
    opening hours do not have."""
