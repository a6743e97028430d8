"""Reading and validating protocol definition files. No database access.

A definition is YAML (or JSON) validated against `protocols/schema.json`, plus the cross-field
checks a JSON schema cannot express. Errors name the place in the file, e.g.
``sites[2].infusion_chairs_per_day: 0 is less than the minimum of 1``.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import yaml

from trialsite import labs
from trialsite.courses import administration_course
from trialsite.errors import ProtocolDefinitionError

SCHEMA_PATH = Path(__file__).parent / "protocols" / "schema.json"


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse(text: str, *, source: str = "<string>") -> dict[str, Any]:
    """Parse and validate a definition; raise ProtocolDefinitionError listing every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProtocolDefinitionError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolDefinitionError(f"{source}: the file must hold a mapping at the top level.")
    problems: dict[str, list[str]] = {}
    for err in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        problems.setdefault(_where(err.absolute_path), []).append(_short(err))
    if not problems:
        for where, message in _semantic_problems(data):
            problems.setdefault(where, []).append(message)
    if problems:
        lines = "; ".join(f"{where}: {' / '.join(msgs)}" for where, msgs in problems.items())
        raise ProtocolDefinitionError(f"{source} is not a valid protocol definition: {lines}", errors=problems)
    return data


def _short(err: jsonschema.ValidationError) -> str:
    if err.validator == "oneOf" and isinstance(err.instance, dict):
        return f"rule of type {err.instance.get('type')!r} is not one of the known rule shapes"
    return err.message


def _semantic_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    arm_codes = [a["code"] for a in data["arms"]]
    if len(set(arm_codes)) != len(arm_codes):
        out.append(("arms", "arm codes must be unique"))
    site_codes = [s["code"] for s in data["sites"]]
    if len(set(site_codes)) != len(site_codes):
        out.append(("sites", "site codes must be unique"))
    for zone_where, zone in [("trial.time_zone", data["trial"]["time_zone"])] + [
        (f"sites[{i}].time_zone", s["time_zone"]) for i, s in enumerate(data["sites"])
    ]:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            out.append((zone_where, f"{zone!r} is not a known IANA time zone"))
    phase_codes = {p["code"] for p in data["phases"]}
    for arm in arm_codes:
        if arm not in data["regimens"]:
            out.append(("regimens", f"no regimen for arm {arm!r}"))
    for arm, phases in data["regimens"].items():
        if arm not in arm_codes:
            out.append((f"regimens.{arm}", "not an arm of this trial"))
        for phase, drugs in phases.items():
            if phase not in phase_codes:
                out.append((f"regimens.{arm}.{phase}", "not a phase of this trial"))
            for drug in drugs:
                if drug not in data["drugs"]:
                    out.append((f"regimens.{arm}.{phase}", f"drug {drug!r} is not defined under drugs"))
    for analyte, rr in data.get("default_reference_ranges", {}).items():
        if analyte not in labs.ANALYTES:
            out.append((f"default_reference_ranges.{analyte}", "not an analyte of the lab catalogue"))
            continue
        # The same rules as a ULN entered in the admin (a unit of the analyte, a plausible value).
        problems = labs.value_errors(analyte, labs.normalize_unit(rr["unit"]), {"uln": Decimal(str(rr["uln"]))})
        out.extend((f"default_reference_ranges.{analyte}", message) for message in problems.values())
    for code, drug in data["drugs"].items():
        if ("first_administration" in drug) != ("last_administration" in drug):
            out.append((f"drugs.{code}", "give both first_administration and last_administration, or neither"))
            continue
        course = administration_course(drug)
        if course is None:
            continue
        if course["administrations"] < 1:
            out.append((f"drugs.{code}.last_administration", "is before first_administration"))
        elif "administrations_per_cycle" in drug and drug["administrations_per_cycle"] != course["administrations"]:
            out.append(
                (
                    f"drugs.{code}.administrations_per_cycle",
                    f"{drug['administrations_per_cycle']} does not match first/last administration "
                    f"({course['administrations']} twice-daily administrations)",
                )
            )
    cumulative = [code for code, drug in data["drugs"].items() if drug.get("cumulative_dose")]
    if len(cumulative) > 1:
        out.append(("drugs", f"at most one drug has cumulative_dose (here: {', '.join(cumulative)})"))
    for i, rule in enumerate((data.get("dosing") or {}).get("renal_rules") or []):
        where = f"dosing.renal_rules[{i}]"
        drug = data["drugs"].get(rule["drug"])
        if drug is None:
            out.append((where, f"drug {rule['drug']!r} is not defined under drugs"))
            continue
        if "to_level" in rule:
            keys = ("dose_levels_pct", "dose_levels_mg_per_m2", "dose_levels_mg_per_kg", "dose_levels_mg")
            levels = [drug.get(key) for key in keys]
            known = [x for lv in levels if lv for x in lv[1:]]
            if rule["to_level"] not in known:
                out.append((where, f"to_level {rule['to_level']} is not a reduced dose level of {rule['drug']!r}"))
    for section in ("inclusion", "exclusion"):
        codes = [c["code"] for c in data["eligibility"][section]]
        if len(set(codes)) != len(codes):
            out.append((f"eligibility.{section}", "criterion codes must be unique"))
        for i, criterion in enumerate(data["eligibility"][section]):
            for analyte in _rule_analytes(criterion["rule"]):
                if analyte not in labs.ANALYTES:
                    out.append((f"eligibility.{section}[{i}].rule", f"unknown analyte {analyte!r}"))
    return out


def _rule_analytes(rule: dict[str, Any]) -> list[str]:
    if rule["type"] == "any_of":
        return [a for sub in rule["rules"] for a in _rule_analytes(sub)]
    return [rule["analyte"]] if "analyte" in rule else []


def canonical_sha256(data: dict[str, Any]) -> str:
    """SHA-256 of the definition's canonical JSON (sorted keys, no whitespace, UTF-8)."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProtocolDefinitionError(f"cannot read {path}: {exc.strerror}") from exc
    return parse(text, source=str(path))
