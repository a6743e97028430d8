"""Eligibility rules of a protocol definition, evaluated on a screening assessment. No Django.

Rule grammar (trialsite/protocols/schema.json, `$defs.rule`):
- ``range``: a numeric field of the assessment within ``min`` / ``max`` (inclusive) or below
  ``max_exclusive``;
- ``boolean``: a yes/no field equal to ``expected``;
- ``lab``: the latest lab value of ``analyte`` (canonical unit) within the same bounds;
- ``lab_uln``: the lab value at most ``max_times_uln`` × the site's upper limit of normal;
- ``any_of``: at least one sub-rule met (e.g. creatinine ≤ 1.5×ULN **or** CrCl ≥ 50 mL/min).

A missing value makes a rule "not assessable", never "met": an assessment is eligible only when
every criterion is met, not eligible when any is not met, and otherwise not assessable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MET = "met"
NOT_MET = "not_met"
NOT_ASSESSABLE = "not_assessable"

ELIGIBLE = "eligible"
NOT_ELIGIBLE = "not_eligible"


@dataclass(frozen=True)
class Lab:
    value: Decimal
    uln: Decimal | None = None


@dataclass(frozen=True)
class RuleOutcome:
    status: str
    # What was compared, for the reason shown to the user: e.g. {"field": "ecog", "value": 2, "max": 1}.
    facts: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class CriterionResult:
    code: str
    kind: str  # "inclusion" or "exclusion"
    status: str
    text: str
    text_zh: str
    facts: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind,
            "status": self.status,
            "text": self.text,
            "text_zh": self.text_zh,
            "facts": [dict(f) for f in self.facts],
        }


@dataclass(frozen=True)
class Result:
    outcome: str
    criteria: tuple[CriterionResult, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> list[CriterionResult]:
        return [c for c in self.criteria if c.status != MET]


def _num(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _bounds(rule: Mapping[str, Any], value: Decimal) -> bool:
    if "min" in rule and value < Decimal(str(rule["min"])):
        return False
    if "max" in rule and value > Decimal(str(rule["max"])):
        return False
    return not ("max_exclusive" in rule and value >= Decimal(str(rule["max_exclusive"])))


def _limits(rule: Mapping[str, Any]) -> dict[str, Any]:
    return {k: rule[k] for k in ("min", "max", "max_exclusive", "max_times_uln", "expected") if k in rule}


def evaluate_rule(rule: Mapping[str, Any], fields: Mapping[str, Any], labs: Mapping[str, Lab]) -> RuleOutcome:
    kind = rule["type"]
    if kind == "range":
        value = _num(fields.get(rule["field"]))
        facts = {"field": rule["field"], "value": None if value is None else str(value), **_limits(rule)}
        if value is None:
            return RuleOutcome(NOT_ASSESSABLE, (facts,))
        return RuleOutcome(MET if _bounds(rule, value) else NOT_MET, (facts,))
    if kind == "boolean":
        raw = fields.get(rule["field"])
        facts = {"field": rule["field"], "value": raw, **_limits(rule)}
        if not isinstance(raw, bool):
            return RuleOutcome(NOT_ASSESSABLE, (facts,))
        return RuleOutcome(MET if raw is rule["expected"] else NOT_MET, (facts,))
    if kind == "lab":
        lab = labs.get(rule["analyte"])
        facts = {"analyte": rule["analyte"], "value": None if lab is None else str(lab.value), **_limits(rule)}
        if lab is None:
            return RuleOutcome(NOT_ASSESSABLE, (facts,))
        return RuleOutcome(MET if _bounds(rule, lab.value) else NOT_MET, (facts,))
    if kind == "lab_uln":
        lab = labs.get(rule["analyte"])
        facts = {
            "analyte": rule["analyte"],
            "value": None if lab is None else str(lab.value),
            "uln": None if lab is None or lab.uln is None else str(lab.uln),
            **_limits(rule),
        }
        if lab is None or lab.uln is None or lab.uln <= 0:
            return RuleOutcome(NOT_ASSESSABLE, (facts,))
        limit = Decimal(str(rule["max_times_uln"])) * lab.uln
        return RuleOutcome(MET if lab.value <= limit else NOT_MET, (facts,))
    if kind == "any_of":
        outcomes = [evaluate_rule(sub, fields, labs) for sub in rule["rules"]]
        all_facts = tuple(f for o in outcomes for f in o.facts)
        if any(o.status == MET for o in outcomes):
            return RuleOutcome(MET, all_facts)
        if any(o.status == NOT_ASSESSABLE for o in outcomes):
            return RuleOutcome(NOT_ASSESSABLE, all_facts)
        return RuleOutcome(NOT_MET, all_facts)
    raise ValueError(f"unknown rule type {kind!r}")


def evaluate(eligibility: Mapping[str, Any], fields: Mapping[str, Any], labs: Mapping[str, Lab]) -> Result:
    """Evaluate every inclusion and exclusion criterion of a definition's `eligibility` section."""
    results: list[CriterionResult] = []
    for kind in ("inclusion", "exclusion"):
        for criterion in eligibility.get(kind, []):
            outcome = evaluate_rule(criterion["rule"], fields, labs)
            results.append(
                CriterionResult(
                    code=criterion["code"],
                    kind=kind,
                    status=outcome.status,
                    text=criterion["text"],
                    text_zh=criterion.get("text_zh", criterion["text"]),
                    facts=outcome.facts,
                )
            )
    if any(r.status == NOT_MET for r in results):
        outcome_name = NOT_ELIGIBLE
    elif any(r.status == NOT_ASSESSABLE for r in results):
        outcome_name = NOT_ASSESSABLE
    else:
        outcome_name = ELIGIBLE
    return Result(outcome_name, tuple(results))


