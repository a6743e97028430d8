"""Dose arithmetic: body-surface area, creatinine clearance, weights, dose by basis, rounding,
capecitabine banding and tablets, dose levels and modification rules. Pure Python (no Django):
every input is an argument and every amount is a Decimal.

Sources of the formulas: shared/reference/formulas.md (each function's docstring names the
paper); capecitabine bands and the toxicity table: dosing/tables.py.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dosing import tables
from trialsite import courses, ranges

D = Decimal
# 28 significant digits are plenty for BSA and doses; powers with fractional exponents are
# computed in a local context so that the caller's context is never changed.
_CTX = decimal.Context(prec=28, rounding=ROUND_HALF_UP)

BSA_FORMULAS: tuple[str, ...] = ("mosteller", "dubois", "haycock", "gehan_george", "boyd")
BSA_FORMULA_SOURCES: dict[str, str] = {
    "mosteller": "Mosteller, N Engl J Med 1987;317:1098",
    "dubois": "DuBois & DuBois, Arch Intern Med 1916;17:863",
    "haycock": "Haycock et al., J Pediatr 1978;93:62",
    "gehan_george": "Gehan & George, Cancer Chemother Rep 1970;54:225",
    "boyd": "Boyd, The Growth of the Surface Area of the Human Body, 1935",
}

# Plausibility bounds and the swap check (formulas.md, dose-error guards): one definition for
# the registry and the calculations, in trialsite/ranges.py. Outside them the value is refused.
HEIGHT_RANGE_CM = (ranges.HEIGHT_CM.low, ranges.HEIGHT_CM.high)
WEIGHT_RANGE_KG = (ranges.WEIGHT_KG.low, ranges.WEIGHT_KG.high)
BMI_WARN_RANGE = (D(16), D(45))


def _(message: str) -> str:
    """Marks a message for translation (xgettext keyword `_`); the Django layer translates it."""
    return message


# Phrases stored in a sheet's content (in English: the content is fingerprinted and must not
# depend on the reader). dosing.wording shows them in the reader's language.
ROUNDING_EXACT = _("0.1 mg")
ROUNDING_EXACT_OVER_LIMIT = _("0.1 mg (step rounding would exceed the deviation limit)")
ROUNDING_STEP = _("nearest %(step)s mg")
ROUNDING_FLAT = _("flat dose")
ROUNDING_BAND = _("BSA band %(band)s (%(table)s)")
LEVEL_DISCONTINUED = _("discontinued")
REASON_STANDARD = _("standard dose")
REASON_RENAL_WITHHELD = _("withheld: investigator's renal decision")
REASON_RENAL = _("renal function (CrCl %(crcl)s mL/min)")
REASON_RENAL_REDUCED = _("reduced by the investigator's renal decision (CrCl %(crcl)s mL/min)")
REASON_RENAL_CONFIRMED = _("full dose confirmed by the investigator (CrCl %(crcl)s mL/min)")
LAB_BELOW_MINIMUM = _("below the minimum")
LAB_NOT_IN_WINDOW = _("no result in the lab window")
RULE_GRADE_5 = _("grade 5")
RULE_CAPECITABINE = _("capecitabine toxicity table, grade %(grade)s, appearance %(appearance)s")
RULE_NOT_REDUCIBLE = _("%(drug)s: grade %(grade)s")
RULE_STEP_DOWN = _("%(drug)s: grade %(grade)s (one level down for grade ≥ 3)")
RULE_STEP_DOWN_DISCONTINUED = _(
    "%(drug)s: grade %(grade)s (one level down for grade ≥ 3), discontinued by the investigator"
)
RULE_STEP_DOWN_WITHHELD = _("%(drug)s: grade %(grade)s (one level down for grade ≥ 3), withheld this cycle")
# Longest first: a template that begins another one would also match the longer text.
RULE_TEMPLATES = (
    RULE_GRADE_5,
    RULE_CAPECITABINE,
    RULE_STEP_DOWN_DISCONTINUED,
    RULE_STEP_DOWN_WITHHELD,
    RULE_STEP_DOWN,
    RULE_NOT_REDUCIBLE,
)


class CalculationError(ValueError):
    """An input the calculation refuses (the services turn it into a 400 InvalidInput)."""

    def __init__(self, message: str, *, field: str, code: str = "invalid", params: Mapping[str, Any] | None = None):
        super().__init__(message % dict(params or {}) if params else message)
        self.template = message
        self.params = dict(params or {})
        self.field = field
        self.code = code


@dataclass(frozen=True)
class Warning:
    """A message for the sheet: `template % params` (the template is translatable)."""

    code: str
    template: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.template % self.params if self.params else self.template

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.text, "template": self.template, "params": self.params}


# --- Rounding ------------------------------------------------------------------------------


def round_half_up(value: Decimal, places: int) -> Decimal:
    """Round half up to `places` decimals (BSA, CrCl and doses use this one function)."""
    return value.quantize(D(1).scaleb(-places), rounding=ROUND_HALF_UP)


def round_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Nearest multiple of `step`, halves up (e.g. 252.5 mg → 255 mg for a 5 mg step)."""
    return (value / step).quantize(D(1), rounding=ROUND_HALF_UP) * step


