"""The screening record in the reader's words (issue 14, labels): each question by its protocol
wording, answers as yes/no, labs by name with their unit, and why a criterion is not met as a
list of facts ("Histologically confirmed primary rectal adenocarcinoma: not met (answer: no)")
instead of stored codes ("rectal_adenocarcinoma = False").

The stored record keeps its codes (the API and the hashes read them); this is only how the admin
shows it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from randomization import eligibility as el
from randomization.services import screening_window_days
from trialsite import labs
from trialsite import selectors as registry

# Values the service computes (they are not questions of the form).
COMPUTED_LABELS = {
    "age_years": gettext_lazy("Age at consent"),
    "creatinine_clearance_ml_min": gettext_lazy("Cockcroft–Gault CrCl"),
}
COMPUTED_UNITS = {"age_years": gettext_lazy("years"), "creatinine_clearance_ml_min": "mL/min"}


def _chinese(language: str | None = None) -> bool:
    return (language or get_language() or "en").lower().startswith("zh")


def wording(item: dict[str, Any], language: str | None = None) -> str:
    """A criterion's or factor's text in the reader's language ("" if it has none)."""
    text = item.get("text_zh") if _chinese(language) else None
    return str(text or item.get("text") or "")


def question_texts(definition: dict[str, Any], language: str | None = None) -> dict[str, str]:
    """Field code → the question as the protocol words it: the criterion that reads the field
    (its first one), else the stratification factor's own text."""
    texts: dict[str, str] = {}
    for kind in ("inclusion", "exclusion"):
        for criterion in definition.get("eligibility", {}).get(kind, []):
            rule = criterion["rule"]
            for sub in rule.get("rules", [rule]):
                if "field" in sub and wording(criterion, language):
                    texts.setdefault(sub["field"], wording(criterion, language))
    for factor in definition.get("randomization", {}).get("factors", []):
        if wording(factor, language):
            texts.setdefault(factor["code"], wording(factor, language))
    return texts


def exclusion_fields(definition: dict[str, Any]) -> list[str]:
    """The yes/no questions of the exclusion criteria (each must be answered "no")."""
    out: list[str] = []
    for criterion in definition.get("eligibility", {}).get("exclusion", []):
        rule = criterion["rule"]
        for sub in rule.get("rules", [rule]):
            if sub.get("type") == "boolean" and "field" in sub and sub["field"] not in out:
                out.append(sub["field"])
    return out


def question_label(definition: dict[str, Any], field: str) -> str:
    if field in COMPUTED_LABELS:
        return str(COMPUTED_LABELS[field])
    return question_texts(definition).get(field) or field


def number(value: Any) -> str:
    """A stored decimal without its padding ("180.000" → "180", "1.50" → "1.5")."""
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = format(d.normalize(), "f")
    return text


def answer(value: Any) -> str:
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    if value is None or value == "":
        return "—"
    return number(value)


def lab_value(analyte: str, value: Any, uln: Any = None) -> str:
    spec = labs.ANALYTES.get(analyte)
    unit = labs.unit_label(spec.unit) if spec else ""
    text = f"{number(value)} {unit}".strip()
    if uln not in (None, ""):
        text += " " + _("(ULN %(uln)s)") % {"uln": number(uln)}
    return text


def fact_text(fact: dict[str, Any], criterion_text: str, definition: dict[str, Any]) -> str:
    """One fact a criterion was decided on, as the reader says it."""
    if "analyte" in fact:
        name = labs.analyte_label(fact["analyte"])
        if fact.get("value") is None:
            return _("%(name)s: no result in the screening window") % {"name": name}
        return f"{name}: {lab_value(fact['analyte'], fact['value'], fact.get('uln'))}"
    field = fact.get("field", "")
    label = question_label(definition, field)
    if fact.get("value") is None:
        if field in COMPUTED_LABELS:
            return _("%(name)s: not computed (missing data)") % {"name": label}
        return _("%(name)s: not answered") % {"name": label}
    shown = answer(fact["value"])
    if field in COMPUTED_UNITS:
        shown = f"{shown} {COMPUTED_UNITS[field]}"
    if label == criterion_text:
        return _("answer: %(answer)s") % {"answer": shown}
    return f"{label}: {shown}"


def reasons(criteria: list[dict[str, Any]], definition: dict[str, Any]) -> list[str]:
    """Each criterion not met or not assessable, one line each, in the reader's language."""
    out = []
    for criterion in criteria:
        if criterion["status"] == el.MET:
            continue
        text = wording(criterion) or str(criterion.get("code", ""))
        facts = criterion.get("facts", [])
        if criterion["status"] == el.NOT_ASSESSABLE:
            missing = [f for f in facts if f.get("value") is None] or facts
            detail = "; ".join(fact_text(f, text, definition) for f in missing)
            out.append(_("%(criterion)s: not assessable (%(facts)s)") % {"criterion": text, "facts": detail})
        else:
            detail = "; ".join(fact_text(f, text, definition) for f in facts)
            out.append(_("%(criterion)s: not met (%(values)s)") % {"criterion": text, "values": detail})
    return out


def screening_inputs(participant: Any, *, assessed_on: dt.date) -> list[dict[str, Any]]:
    """What screening_assessment_record will read for `participant` on `assessed_on`, in the
    reader's words, before it is submitted: the consent date (age), the latest weight and each
    lab the criteria use, within the protocol's screening window; `value` None is missing."""
    definition = participant.protocol_version.definition
    oldest = assessed_on - dt.timedelta(days=screening_window_days(definition))
    rows: list[dict[str, Any]] = [
        {
            "label": _("Consent date (for the age at consent)"),
            "value": participant.consent_date.isoformat() if participant.consent_date else None,
            "on": None,
        }
    ]
    weight = registry.latest_measurement(participant, "weight", on_or_before=assessed_on)
    rows.append(
        {
            "label": _("Weight (for the Cockcroft–Gault CrCl)"),
            "value": f"{number(weight.value)} kg" if weight and weight.measured_on >= oldest else None,
            "on": weight.measured_on if weight and weight.measured_on >= oldest else None,
        }
    )
    latest = registry.latest_labs(participant, on_or_before=assessed_on)
    used = el.rule_analytes(definition.get("eligibility", {}))
    for code in [c for c in labs.ANALYTES if c in used]:
        row = latest.get(code)
        fresh = row is not None and row.collected_on >= oldest
        rows.append(
            {
                "label": labs.analyte_label(code),
                "value": lab_value(code, row.value, row.uln) if row is not None and fresh else None,
                "on": row.collected_on if row is not None and fresh else None,
            }
        )
    return rows
