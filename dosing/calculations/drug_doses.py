"""One drug's dose: the protocol's drug definition as typed values, the dose-rounding rule,
band tables and tablets, and the dose at a dose level. Pure Python (no Django).

Capecitabine-like bands and the toxicity table: dosing/tables.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dosing import tables
from dosing.calculations.formulas import CalculationError, D, _, format_number, round_half_up, round_to_step
from dosing.error_codes import DosingErrorCode
from trialsite import courses
from trialsite.phrases import Phrase, phrase

# Phrases stored in a sheet's content (see formulas: in English, shown by dosing.wording).
ROUNDING_EXACT = _("0.1 mg")
ROUNDING_EXACT_OVER_LIMIT = _("0.1 mg (step rounding would exceed the deviation limit)")
ROUNDING_STEP = _("nearest %(step)s mg")
ROUNDING_FLAT = _("flat dose")
ROUNDING_BAND = _("BSA band %(band)s (%(table)s)")
LEVEL_DISCONTINUED = _("discontinued")
# The unit of a dose per basis unit (drugs.<code>.basis), as the sheet, the PDF and the admin write it.
BASIS_UNITS = {"mg_per_m2": "mg/m²", "mg_per_kg": "mg/kg", "flat": "mg"}


@dataclass(frozen=True)
class DrugSpec:
    """One drug of the protocol definition (`drugs.<code>`), as typed values."""

    code: str
    name: str
    name_zh: str
    route: str
    basis: str  # mg_per_m2 | mg_per_kg | flat
    dose: Decimal  # per m², per kg or flat, per administration
    frequency: str
    days: tuple[int, ...]
    administrations_per_cycle: int
    tablet_strengths_mg: tuple[int, ...] = ()
    band_table: str | None = None
    # The label's dose modification for toxicity (dosing.tables.TOXICITY_TABLES), by code.
    toxicity_table: str | None = None
    # Dose levels, standard first. Capecitabine: percentages of the band table; others: the dose
    # per basis unit at each level (oxaliplatin 130, 100 mg/m²).
    levels: tuple[Decimal, ...] = ()
    levels_are_pct: bool = False
    rounding_step_mg: Decimal | None = None
    rounding_max_deviation_pct: Decimal | None = None
    rounding_source: str = ""
    reducible: bool = True
    # An oral drug's course in the cycle (trialsite.courses: first and last administration).
    course: Mapping[str, Any] | None = None

    @classmethod
    def from_definition(cls, code: str, data: Mapping[str, Any]) -> DrugSpec:
        rounding = data.get("rounding") or {}
        if "dose_levels_pct" in data:
            levels = tuple(D(str(x)) for x in data["dose_levels_pct"])
            pct = True
        else:
            key = {"mg_per_m2": "dose_levels_mg_per_m2", "mg_per_kg": "dose_levels_mg_per_kg"}.get(
                data["basis"], "dose_levels_mg"
            )
            levels = tuple(D(str(x)) for x in data.get(key, [data["dose"]]))
            pct = False
        return cls(
            code=code,
            name=data.get("name", code),
            name_zh=data.get("name_zh", ""),
            route=data["route"],
            basis=data["basis"],
            dose=D(str(data["dose"])),
            frequency=data.get("frequency", ""),
            days=tuple(data["days"]),
            administrations_per_cycle=int(data.get("administrations_per_cycle", len(data["days"]))),
            tablet_strengths_mg=tuple(sorted(data.get("tablet_strengths_mg", []))),
            band_table=data.get("band_table"),
            toxicity_table=data.get("toxicity_table"),
            levels=levels,
            levels_are_pct=pct,
            rounding_step_mg=D(str(rounding["step_mg"])) if "step_mg" in rounding else None,
            rounding_max_deviation_pct=(
                D(str(rounding["max_deviation_pct"])) if "max_deviation_pct" in rounding else None
            ),
            rounding_source=str(rounding.get("source", "")).strip(),
            reducible=bool(data.get("reducible", len(levels) > 1)),
            course=courses.administration_course(data),
        )


def round_dose(calculated_mg: Decimal, spec: DrugSpec) -> tuple[Decimal, Phrase]:
    """The one dose-rounding rule, per drug as protocol data (`drugs.<code>.rounding`).

    With a step (oxaliplatin: 5 mg) the dose goes to the nearest multiple, halves up, unless that
    moves it more than `max_deviation_pct` from the calculated dose; then (very small doses) it is
    rounded to the nearest 0.1 mg instead. Without a rule: the nearest 0.1 mg. Returns the dose and
    a note saying which rule applied."""
    exact = round_half_up(calculated_mg, 1)
    if spec.rounding_step_mg is None:
        return exact, phrase(ROUNDING_EXACT)
    stepped = round_to_step(calculated_mg, spec.rounding_step_mg)
    limit = spec.rounding_max_deviation_pct
    if limit is not None and calculated_mg > 0 and abs(stepped - calculated_mg) * 100 / calculated_mg > limit:
        return exact, phrase(ROUNDING_EXACT_OVER_LIMIT)
    return stepped, phrase(ROUNDING_STEP, step=format_number(spec.rounding_step_mg))


def fewest_tablets(dose_mg: Decimal | int, strengths: Sequence[int]) -> dict[int, int] | None:
    """The combination of tablets that makes exactly `dose_mg` with the fewest tablets, or None.
    (Capecitabine: 150 mg and 500 mg; capecitabine.md: "a reduced dose is given with the fewest
    tablets that make it".) Ties go to more of the larger strength."""
    target = int(D(dose_mg))
    if D(dose_mg) != target or target < 0:
        return None
    ordered = sorted(strengths, reverse=True)
    best: tuple[int, dict[int, int]] | None = None

    def search(i: int, remaining: int, used: dict[int, int]) -> None:
        nonlocal best
        if remaining == 0:
            count = sum(used.values())
            if best is None or count < best[0]:
                best = (count, dict(used))
            return
        if i == len(ordered):
            return
        strength = ordered[i]
        for n in range(remaining // strength, -1, -1):
            used[strength] = n
            search(i + 1, remaining - n * strength, used)
        used.pop(strength, None)

    search(0, target, {})
    if best is None:
        return None
    return {s: best[1].get(s, 0) for s in sorted(strengths)}


@dataclass(frozen=True)
class DoseResult:
    drug: str
    dose_mg: Decimal
    calculated_mg: Decimal | None
    basis: str
    dose_per_unit: Decimal  # the level's mg/m², mg/kg or flat mg
    level: int
    level_label: str
    rounding: Phrase  # which rounding rule applied, a stored phrase
    tablets: dict[int, int] | None = None
    tablets_per_cycle: dict[int, int] | None = None
    bsa_band: str | None = None
    capped: bool = False
    # What the per-unit dose was multiplied by: the BSA (m², capped if so) or the weight (kg).
    multiplier: Decimal | None = None


def level_label(spec: DrugSpec, level: int) -> str:
    if level >= len(spec.levels):
        return LEVEL_DISCONTINUED
    return f"{format_number(spec.levels[level])} {level_unit(spec)}"


def level_unit(spec: DrugSpec) -> str:
    """The unit of the drug's dose levels: per cent of a band table's dose, or per basis unit."""
    return "%" if spec.levels_are_pct else BASIS_UNITS[spec.basis]


def drug_dose(
    spec: DrugSpec,
    *,
    level: int,
    bsa_m2: Decimal,
    weight_kg: Decimal,
    bsa_cap_m2: Decimal | None = None,
) -> DoseResult:
    """The dose of one administration at dose `level` (0 = standard).

    mg/m² uses the rounded BSA (capped at `bsa_cap_m2` when the trial sets a cap: off by default,
    ASCO Griggs 2012/2021); mg/kg the weight; flat is flat. Capecitabine-like drugs with a band
    table take the dose from the table (dosing/tables.py) and get tablets per administration and
    per cycle. A modified dose can never exceed the standard dose (checked here)."""
    if not 0 <= level < len(spec.levels):
        raise CalculationError(
            _("%(drug)s has no dose level %(level)s."), field="level", params={"drug": spec.name, "level": level}
        )
    capped = bsa_cap_m2 is not None and bsa_m2 > bsa_cap_m2
    used_bsa = bsa_cap_m2 if capped and bsa_cap_m2 is not None else bsa_m2
    if spec.band_table:
        table = tables.BAND_TABLES[spec.band_table]
        band = table.band_for(used_bsa)
        pct = spec.levels[level] if spec.levels_are_pct else D(100)
        dose = band.dose_at(pct)
        standard = band.dose_at(D(100))
        tablets = fewest_tablets(dose, spec.tablet_strengths_mg)
        if tablets is None:
            raise CalculationError(
                _("%(dose)s mg cannot be made from %(drug)s tablets."),
                field="dose",
                params={"dose": format_number(dose), "drug": spec.name},
            )
        per_cycle = {s: n * spec.administrations_per_cycle for s, n in tablets.items()}
        result = DoseResult(
            drug=spec.code,
            dose_mg=dose,
            calculated_mg=round_half_up(spec.dose * used_bsa * pct / 100, 1),
            basis=spec.basis,
            dose_per_unit=round_half_up(spec.dose * pct / 100, 1),
            level=level,
            level_label=level_label(spec, level),
            rounding=phrase(ROUNDING_BAND, band=band.label, table=table.code),
            tablets=tablets,
            tablets_per_cycle=per_cycle,
            bsa_band=band.label,
            capped=capped,
            multiplier=used_bsa,
        )
    else:
        per_unit = spec.levels[level] if not spec.levels_are_pct else spec.dose * spec.levels[level] / 100
        standard_unit = spec.levels[0] if not spec.levels_are_pct else spec.dose
        if spec.basis == "mg_per_m2":
            calculated = per_unit * used_bsa
            standard_calc = standard_unit * used_bsa
        elif spec.basis == "mg_per_kg":
            calculated = per_unit * weight_kg
            standard_calc = standard_unit * weight_kg
        else:
            calculated = per_unit
            standard_calc = standard_unit
        dose, note = round_dose(calculated, spec)
        standard, _note = round_dose(standard_calc, spec)
        result = DoseResult(
            drug=spec.code,
            dose_mg=dose,
            calculated_mg=round_half_up(calculated, 1) if spec.basis != "flat" else None,
            basis=spec.basis,
            dose_per_unit=per_unit,
            level=level,
            level_label=level_label(spec, level),
            rounding=note if spec.basis != "flat" else phrase(ROUNDING_FLAT),
            capped=capped,
            multiplier={"mg_per_m2": used_bsa, "mg_per_kg": weight_kg}.get(spec.basis),
        )
    if result.dose_mg > standard:
        # A modified dose can never exceed the standard dose (formulas.md, dose-error guards).
        raise CalculationError(
            _("The %(drug)s dose %(dose)s mg exceeds the standard dose %(standard)s mg."),
            field="dose",
            code=DosingErrorCode.DOSE_ABOVE_STANDARD,
            params={"drug": spec.name, "dose": format_number(result.dose_mg), "standard": format_number(standard)},
        )
    return result