def format_number(value: Decimal | int | None) -> str:
    """ISMP style: a leading zero (0.5), no trailing zero (5, not 5.0)."""
    if value is None:
        return "—"
    text = format(D(value).normalize(), "f")
    return text


# --- Measurements --------------------------------------------------------------------------


def check_measurements(height_cm: Decimal, weight_kg: Decimal) -> list[Warning]:
    """Refuse implausible or transposed height/weight; return warnings for unusual BMI."""
    low, high = HEIGHT_RANGE_CM
    if not low <= height_cm <= high:
        raise CalculationError(
            _("Height must be between %(low)s and %(high)s cm (got %(value)s)."),
            field="height_cm",
            code="height_out_of_range",
            params={"low": str(low), "high": str(high), "value": format_number(height_cm)},
        )
    low, high = WEIGHT_RANGE_KG
    if not low <= weight_kg <= high:
        raise CalculationError(
            _("Weight must be between %(low)s and %(high)s kg (got %(value)s)."),
            field="weight_kg",
            code="weight_out_of_range",
            params={"low": str(low), "high": str(high), "value": format_number(weight_kg)},
        )
    body_mass_index = bmi(height_cm, weight_kg)
    if ranges.looks_swapped(height_cm, weight_kg):
        raise CalculationError(
            _(
                "Height %(height)s cm and weight %(weight)s kg give a BMI of %(bmi)s: "
                "they look swapped. Check and enter them again."
            ),
            field="height_cm",
            code="height_weight_swapped",
            params={
                "height": format_number(height_cm),
                "weight": format_number(weight_kg),
                "bmi": format_number(body_mass_index),
            },
        )
    out: list[Warning] = []
    if not BMI_WARN_RANGE[0] <= body_mass_index <= BMI_WARN_RANGE[1]:
        out.append(
            Warning(
                "bmi_unusual",
                _("BMI %(bmi)s is outside %(low)s–%(high)s: check height and weight."),
                {"bmi": format_number(body_mass_index), "low": "16", "high": "45"},
            )
        )
    return out


# Body-mass index, kg/m², 1 decimal: the registry's swap check uses the same function.
bmi = ranges.bmi


def ideal_body_weight(height_cm: Decimal, sex: str) -> Decimal:
    """Devine (Drug Intell Clin Pharm 1974;8:650): 50 kg (men) or 45.5 kg (women) + 2.3 kg per
    inch over 5 feet. Under 5 feet the formula is used as is (it then subtracts)."""
    inches = height_cm / D("2.54")
    base = D("50") if sex == "male" else D("45.5")
    return round_half_up(base + D("2.3") * (inches - 60), 1)


def dosing_weight(weight_kg: Decimal, height_cm: Decimal, sex: str, basis: str = "actual") -> Decimal:
    """The weight a formula uses: actual (default, formulas.md), ideal (Devine), or adjusted
    (IBW + 0.4 × (actual − IBW), used when actual > IBW)."""
    if basis == "actual":
        return weight_kg
    ibw = ideal_body_weight(height_cm, sex)
    if basis == "ideal":
        return min(ibw, weight_kg)
    if basis == "adjusted":
        return weight_kg if weight_kg <= ibw else round_half_up(ibw + D("0.4") * (weight_kg - ibw), 1)
    raise CalculationError(_("Unknown weight basis %(basis)s."), field="weight_basis", params={"basis": basis})


# --- Body-surface area ----------------------------------------------------------------------


def _pow(base: Decimal, exponent: Decimal) -> Decimal:
    return _CTX.power(base, exponent)