def rule_fields(eligibility: Mapping[str, Any]) -> dict[str, str]:
    """The assessment fields the rules read, with their kind ("boolean" or "number")."""
    out: dict[str, str] = {}

    def walk(rule: Mapping[str, Any]) -> None:
        if rule["type"] == "any_of":
            for sub in rule["rules"]:
                walk(sub)
        elif rule["type"] == "boolean":
            out[rule["field"]] = "boolean"
        elif rule["type"] == "range":
            out[rule["field"]] = "number"

    for kind in ("inclusion", "exclusion"):
        for criterion in eligibility.get(kind, []):
            walk(criterion["rule"])
    return out


def rule_analytes(eligibility: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()

    def walk(rule: Mapping[str, Any]) -> None:
        if rule["type"] == "any_of":
            for sub in rule["rules"]:
                walk(sub)
        elif rule["type"] in ("lab", "lab_uln"):
            out.add(rule["analyte"])

    for kind in ("inclusion", "exclusion"):
        for criterion in eligibility.get(kind, []):
            walk(criterion["rule"])
    return out


# Fields the service computes; a nurse never types them.
COMPUTED_FIELDS = frozenset({"age_years", "creatinine_clearance_ml_min"})


def age_in_years(birth_date: dt.date, on: dt.date) -> int:
    """Completed years of age on `on` (a birthday on 29 February counts from 1 March)."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def stratification_levels(factor_codes: Iterable[str], fields: Mapping[str, Any], site_code: str) -> dict[str, str]:
    """A participant's level of each stratification factor: `site` is the site code; a yes/no
    finding is "yes"/"no"; a number is its integer text (ECOG 0 → "0"). Missing ones are left out."""
    out: dict[str, str] = {}
    for code in factor_codes:
        if code == "site":
            out[code] = site_code
            continue
        value = fields.get(code)
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            out[code] = "yes" if value else "no"
        elif isinstance(value, int | float | Decimal) and Decimal(str(value)) == Decimal(str(value)).to_integral():
            out[code] = str(int(value))
        else:
            out[code] = str(value)
    return out
