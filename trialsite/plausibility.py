"""What can't be true, refused with a message that names the likely mistake: body measurements
(bounds and units, trialsite/ranges.py), the swap of a height and a weight, and the dates of the
registry and the screening. One home for these rules: the registry's models and services, the
randomization and dosing services call them, so the admin and the API refuse the same values.
Lab values: trialsite/labs.py (`implausibility`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Protocol

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trialsite import ranges
from trialsite.errors import InvalidInput

MEASUREMENT_NAMES = {"height": gettext_lazy("Height"), "weight": gettext_lazy("Weight")}
UNIT_NAMES = {
    "m": gettext_lazy("metres"),
    "mm": gettext_lazy("millimetres"),
    "in": gettext_lazy("inches"),
    "g": gettext_lazy("grams"),
    "lb": gettext_lazy("pounds"),
}


def _plain(value: Decimal) -> str:
    """1.750 → "1.75", 68000 → "68000" (no exponent, no trailing zeros)."""
    return format(value.normalize(), "f")


def measurement_implausibility(kind: str, value: Decimal) -> str | None:
    """Why a height (cm) or weight (kg) can't be true, naming the likely slip: another unit
    (1.75 → metres), or the other measurement (a "height" of 70 is a weight); None if plausible."""
    bounds = ranges.MEASUREMENT_RANGES[kind]
    if value in bounds:
        return None
    params = {
        "kind": MEASUREMENT_NAMES[kind],
        "value": _plain(value),
        "unit": bounds.unit,
        "low": _plain(bounds.low),
        "high": _plain(bounds.high),
    }
    hints = [
        _("%(unit_name)s (%(value)s %(unit)s = %(converted)s %(canonical)s)")
        % {
            "unit_name": UNIT_NAMES[unit],
            "value": _plain(value),
            "unit": unit,
            "converted": _plain(converted.quantize(Decimal(1))),
            "canonical": bounds.unit,
        }
        for unit, converted in ranges.unit_slips(kind, value)
    ]
    if kind == "height" and value in ranges.WEIGHT_KG:
        hints.append(_("the weight in kg"))
    if not hints:
        return _("%(kind)s %(value)s %(unit)s is not plausible (%(low)s–%(high)s %(unit)s).") % params
    params["hints"] = _(" or ").join(hints)
    return (
        _("%(kind)s %(value)s %(unit)s is not plausible (%(low)s–%(high)s %(unit)s); did you enter %(hints)s?") % params
    )


def swap_message(height_cm: Decimal, weight_kg: Decimal) -> str | None:
    """The message for a height and weight that look transposed (ranges.looks_swapped), or None."""
    if not ranges.looks_swapped(height_cm, weight_kg):
        return None
    return _(
        "Height %(height)s cm and weight %(weight)s kg give a BMI of %(bmi)s: "
        "they look swapped. Check and enter them again."
    ) % {"height": _plain(height_cm), "weight": _plain(weight_kg), "bmi": _plain(ranges.bmi(height_cm, weight_kg))}


# --- Dates --------------------------------------------------------------------------------------

DATE_NAMES = {
    "birth_date": gettext_lazy("The birth date"),
    "consent_date": gettext_lazy("The consent date"),
    "measured_on": gettext_lazy("The measurement date"),
    "collected_on": gettext_lazy("The collection date"),
    "assessed_on": gettext_lazy("The assessment date"),
    "died_on": gettext_lazy("The date of death"),
}


def age_in_years(birth_date: dt.date, on: dt.date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def birth_date_error(birth_date: dt.date, *, today: dt.date) -> str | None:
    """A birth date must be in the past and give an age of at most ranges.MAX_AGE_YEARS."""
    params = {"what": DATE_NAMES["birth_date"], "date": birth_date.isoformat()}
    if birth_date >= today:
        return _("%(what)s %(date)s is not in the past: check the year.") % params
    age = age_in_years(birth_date, today)
    if age > ranges.MAX_AGE_YEARS:
        return _("%(what)s %(date)s gives an age of %(age)s years: check the year.") % {**params, "age": age}
    return None


def date_error(
    field: str,
    on: dt.date | None,
    *,
    today: dt.date,
    birth_date: dt.date | None = None,
    consent_date: dt.date | None = None,
) -> str | None:
    """A clinical date (consent, measurement, lab, assessment, death) can't be in the future,
    before the birth date, or, where `consent_date` is given, before the consent. A date not
    given (None) passes."""
    if on is None:
        return None
    params = {"what": DATE_NAMES[field], "date": on.isoformat()}
    if on > today:
        return _("%(what)s %(date)s is in the future (today is %(today)s): check the year.") % {
            **params,
            "today": today.isoformat(),
        }
    if birth_date is not None and on < birth_date:
        return _("%(what)s %(date)s is before the birth date (%(birth)s): check the year.") % {
            **params,
            "birth": birth_date.isoformat(),
        }
    if consent_date is not None and on < consent_date:
        return _("%(what)s %(date)s is before the consent date (%(consent)s): check the date.") % {
            **params,
            "consent": consent_date.isoformat(),
        }
    return None


class Dated(Protocol):
    birth_date: dt.date
    consent_date: dt.date | None


def participant_date_error(
    field: str, on: dt.date | None, participant: Dated, *, today: dt.date, after_consent: bool = False
) -> str | None:
    """date_error for a date of `participant`: after the birth, and (`after_consent`) the consent."""
    consent = participant.consent_date if after_consent else None
    return date_error(field, on, today=today, birth_date=participant.birth_date, consent_date=consent)


def check(errors: dict[str, str | None]) -> None:
    """Raise InvalidInput with every field's message (fields whose message is None pass)."""
    found = {field: [message] for field, message in errors.items() if message}
    if found:
        raise InvalidInput(next(iter(found.values()))[0], errors=found)