def bsa_unrounded(height_cm: Decimal, weight_kg: Decimal, formula: str = "mosteller") -> Decimal:
    """BSA in m² by `formula` (formulas.md):

    - Mosteller (N Engl J Med 1987;317:1098): √(H·W / 3600)
    - DuBois & DuBois (Arch Intern Med 1916;17:863): 0.007184 · H^0.725 · W^0.425
    - Haycock (J Pediatr 1978;93:62): 0.024265 · H^0.3964 · W^0.5378
    - Gehan & George (Cancer Chemother Rep 1970;54:225): 0.0235 · H^0.42246 · W^0.51456
    - Boyd (1935): 0.0003207 · H^0.3 · Wg^(0.7285 − 0.0188 · log10 Wg), Wg in grams
    """
    h, w = D(height_cm), D(weight_kg)
    if formula == "mosteller":
        return _CTX.sqrt(h * w / 3600)
    if formula == "dubois":
        return D("0.007184") * _pow(h, D("0.725")) * _pow(w, D("0.425"))
    if formula == "haycock":
        return D("0.024265") * _pow(h, D("0.3964")) * _pow(w, D("0.5378"))
    if formula == "gehan_george":
        return D("0.0235") * _pow(h, D("0.42246")) * _pow(w, D("0.51456"))
    if formula == "boyd":
        grams = w * 1000
        exponent = D("0.7285") - D("0.0188") * _CTX.log10(grams)
        return D("0.0003207") * _pow(h, D("0.3")) * _pow(grams, exponent)
    raise CalculationError(
        _("Unknown BSA formula %(formula)s; use one of %(known)s."),
        field="bsa_formula",
        code="unknown_bsa_formula",
        params={"formula": formula, "known": ", ".join(BSA_FORMULAS)},
    )


def bsa(height_cm: Decimal, weight_kg: Decimal, formula: str = "mosteller") -> Decimal:
    """BSA rounded to 2 decimals, half up: the value shown, banded and multiplied (formulas.md)."""
    return round_half_up(bsa_unrounded(height_cm, weight_kg, formula), 2)


# --- Renal function -------------------------------------------------------------------------

CREATININE_UMOL_PER_MG_DL = D("88.4")


def creatinine_clearance(
    *,
    age_years: int,
    weight_kg: Decimal,
    sex: str,
    serum_creatinine_umol_l: Decimal | None = None,
    serum_creatinine_mg_dl: Decimal | None = None,
) -> Decimal:
    """Cockcroft–Gault (Nephron 1976;16:31), mL/min, 1 decimal half up:
    (140 − age) × weight / (72 × SCr mg/dL), × 0.85 for women; SCr µmol/L ÷ 88.4 = mg/dL.
    The rounded value is the one shown and compared with the renal thresholds."""
    if (serum_creatinine_umol_l is None) == (serum_creatinine_mg_dl is None):
        raise CalculationError(
            _("Give the serum creatinine in µmol/L or in mg/dL (one of them)."),
            field="serum_creatinine_umol_l",
            code="creatinine_required",
        )
    if serum_creatinine_mg_dl is not None:
        scr = D(serum_creatinine_mg_dl)
    else:
        assert serum_creatinine_umol_l is not None
        scr = D(serum_creatinine_umol_l) / CREATININE_UMOL_PER_MG_DL
    if scr <= 0:
        raise CalculationError(_("Serum creatinine must be positive."), field="serum_creatinine", code="creatinine")
    if not 18 <= age_years <= 120:
        raise CalculationError(_("Age must be between 18 and 120 years."), field="age_years", code="age_out_of_range")
    value = D(140 - age_years) * D(weight_kg) / (D(72) * D(scr))
    if sex == "female":
        value *= D("0.85")
    return round_half_up(value, 1)


# --- Drugs and doses ------------------------------------------------------------------------


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


def round_dose(calculated_mg: Decimal, spec: DrugSpec) -> tuple[Decimal, str]:
    """The one dose-rounding rule, per drug as protocol data (`drugs.<code>.rounding`).

    With a step (oxaliplatin: 5 mg) the dose goes to the nearest multiple, halves up, unless that
    moves it more than `max_deviation_pct` from the calculated dose; then (very small doses) it is
    rounded to the nearest 0.1 mg instead. Without a rule: the nearest 0.1 mg. Returns the dose and
    a note saying which rule applied."""
    exact = round_half_up(calculated_mg, 1)
    if spec.rounding_step_mg is None:
        return exact, ROUNDING_EXACT
    stepped = round_to_step(calculated_mg, spec.rounding_step_mg)
    limit = spec.rounding_max_deviation_pct
    if limit is not None and calculated_mg > 0 and abs(stepped - calculated_mg) * 100 / calculated_mg > limit:
        return exact, ROUNDING_EXACT_OVER_LIMIT
    return stepped, ROUNDING_STEP % {"step": format_number(spec.rounding_step_mg)}


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
    rounding: str
    tablets: dict[int, int] | None = None
    tablets_per_cycle: dict[int, int] | None = None
    bsa_band: str | None = None
    capped: bool = False
    # What the per-unit dose was multiplied by: the BSA (m², capped if so) or the weight (kg).
    multiplier: Decimal | None = None


def level_label(spec: DrugSpec, level: int) -> str:
    if level >= len(spec.levels):
        return LEVEL_DISCONTINUED
    unit = {"mg_per_m2": " mg/m²", "mg_per_kg": " mg/kg", "flat": " mg"}[spec.basis]
    if spec.levels_are_pct:
        return f"{format_number(spec.levels[level])} %"
    return f"{format_number(spec.levels[level])}{unit}"


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
            rounding=ROUNDING_BAND % {"band": band.label, "table": table.code},
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
            rounding=note if spec.basis != "flat" else ROUNDING_FLAT,
            capped=capped,
            multiplier={"mg_per_m2": used_bsa, "mg_per_kg": weight_kg}.get(spec.basis),
        )
    if result.dose_mg > standard:
        # A modified dose can never exceed the standard dose (formulas.md, dose-error guards).
        raise CalculationError(
            _("The %(drug)s dose %(dose)s mg exceeds the standard dose %(standard)s mg."),
            field="dose",
            code="dose_above_standard",
            params={"drug": spec.name, "dose": format_number(result.dose_mg), "standard": format_number(standard)},
        )
    return result


# --- Dose modifications -----------------------------------------------------------------------

MAINTAIN = "maintain"
INTERRUPT = "interrupt"  # interrupt (capecitabine) / withhold (serplulimab) this cycle, then resume
REDUCE = "reduce"
DISCONTINUE = "discontinue"
ACTIONS = (MAINTAIN, INTERRUPT, REDUCE, DISCONTINUE)


@dataclass(frozen=True)
class ModificationOutcome:
    action: str  # one of ACTIONS
    new_level: int  # level from now on (len(levels) = discontinued); never below the current one
    rule: str  # which row of which table decided


def decide_modification(
    spec: DrugSpec,
    *,
    grade: int,
    appearance: int,
    current_level: int,
    requested_action: str | None = None,
) -> ModificationOutcome:
    """Apply the protocol's modification rule for one toxicity of CTCAE `grade`, seen for the
    `appearance`-th time (1-based), to a drug now at `current_level`.

    - capecitabine: the label's toxicity table (tables.CAPECITABINE_TOXICITY). Grade 4, first
      appearance: discontinue, or (investigator's choice, `requested_action="reduce"`) resume at 50 %.
    - reducible drugs without a table (oxaliplatin 130 → 100 mg/m² → discontinue): grade ≥ 3
      steps down one level (XELOXA: grade 3/4 toxicity); grade 2 only when the investigator asks
      (persistent paraesthesia); the step below the last level is discontinuation.
    - drugs never reduced (serplulimab): grade 2 withholds the cycle, grade ≥ 3 discontinues
      (formulas.md: pneumonitis grade 2 withhold, 3–4 discontinue); the investigator may choose
      withhold or discontinue; a reduction is refused.

    Levels only go down (a reduction is carried forward and never re-escalated)."""
    if not 1 <= grade <= 5:
        raise CalculationError(_("CTCAE grade must be 1 to 5."), field="ctcae_grade", code="invalid_grade")
    if appearance < 1:
        raise CalculationError(_("Appearance must be 1 or more."), field="appearance")
    if requested_action is not None and requested_action not in ACTIONS:
        raise CalculationError(_("Unknown action %(action)s."), field="action", params={"action": requested_action})
    stop = len(spec.levels)
    if current_level >= stop:
        raise CalculationError(
            _("%(drug)s is already discontinued."),
            field="drug",
            code="already_discontinued",
            params={"drug": spec.name},
        )
    if grade == 5:
        return ModificationOutcome(DISCONTINUE, stop, RULE_GRADE_5)

    if spec.band_table and spec.levels_are_pct:
        row = tables.CAPECITABINE_TOXICITY[grade]
        cell = row[min(appearance, len(row)) - 1]
        rule = RULE_CAPECITABINE % {"grade": grade, "appearance": appearance}
        if cell == "discontinue_or_50" and requested_action == REDUCE:
            cell = "50"
        if cell in ("discontinue", "discontinue_or_50"):
            return ModificationOutcome(DISCONTINUE, stop, rule)
        if cell == "maintain":
            return ModificationOutcome(MAINTAIN, current_level, rule)
        target = spec.levels.index(D(cell.removeprefix("interrupt_")))
        level = max(current_level, target)  # never re-escalated
        action = INTERRUPT if cell.startswith("interrupt_") else (REDUCE if level > current_level else MAINTAIN)
        return ModificationOutcome(action, level, rule)

    if not spec.reducible:
        if requested_action == REDUCE:
            raise CalculationError(
                _("%(drug)s is never reduced: withhold or discontinue it."),
                field="action",
                code="not_reducible",
                params={"drug": spec.name},
            )
        if requested_action in (INTERRUPT, DISCONTINUE, MAINTAIN):
            action = requested_action
        else:
            action = MAINTAIN if grade == 1 else INTERRUPT if grade == 2 else DISCONTINUE
        return ModificationOutcome(
            action,
            stop if action == DISCONTINUE else current_level,
            RULE_NOT_REDUCIBLE % {"drug": spec.code, "grade": grade},
        )

    params = {"drug": spec.code, "grade": grade}
    rule = RULE_STEP_DOWN % params
    if requested_action == DISCONTINUE:
        return ModificationOutcome(DISCONTINUE, stop, RULE_STEP_DOWN_DISCONTINUED % params)
    if requested_action == INTERRUPT:
        return ModificationOutcome(INTERRUPT, current_level, RULE_STEP_DOWN_WITHHELD % params)
    if grade >= 3 or (grade == 2 and requested_action == REDUCE):
        level = current_level + 1
        if level >= stop:
            return ModificationOutcome(DISCONTINUE, stop, rule)
        return ModificationOutcome(REDUCE, level, rule)
    return ModificationOutcome(MAINTAIN, current_level, rule)


def effective_levels(
    spec: DrugSpec, modifications: Iterable[tuple[int, int, str]], *, cycle_seq: int
) -> tuple[int, bool]:
    """The level of `spec` for the cycle at `cycle_seq` and whether it is withheld that cycle.

    Cycles are numbered consecutively across the systemic phases (neoadjuvant 1–4 = 1–4,
    adjuvant 1–4 = 5–8). `modifications` are (cycle_seq, new_level, action) of the drug, each
    recorded in the cycle where the toxicity was seen; it changes the doses of the following cycles:
    the lowest level wins and is carried forward (never re-escalated). A withholding (serplulimab,
    oxaliplatin) skips the next cycle's dose only; a capecitabine interruption happens within the
    current cycle and the next cycle starts at the resume level."""
    level = 0
    withheld = False
    for seq, new_level, action in modifications:
        if seq >= cycle_seq:
            continue
        level = max(level, new_level)
        if action == INTERRUPT and seq == cycle_seq - 1 and not spec.band_table:
            withheld = True
    return min(level, len(spec.levels)), withheld


# --- A regimen's doses for one person and one cycle -------------------------------------------

GIVE = "give"
WITHHELD = "withheld"
DISCONTINUED = "discontinued"
CONTRAINDICATED = "contraindicated"
AWAITING_DECISION = "awaiting_decision"  # an investigator's renal decision is needed first


# Renal rules (protocol `dosing.renal_rules`): per drug, a CrCl band and what it means.
RENAL_CONTRAINDICATED = "contraindicated"  # not given; an investigator records the withholding
RENAL_REDUCE = "reduce"  # given at the rule's level (or lower)
RENAL_INVESTIGATOR = "investigator"  # no release until an investigator decides
RENAL_ACTIONS = (RENAL_CONTRAINDICATED, RENAL_REDUCE, RENAL_INVESTIGATOR)

# An investigator's renal decision for one drug and band.
DECISION_CONFIRM = "confirm"  # the dose without a renal reduction
DECISION_REDUCE = "reduce"  # to one of the drug's reduced levels
DECISION_WITHHOLD = "withhold"  # not given this cycle
DECISIONS = (DECISION_CONFIRM, DECISION_REDUCE, DECISION_WITHHOLD)
# Which decisions fit a band's action: a contraindication can only be withheld (the label
# forbids the drug); an "investigator decides" band takes any of the three; a band the protocol
# itself reduces needs no decision.
FITTING_DECISIONS: dict[str, tuple[str, ...]] = {
    RENAL_CONTRAINDICATED: (DECISION_WITHHOLD,),
    RENAL_INVESTIGATOR: DECISIONS,
    RENAL_REDUCE: (),
}


@dataclass(frozen=True)
class RenalRule:
    """One rule of `dosing.renal_rules`: for `drug`, a Cockcroft–Gault CrCl band (`min_ml_min` ≤
    CrCl, CrCl < `below_ml_min`, CrCl ≤ `max_ml_min`; the rounded CrCl is compared) and an action
    (RENAL_ACTIONS). `to_level` is the dose level a `reduce` rule gives (a value of the drug's
    levels: 75 for a percentage level, 100 for 100 mg/m²). The source is the protocol's."""

    drug: str
    action: str
    min_ml_min: Decimal | None = None
    below_ml_min: Decimal | None = None
    max_ml_min: Decimal | None = None
    to_level: Decimal | None = None
    source: str = ""

    @classmethod
    def from_definition(cls, data: Mapping[str, Any]) -> RenalRule:
        def number(key: str) -> Decimal | None:
            return D(str(data[key])) if data.get(key) is not None else None

        return cls(
            drug=str(data["drug"]),
            action=str(data["action"]),
            min_ml_min=number("min_ml_min"),
            below_ml_min=number("below_ml_min"),
            max_ml_min=number("max_ml_min"),
            to_level=number("to_level"),
            source=str(data.get("source", "")).strip(),
        )

    @property
    def band(self) -> str:
        """The band as a short label ("< 30", "30–50", "≥ 50"): stored with a decision, so that a
        decision only ever applies to the band it was made for."""
        low = format_number(self.min_ml_min) if self.min_ml_min is not None else None
        if self.below_ml_min is not None:
            high, below = format_number(self.below_ml_min), True
        elif self.max_ml_min is not None:
            high, below = format_number(self.max_ml_min), False
        else:
            high, below = None, False
        if low is not None and high is not None:
            return f"{low}–<{high}" if below else f"{low}–{high}"
        if high is not None:
            return f"< {high}" if below else f"≤ {high}"
        return f"≥ {low}"

    def applies(self, crcl: Decimal) -> bool:
        if self.min_ml_min is not None and crcl < self.min_ml_min:
            return False
        if self.below_ml_min is not None and crcl >= self.below_ml_min:
            return False
        return not (self.max_ml_min is not None and crcl > self.max_ml_min)


def renal_rule_for(rules: Iterable[RenalRule], drug: str, crcl: Decimal | None) -> RenalRule | None:
    """The first of the protocol's rules for `drug` whose band holds `crcl` (None: no rule)."""
    if crcl is None:
        return None
    return next((r for r in rules if r.drug == drug and r.applies(crcl)), None)


@dataclass(frozen=True)
class RenalDecisionInput:
    """An investigator's recorded renal decision for one drug of one cycle, as the sheet reads it:
    the band it was made for, the decision (DECISIONS) and, for a reduction, the level index."""

    band: str
    decision: str
    level: int | None = None


def renal_decision_problem(
    spec: DrugSpec, rule: RenalRule | None, *, decision: str, level: int | None, current_level: int = 0
) -> str | None:
    """Why `decision` (to `level` for a reduction) does not fit `rule` for `spec`, or None when it
    fits. Returns a message template (params: drug, band, decisions, level)."""
    if rule is None:
        return _("%(drug)s needs no renal decision at this creatinine clearance.")
    if decision not in FITTING_DECISIONS[rule.action]:
        return _("In the CrCl band %(band)s mL/min %(drug)s allows only: %(decisions)s.")
    if decision == DECISION_REDUCE:
        if not spec.reducible or len(spec.levels) < 2:
            return _("%(drug)s is never reduced: confirm the dose or withhold it.")
        if level is None or not 0 < level < len(spec.levels):
            return _("Choose one of the reduced dose levels of %(drug)s.")
        if level <= current_level:
            return _("%(drug)s is already at %(level)s or lower: a renal reduction must go below it.")
    elif level is not None:
        return _("A dose level is given only with a reduction.")
    return None


@dataclass(frozen=True)
class WeightRule:
    """`dosing.weight_change` of the protocol: a change of `recalculate_at_pct` % or more against
    the weight the previous cycle's doses used forces recalculation; below it the previous
    cycle's dose basis (weight and BSA) is kept when `keep_previous_basis_below` (formulas.md,
    dose-error guards)."""

    recalculate_at_pct: Decimal = Decimal(10)
    keep_previous_basis_below: bool = True
    source: str = ""

    @classmethod
    def from_definition(cls, data: Mapping[str, Any] | None) -> WeightRule:
        data = data or {}
        return cls(
            recalculate_at_pct=D(str(data.get("recalculate_at_pct", 10))),
            keep_previous_basis_below=bool(data.get("keep_previous_basis_below", True)),
            source=str(data.get("source", "")).strip(),
        )


BASIS_MEASURED = "measured"  # no previous cycle: this cycle's weight and BSA
BASIS_KEPT = "kept"  # change below the threshold: the previous cycle's weight and BSA
BASIS_RECALCULATED = "recalculated"  # change at or above the threshold: this cycle's


@dataclass(frozen=True)
class DoseBasis:
    """The weight and BSA a sheet's doses use, and why (BASIS_*)."""

    weight_kg: Decimal
    bsa_m2: Decimal
    rule: str
    change_pct: Decimal | None = None


def dose_basis(
    *,
    weight_kg: Decimal,
    bsa_m2: Decimal,
    previous: tuple[Decimal, Decimal] | None,
    rule: WeightRule,
) -> DoseBasis:
    """This cycle's dose basis from its measured `weight_kg` and `bsa_m2` and the previous
    cycle's basis `previous` (weight, BSA), if any. The change is compared rounded to 1 decimal
    (weight_change_pct): −9.9 % keeps the basis, −10.0 % recalculates."""
    if previous is None:
        return DoseBasis(weight_kg, bsa_m2, BASIS_MEASURED)
    change = weight_change_pct(previous[0], weight_kg)
    if abs(change) >= rule.recalculate_at_pct or not rule.keep_previous_basis_below:
        return DoseBasis(weight_kg, bsa_m2, BASIS_RECALCULATED, change)
    return DoseBasis(previous[0], previous[1], BASIS_KEPT, change)


@dataclass
class RegimenResult:
    bsa_m2: Decimal
    bsa_formula: str
    bmi: Decimal
    creatinine_clearance_ml_min: Decimal | None
    doses: list[dict[str, Any]]
    warnings: list[Warning]
    blockers: list[Warning]  # reasons the sheet cannot be released


def regimen_doses(
    drugs: Sequence[DrugSpec],
    *,
    height_cm: Decimal,
    weight_kg: Decimal,
    sex: str,
    age_years: int,
    serum_creatinine_umol_l: Decimal | None = None,
    serum_creatinine_mg_dl: Decimal | None = None,
    bsa_formula: str = "mosteller",
    bsa_cap_m2: Decimal | None = None,
    crcl_weight_basis: str = "actual",
    renal_rules: Sequence[RenalRule] = (),
    levels: Mapping[str, tuple[int, bool]] | None = None,
    level_reasons: Mapping[str, str] | None = None,
    renal_decisions: Mapping[str, Sequence[RenalDecisionInput]] | None = None,
    basis: DoseBasis | None = None,
) -> RegimenResult:
    """Every drug's dose for one person and one cycle.

    `levels` maps a drug to (dose level, withheld this cycle) from its modifications (default:
    standard, given). `renal_rules` are the protocol's; `renal_decisions` the investigator's
    recorded decisions by drug (one applies only to the band it was made for). A drug in a
    contraindicated band is never given: without a recorded withholding the sheet cannot be
    released; a drug in an "investigator decides" band has no dose until the decision is recorded.
    `basis` is the weight and BSA the doses use (dose_basis: kept from the previous cycle below
    the weight-change threshold); by default the measured ones. CrCl always uses the measured
    weight (renal function is this cycle's)."""
    warnings = check_measurements(height_cm, weight_kg)
    blockers: list[Warning] = []
    bsa_m2 = basis.bsa_m2 if basis is not None else bsa(height_cm, weight_kg, bsa_formula)
    dose_weight = basis.weight_kg if basis is not None else weight_kg
    crcl: Decimal | None = None
    if serum_creatinine_umol_l is not None or serum_creatinine_mg_dl is not None:
        crcl = creatinine_clearance(
            age_years=age_years,
            weight_kg=dosing_weight(weight_kg, height_cm, sex, crcl_weight_basis),
            sex=sex,
            serum_creatinine_umol_l=serum_creatinine_umol_l,
            serum_creatinine_mg_dl=serum_creatinine_mg_dl,
        )
    if bsa_cap_m2 is not None and bsa_m2 > bsa_cap_m2:
        warnings.append(
            Warning(
                "bsa_capped",
                _("BSA %(bsa)s m² capped at %(cap)s m² by the trial's setting."),
                {"bsa": format_number(bsa_m2), "cap": format_number(bsa_cap_m2)},
            )
        )
    levels = levels or {}
    level_reasons = level_reasons or {}
    renal_decisions = renal_decisions or {}
    doses: list[dict[str, Any]] = []
    for spec in drugs:
        level, withheld = levels.get(spec.code, (0, False))
        entry: dict[str, Any] = {
            "drug": spec.code,
            "name": spec.name,
            "name_zh": spec.name_zh,
            "route": spec.route,
            "basis": spec.basis,
            "days": list(spec.days),
            "frequency": spec.frequency,
            "administrations_per_cycle": spec.administrations_per_cycle,
            **({"course": dict(spec.course)} if spec.course else {}),
            "level": level,
            "level_label": level_label(spec, min(level, len(spec.levels))),
            "level_reason": level_reasons.get(spec.code, REASON_STANDARD if level == 0 else ""),
            "status": GIVE,
        }
        if level >= len(spec.levels):
            entry.update(status=DISCONTINUED, dose_mg=None)
            doses.append(entry)
            continue
        rule = renal_rule_for(renal_rules, spec.code, crcl)
        effective_level = level
        if rule is not None and crcl is not None:
            effective_level = _apply_renal_rule(
                spec, rule, crcl, entry, level, renal_decisions.get(spec.code, ()), warnings, blockers
            )
        if withheld and entry["status"] == GIVE:
            entry["status"] = WITHHELD
        result = drug_dose(spec, level=effective_level, bsa_m2=bsa_m2, weight_kg=dose_weight, bsa_cap_m2=bsa_cap_m2)
        entry.update(
            level=effective_level,
            level_label=result.level_label,
            dose_mg=result.dose_mg if entry["status"] == GIVE else None,
            calculated_dose_mg=result.calculated_mg,
            dose_per_unit=result.dose_per_unit,
            planned_dose_mg=result.dose_mg,
            rounding=result.rounding,
            capped=result.capped,
            multiplied_by=result.multiplier,
        )
        if result.tablets is not None:
            given = entry["status"] == GIVE
            entry["bsa_band"] = result.bsa_band
            entry["tablets"] = {str(k): v for k, v in result.tablets.items()} if given else None
            entry["tablets_per_cycle"] = (
                {str(k): v for k, v in (result.tablets_per_cycle or {}).items()} if given else None
            )
            entry["table"] = spec.band_table
        doses.append(entry)
    return RegimenResult(
        bsa_m2=bsa_m2,
        bsa_formula=bsa_formula,
        bmi=bmi(height_cm, weight_kg),
        creatinine_clearance_ml_min=crcl,
        doses=doses,
        warnings=warnings,
        blockers=blockers,
    )


def _apply_renal_rule(
    spec: DrugSpec,
    rule: RenalRule,
    crcl: Decimal,
    entry: dict[str, Any],
    level: int,
    decisions: Sequence[RenalDecisionInput],
    warnings: list[Warning],
    blockers: list[Warning],
) -> int:
    """Apply one renal rule to a drug's sheet entry (status, reason, warnings, blockers) and
    return the level the drug is dosed at. A decision made for another band does not count."""
    decision = next((d for d in decisions if d.band == rule.band), None)
    params = {"crcl": format_number(crcl), "band": rule.band, "drug": spec.name}
    entry["renal"] = {
        "band": rule.band,
        "action": rule.action,
        "source": rule.source,
        "decision": decision.decision if decision else None,
    }
    if rule.action == RENAL_REDUCE:
        target = spec.levels.index(rule.to_level) if rule.to_level in spec.levels else len(spec.levels) - 1
        warnings.append(
            Warning(
                "renal_reduced",
                _("CrCl %(crcl)s mL/min is in the %(band)s mL/min band: %(drug)s reduced to %(level)s."),
                {**params, "level": level_label(spec, target)},
            )
        )
        if target > level:
            entry["level_reason"] = REASON_RENAL % {"crcl": format_number(crcl)}
        return max(level, target)
    if rule.action == RENAL_CONTRAINDICATED:
        warnings.append(
            Warning(
                "renal_contraindication",
                _("CrCl %(crcl)s mL/min is in the %(band)s mL/min band: %(drug)s is contraindicated."),
                params,
            )
        )
    else:
        warnings.append(
            Warning(
                "renal_investigator",
                _(
                    "CrCl %(crcl)s mL/min is in the %(band)s mL/min band: an investigator decides the %(drug)s "
                    "dose (full dose, reduced or withheld)."
                ),
                params,
            )
        )
    if decision is None:
        blockers.append(
            Warning(
                "renal_decision_required",
                _("An investigator must decide on %(drug)s (CrCl %(crcl)s mL/min) before release."),
                params,
            )
        )
        entry["status"] = CONTRAINDICATED if rule.action == RENAL_CONTRAINDICATED else AWAITING_DECISION
        return level
    if decision.decision == DECISION_WITHHOLD or rule.action == RENAL_CONTRAINDICATED:
        entry["status"] = WITHHELD
        entry["level_reason"] = REASON_RENAL_WITHHELD
        return level
    if decision.decision == DECISION_REDUCE and decision.level is not None and decision.level > level:
        entry["level_reason"] = REASON_RENAL_REDUCED % {"crcl": format_number(crcl)}
        return decision.level
    if level == 0:
        entry["level_reason"] = REASON_RENAL_CONFIRMED % {"crcl": format_number(crcl)}
    return level


def day1_criteria(
    *,
    labs: Mapping[str, tuple[Decimal, Any]],
    day1: Any,
    window_days: int,
    minimums: Mapping[str, Decimal],
) -> tuple[bool, list[dict[str, Any]]]:
    """Check day-1 treatment criteria (protocol `schedule.day1_criteria`: ANC ≥ 1.5×10⁹/L,
    platelets ≥ 100×10⁹/L) against `labs` {analyte: (value, collected_on)} — the latest values.
    A value collected more than `window_days` before `day1` (or after it) does not count."""
    rows: list[dict[str, Any]] = []
    met = True
    for analyte, minimum in minimums.items():
        value, collected_on = labs.get(analyte, (None, None))
        in_window = collected_on is not None and 0 <= (day1 - collected_on).days <= window_days
        ok = in_window and value is not None and value >= minimum
        met = met and ok
        rows.append(
            {
                "analyte": analyte,
                "value": value if in_window else None,
                "collected_on": collected_on.isoformat() if in_window and collected_on else None,
                "minimum": minimum,
                "met": ok,
                "reason": "" if ok else (LAB_BELOW_MINIMUM if in_window else LAB_NOT_IN_WINDOW),
            }
        )
    return met, rows


def weight_change_pct(previous_kg: Decimal, current_kg: Decimal) -> Decimal:
    """Change against the weight used for the previous cycle's sheet, %, 1 decimal."""
    return round_half_up((current_kg - previous_kg) * 100 / previous_kg, 1)
