"""Pure dose arithmetic: published values (source in each comment) and invariants (hypothesis)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dosing import regimen, tables
from dosing.calculations import drug_doses, formulas, modifications, regimen_doses
from trialsite import protocol, renal
from trialsite.phrases import english

CAPECITABINE = drug_doses.DrugSpec.from_definition(
    "capecitabine",
    {
        "name": "Capecitabine",
        "route": "oral",
        "basis": "mg_per_m2",
        "dose": 1000,
        "frequency": "twice daily",
        "days": list(range(1, 15)),
        "administrations_per_cycle": 28,
        "tablet_strengths_mg": [150, 500],
        "band_table": "capecitabine_eu_smpc_1000",
        "dose_levels_pct": [100, 75, 50],
        "toxicity_table": "capecitabine_label_toxicity",
    },
)
OXALIPLATIN = drug_doses.DrugSpec.from_definition(
    "oxaliplatin",
    {
        "name": "Oxaliplatin",
        "route": "iv",
        "basis": "mg_per_m2",
        "dose": 130,
        "days": [1],
        "dose_levels_mg_per_m2": [130, 100],
        "rounding": {"rule": "nearest", "step_mg": 5, "max_deviation_pct": 5},
    },
)
SERPLULIMAB = drug_doses.DrugSpec.from_definition(
    "serplulimab",
    {"name": "Serplulimab", "route": "iv", "basis": "flat", "dose": 300, "days": [1], "dose_levels_mg": [300]},
)


# --- BSA ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "height", "weight", "expected"),
    [
        # Mosteller, N Engl J Med 1987;317:1098: √(180·80/3600) = √4 = 2.00 exactly.
        ("mosteller", "180", "80", "2.00"),
        # √(170·70/3600) = √3.30556 = 1.8181… → 1.82
        ("mosteller", "170", "70", "1.82"),
        # DuBois & DuBois, Arch Intern Med 1916;17:863: 0.007184·180^0.725·80^0.425 = 1.99642 → 2.00
        # (the known bug 0.0087184 would give 2.42)
        ("dubois", "180", "80", "2.00"),
        ("dubois", "170", "70", "1.81"),  # 1.80971
        # Haycock, J Pediatr 1978;93:62: 0.024265·180^0.3964·80^0.5378 = 2.00656 → 2.01
        ("haycock", "180", "80", "2.01"),
        # Gehan & George 1970: 0.0235·180^0.42246·80^0.51456 = 2.00948 → 2.01
        ("gehan_george", "180", "80", "2.01"),
        # Boyd 1935 with weight in grams and log10: 2.00736 → 2.01 (natural log or kg give nonsense)
        ("boyd", "180", "80", "2.01"),
        ("boyd", "160", "60", "1.66"),  # 1.65577
    ],
)
def test_bsa_published_and_computed_values(formula: str, height: str, weight: str, expected: str) -> None:
    assert formulas.bsa(D(height), D(weight), formula) == D(expected)


def test_bsa_is_rounded_half_up_to_two_decimals() -> None:
    assert formulas.round_half_up(D("1.265"), 2) == D("1.27")  # half up, not banker's 1.26
    assert formulas.round_half_up(D("1.2649"), 2) == D("1.26")
    assert str(formulas.bsa(D(180), D(80))) == "2.00"


def test_unknown_bsa_formula_is_refused() -> None:
    with pytest.raises(formulas.CalculationError) as info:
        formulas.bsa(D(170), D(70), "meeh")
    assert info.value.field == "bsa_formula"


# --- Cockcroft–Gault and weights ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("sex", "kwargs", "expected"),
    [
        # Cockcroft & Gault, Nephron 1976;16:31: (140 − 60) × 72 / (72 × 1.0) = 80 mL/min
        ("male", {"serum_creatinine_mg_dl": D("1.0")}, D("80.0")),
        # women × 0.85 → 68.0; 88.4 µmol/L = 1 mg/dL (formulas.md)
        ("female", {"serum_creatinine_umol_l": D("88.4")}, D("68.0")),
        # (140 − 60) × 72 / (72 × 100/88.4) = 70.72 → 70.7
        ("male", {"serum_creatinine_umol_l": D("100")}, D("70.7")),
    ],
)
def test_cockcroft_gault(sex: str, kwargs: dict[str, D], expected: D) -> None:
    assert formulas.creatinine_clearance(age_years=60, weight_kg=D(72), sex=sex, **kwargs) == expected


def test_cockcroft_gault_needs_exactly_one_creatinine_unit() -> None:
    with pytest.raises(formulas.CalculationError):
        formulas.creatinine_clearance(age_years=60, weight_kg=D(72), sex="male")
    with pytest.raises(formulas.CalculationError):
        formulas.creatinine_clearance(
            age_years=60, weight_kg=D(72), sex="male", serum_creatinine_mg_dl=D(1), serum_creatinine_umol_l=D(88)
        )


def test_devine_ideal_body_weight() -> None:
    # Devine 1974: 50 kg + 2.3 kg per inch over 5 ft; 180 cm = 70.87 in → 50 + 2.3 × 10.87 = 75.0
    assert renal.ideal_body_weight(D(180), "male") == D("75.0")
    # women 45.5 kg + 2.3 × (165/2.54 − 60) = 45.5 + 2.3 × 4.961 = 56.9
    assert renal.ideal_body_weight(D(165), "female") == D("56.9")
    assert renal.weight_on_basis(D(110), D(180), "male", "ideal") == D("75.0")
    assert renal.weight_on_basis(D(110), D(180), "male", "adjusted") == D("89.0")  # 75 + 0.4 × 35
    assert renal.weight_on_basis(D(110), D(180), "male") == D(110)


# --- Guards -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "weight", "code"),
    [
        ("99", "70", "height_out_of_range"),
        ("231", "70", "height_out_of_range"),
        ("170", "29", "weight_out_of_range"),
        ("170", "251", "weight_out_of_range"),
        # 175 cm / 120 kg typed the wrong way round: 120 cm, 175 kg → BMI 121.5
        ("120", "175", "height_weight_swapped"),
    ],
)
def test_implausible_measurements_are_refused(height: str, weight: str, code: str) -> None:
    with pytest.raises(formulas.CalculationError) as info:
        formulas.check_measurements(D(height), D(weight))
    assert info.value.code == code


def test_unusual_bmi_is_a_warning() -> None:
    assert [w.code for w in formulas.check_measurements(D(180), D(50))] == ["bmi_unusual"]  # BMI 15.4
    assert [w.code for w in formulas.check_measurements(D(160), D(120))] == ["bmi_unusual"]  # BMI 46.9
    assert formulas.check_measurements(D(170), D(70)) == []


# --- Capecitabine bands and tablets -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bsa", "dose", "t150", "t500"),
    [
        # Xeloda EU SmPC §4.2 Table 2 (capecitabine.md), full dose column with its tablet counts.
        ("1.20", 1150, 1, 2),
        ("1.26", 1150, 1, 2),
        ("1.27", 1300, 2, 2),
        ("1.45", 1450, 3, 2),
        ("1.66", 1600, 4, 2),
        ("1.67", 1750, 5, 2),
        ("1.80", 1800, 2, 3),  # 1800 mg = 3 × 500 + 2 × 150
        ("1.92", 1800, 2, 3),
        ("1.93", 2000, 0, 4),
        ("2.18", 2150, 1, 4),
        ("2.19", 2300, 2, 4),
        ("2.60", 2300, 2, 4),
    ],
)
def test_capecitabine_full_dose_by_label_band(bsa: str, dose: int, t150: int, t500: int) -> None:
    result = drug_doses.drug_dose(CAPECITABINE, level=0, bsa_m2=D(bsa), weight_kg=D(70))
    assert result.dose_mg == dose
    assert result.tablets == {150: t150, 500: t500}
    # 28 administrations per cycle (evening of day 1 to morning of day 15)
    assert result.tablets_per_cycle == {150: 28 * t150, 500: 28 * t500}


def test_fewest_tablets_reproduce_every_full_dose_row_of_the_label() -> None:
    for band in tables.CAPECITABINE_EU_SMPC_1000.bands:
        assert drug_doses.fewest_tablets(band.full_mg, [150, 500]) == {
            150: band.full_tablets_150,
            500: band.full_tablets_500,
        }


@pytest.mark.parametrize(
    ("bsa", "level", "dose", "tablets"),
    [
        ("1.80", 1, 1400, {150: 6, 500: 1}),  # 75 %: 1400 = 500 + 6 × 150 (7 tablets; no 2×500 combination)
        ("1.80", 2, 900, {150: 6, 500: 0}),  # 50 %: 900 = 6 × 150
        ("2.00", 1, 1500, {150: 0, 500: 3}),
        ("1.45", 2, 750, {150: 5, 500: 0}),
        ("1.20", 1, 800, {150: 2, 500: 1}),
    ],
)
def test_capecitabine_reduced_doses_use_the_fewest_tablets(bsa: str, level: int, dose: int, tablets: dict) -> None:
    result = drug_doses.drug_dose(CAPECITABINE, level=level, bsa_m2=D(bsa), weight_kg=D(70))
    assert result.dose_mg == dose
    assert result.tablets == tablets


# --- Other drugs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bsa", "level", "expected"),
    [
        ("1.80", 0, "235"),  # 130 × 1.80 = 234 → nearest 5 mg = 235 (0.4 % away)
        ("2.00", 0, "260"),
        ("1.73", 0, "225"),  # 224.9 → 225
        ("1.80", 1, "180"),  # 100 mg/m² × 1.80
        ("1.75", 1, "175"),
    ],
)
def test_oxaliplatin_rounded_to_nearest_5_mg(bsa: str, level: int, expected: str) -> None:
    result = drug_doses.drug_dose(OXALIPLATIN, level=level, bsa_m2=D(bsa), weight_kg=D(70))
    assert result.dose_mg == D(expected)
    assert abs(result.dose_mg - result.calculated_mg) * 100 / result.calculated_mg <= 5  # type: ignore[operator]


def test_step_rounding_falls_back_when_it_would_move_the_dose_more_than_the_limit() -> None:
    tiny = drug_doses.DrugSpec.from_definition(
        "x",
        {
            "name": "X",
            "route": "iv",
            "basis": "flat",
            "dose": 12,
            "days": [1],
            "rounding": {"step_mg": 5, "max_deviation_pct": 5},
        },
    )
    dose, note = drug_doses.round_dose(D(12), tiny)  # nearest 5 = 10 (17 % off) → keep 12.0
    assert dose == D("12.0")
    assert "limit" in english(note)


def test_serplulimab_is_flat_and_mg_per_kg_uses_weight() -> None:
    assert drug_doses.drug_dose(SERPLULIMAB, level=0, bsa_m2=D("2.3"), weight_kg=D(120)).dose_mg == 300
    per_kg = drug_doses.DrugSpec.from_definition(
        "y", {"name": "Y", "route": "iv", "basis": "mg_per_kg", "dose": 2, "days": [1], "dose_levels_mg_per_kg": [2]}
    )
    assert drug_doses.drug_dose(per_kg, level=0, bsa_m2=D("1.8"), weight_kg=D("72.5")).dose_mg == D("145.0")


def test_bsa_cap_is_applied_only_when_the_trial_sets_it() -> None:
    uncapped = drug_doses.drug_dose(OXALIPLATIN, level=0, bsa_m2=D("2.40"), weight_kg=D(120))
    capped = drug_doses.drug_dose(OXALIPLATIN, level=0, bsa_m2=D("2.40"), weight_kg=D(120), bsa_cap_m2=D("2.0"))
    assert uncapped.dose_mg == 310 and not uncapped.capped  # 312 → 310
    assert capped.dose_mg == 260 and capped.capped


# --- Modifications ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grade", "appearance", "current", "action", "level"),
    [
        # capecitabine.md toxicity table (Xeloda SmPC / US PI Table 2)
        (1, 1, 0, "maintain", 0),
        (2, 1, 0, "interrupt", 0),  # interrupt, resume at 100 %
        (2, 2, 0, "interrupt", 1),  # 75 %
        (2, 3, 1, "interrupt", 2),  # 50 %
        (2, 4, 2, "discontinue", 3),
        (3, 1, 0, "interrupt", 1),  # resume at 75 %
        (3, 2, 1, "interrupt", 2),  # 50 %
        (3, 3, 2, "discontinue", 3),
        (4, 1, 0, "discontinue", 3),
        # never re-escalated: a grade-2 first appearance after a reduction to 50 % stays at 50 %
        (2, 1, 2, "interrupt", 2),
    ],
)
def test_capecitabine_toxicity_table(grade: int, appearance: int, current: int, action: str, level: int) -> None:
    outcome = modifications.decide_modification(CAPECITABINE, grade=grade, appearance=appearance, current_level=current)
    assert (outcome.action, outcome.new_level) == (action, level)


def test_capecitabine_grade_4_may_resume_at_50_percent_by_investigator_choice() -> None:
    outcome = modifications.decide_modification(
        CAPECITABINE, grade=4, appearance=1, current_level=0, requested_action="reduce"
    )
    assert (outcome.action, outcome.new_level) == ("reduce", 2)


def test_oxaliplatin_steps_130_100_then_discontinue() -> None:
    first = modifications.decide_modification(OXALIPLATIN, grade=3, appearance=1, current_level=0)
    assert (first.action, first.new_level) == ("reduce", 1)
    second = modifications.decide_modification(OXALIPLATIN, grade=3, appearance=2, current_level=1)
    assert (second.action, second.new_level) == ("discontinue", 2)
    assert modifications.decide_modification(OXALIPLATIN, grade=2, appearance=1, current_level=0).action == "maintain"


def test_serplulimab_is_never_reduced() -> None:
    assert modifications.decide_modification(SERPLULIMAB, grade=2, appearance=1, current_level=0).action == "interrupt"
    assert (
        modifications.decide_modification(SERPLULIMAB, grade=3, appearance=1, current_level=0).action == "discontinue"
    )
    with pytest.raises(formulas.CalculationError) as info:
        modifications.decide_modification(
            SERPLULIMAB, grade=3, appearance=1, current_level=0, requested_action="reduce"
        )
    assert info.value.code == "not_reducible"


def test_levels_carry_forward_and_withholding_skips_only_the_next_cycle() -> None:
    mods = [(1, 1, "reduce"), (3, 0, "maintain")]
    assert modifications.effective_levels(OXALIPLATIN, mods, cycle_seq=1) == (
        0,
        False,
    )  # seen in cycle 1 → from cycle 2
    assert modifications.effective_levels(OXALIPLATIN, mods, cycle_seq=2) == (1, False)
    assert modifications.effective_levels(OXALIPLATIN, mods, cycle_seq=6) == (1, False)  # never re-escalated
    withheld = [(2, 0, "interrupt")]
    assert modifications.effective_levels(SERPLULIMAB, withheld, cycle_seq=3) == (0, True)
    assert modifications.effective_levels(SERPLULIMAB, withheld, cycle_seq=4) == (0, False)


# --- A regimen ---------------------------------------------------------------------------------------


def _regimen(**kwargs: object) -> regimen_doses.RegimenResult:
    base: dict[str, object] = dict(
        height_cm=D(180), weight_kg=D(80), sex="male", age_years=60, serum_creatinine_umol_l=D(80)
    )
    base.update(kwargs)
    return regimen_doses.regimen_doses([CAPECITABINE, OXALIPLATIN, SERPLULIMAB], **base)  # type: ignore[arg-type]


def test_regimen_for_the_reference_person() -> None:
    result = _regimen()
    assert result.bsa_m2 == D("2.00")
    # (140 − 60) × 80 / (72 × 80/88.4) = 98.2
    assert result.creatinine_clearance_ml_min == D("98.2")
    doses = {d["drug"]: d for d in result.doses}
    assert doses["capecitabine"]["dose_mg"] == 2000 and doses["capecitabine"]["tablets"] == {"150": 0, "500": 4}
    assert doses["capecitabine"]["tablets_per_cycle"] == {"150": 0, "500": 112}
    assert doses["oxaliplatin"]["dose_mg"] == 260
    assert doses["serplulimab"]["dose_mg"] == 300
    assert result.blockers == [] and result.warnings == []


PROTOCOL = protocol.read(Path(protocol.__file__).parent / "protocols" / "NCT06850103.yaml")
RENAL_RULES = regimen.dosing_settings(PROTOCOL).renal_rules
WEIGHT_RULE = regimen.dosing_settings(PROTOCOL).weight_rule
# (140 − 70) × 60 / (72 × 250/88.4) = 20.6 mL/min: severe renal impairment
SEVERE = dict(weight_kg=D(60), height_cm=D(165), age_years=70, serum_creatinine_umol_l=D(250))
# (140 − 70) × 70 / (72 × 130/88.4) = 46.3 mL/min: moderate; BSA √(170·70/3600) = 1.82
MODERATE = dict(weight_kg=D(70), height_cm=D(170), age_years=70, serum_creatinine_umol_l=D(130))


def _renal(
    decisions: dict[str, list[modifications.RenalDecisionInput]] | None = None, **kwargs: object
) -> regimen_doses.RegimenResult:
    return _regimen(renal_rules=RENAL_RULES, renal_decisions=decisions, **kwargs)


def _dose(result: regimen_doses.RegimenResult, drug: str) -> dict[str, object]:
    return next(d for d in result.doses if d["drug"] == drug)


def test_the_protocol_lists_a_renal_rule_per_drug_with_its_source() -> None:
    rules = {(r.drug, r.band): r for r in RENAL_RULES}
    # Oxaliplatin EU SmPC §4.3 and Xeloda EU SmPC §4.3: contraindicated below 30 mL/min;
    # Xeloda EU SmPC §4.2 / US label disagree at 30–50: the investigator decides.
    assert rules["oxaliplatin", "< 30"].action == modifications.RENAL_CONTRAINDICATED
    assert rules["capecitabine", "< 30"].action == modifications.RENAL_CONTRAINDICATED
    assert rules["capecitabine", "30–50"].action == modifications.RENAL_INVESTIGATOR
    assert all("SmPC" in r.source for r in RENAL_RULES)


@pytest.mark.parametrize(
    ("crcl", "band"),
    [("29.9", "< 30"), ("30", "30–50"), ("50", "30–50"), ("50.1", None), ("24.7", "< 30")],
)
def test_renal_bands_include_their_edges(crcl: str, band: str | None) -> None:
    rule = modifications.renal_rule_for(RENAL_RULES, "capecitabine", D(crcl))
    assert (rule.band if rule else None) == band


def test_a_contraindicated_drug_is_never_given_and_blocks_until_withheld() -> None:
    result = _renal(**SEVERE)
    assert result.creatinine_clearance_ml_min == D("20.6")
    for drug in ("capecitabine", "oxaliplatin"):
        entry = _dose(result, drug)
        assert entry["status"] == "contraindicated" and entry["dose_mg"] is None
        assert entry["renal"] == {
            "band": "< 30",
            "action": "contraindicated",
            "source": next(r.source for r in RENAL_RULES if r.drug == drug and r.band == "< 30"),
            "decision": None,
        }
    assert _dose(result, "serplulimab")["dose_mg"] == 300  # no renal rule
    assert [b.code for b in result.blockers] == ["renal_decision_required", "renal_decision_required"]
    assert [w.code for w in result.warnings].count("renal_contraindication") == 2

    withheld = modifications.RenalDecisionInput("< 30", modifications.DECISION_WITHHOLD)
    decided = _renal({"capecitabine": [withheld], "oxaliplatin": [withheld]}, **SEVERE)
    assert decided.blockers == []
    for drug in ("capecitabine", "oxaliplatin"):
        assert _dose(decided, drug)["status"] == "withheld" and _dose(decided, drug)["dose_mg"] is None
    # A decision made for another band does not count.
    other = _renal(
        {"capecitabine": [modifications.RenalDecisionInput("30–50", modifications.DECISION_CONFIRM)]}, **SEVERE
    )
    assert _dose(other, "capecitabine")["status"] == "contraindicated"


def test_the_moderate_band_has_no_dose_until_the_investigator_decides() -> None:
    result = _renal(**MODERATE)
    assert result.creatinine_clearance_ml_min == D("46.3")
    cape = _dose(result, "capecitabine")
    assert cape["status"] == "awaiting_decision" and cape["dose_mg"] is None
    assert [b.code for b in result.blockers] == ["renal_decision_required"]
    assert "renal_investigator" in [w.code for w in result.warnings]
    assert _dose(result, "oxaliplatin")["dose_mg"] == 235  # 130 × 1.82 = 236.6 → 235 mg, no rule at 46.3


@pytest.mark.parametrize(
    ("decision", "level", "status", "dose_mg"),
    [
        # capecitabine.md (Xeloda EU SmPC §4.2 Table 2), BSA 1.79–1.92: 1800 / 1400 (75 %) / 900 (50 %)
        (modifications.DECISION_CONFIRM, None, "give", 1800),
        (modifications.DECISION_REDUCE, 1, "give", 1400),
        (modifications.DECISION_REDUCE, 2, "give", 900),
        (modifications.DECISION_WITHHOLD, None, "withheld", None),
    ],
)
def test_the_investigators_decision_is_what_the_sheet_gives(
    decision: str, level: int | None, status: str, dose_mg: int | None
) -> None:
    result = _renal({"capecitabine": [modifications.RenalDecisionInput("30–50", decision, level)]}, **MODERATE)
    cape = _dose(result, "capecitabine")
    assert result.blockers == []
    assert (cape["status"], cape["dose_mg"]) == (status, dose_mg)
    assert cape["renal"]["decision"] == decision


def test_a_rule_that_reduces_needs_no_decision() -> None:
    rules = [
        modifications.RenalRule(
            "oxaliplatin", modifications.RENAL_REDUCE, min_ml_min=D(30), max_ml_min=D(50), to_level=D(100)
        )
    ]
    result = _regimen(renal_rules=rules, **MODERATE)
    oxali = _dose(result, "oxaliplatin")
    assert oxali["dose_mg"] == 180  # 100 mg/m² × 1.82 = 182 → 180 mg (nearest 5)
    assert english(oxali["level_reason"]) == regimen_doses.REASON_RENAL % {"crcl": "46.3"}
    assert result.blockers == [] and "renal_reduced" in [w.code for w in result.warnings]


@pytest.mark.parametrize(
    ("band", "decision", "level", "current", "fits"),
    [
        ("< 30", modifications.DECISION_WITHHOLD, None, 0, True),
        ("< 30", modifications.DECISION_CONFIRM, None, 0, False),  # contraindicated: never a full dose
        ("< 30", modifications.DECISION_REDUCE, 1, 0, False),
        ("30–50", modifications.DECISION_CONFIRM, None, 0, True),
        ("30–50", modifications.DECISION_REDUCE, 1, 0, True),
        ("30–50", modifications.DECISION_REDUCE, 0, 0, False),  # "reduce" to the full dose
        ("30–50", modifications.DECISION_REDUCE, 1, 1, False),  # already at 75 % after a toxicity
        ("30–50", modifications.DECISION_CONFIRM, 1, 0, False),  # a level without a reduction
        (None, modifications.DECISION_WITHHOLD, None, 0, False),  # no rule at this CrCl
    ],
)
def test_a_decision_must_fit_the_band(
    band: str | None, decision: str, level: int | None, current: int, fits: bool
) -> None:
    rule = next((r for r in RENAL_RULES if r.drug == "capecitabine" and r.band == band), None)
    problem = modifications.renal_decision_problem(
        CAPECITABINE, rule, decision=decision, level=level, current_level=current
    )
    assert (problem is None) == fits


def test_day1_criteria_use_only_labs_within_the_window() -> None:
    day1 = dt.date(2026, 3, 10)
    minimums = {"anc": D("1.5"), "platelets": D(100)}
    ok, rows = regimen_doses.day1_criteria(
        labs={"anc": (D("2.0"), dt.date(2026, 3, 8)), "platelets": (D(150), dt.date(2026, 3, 7))},
        day1=day1,
        window_days=3,
        minimums=minimums,
    )
    assert ok and all(r["met"] for r in rows)
    low, _rows = regimen_doses.day1_criteria(
        labs={"anc": (D("1.4"), dt.date(2026, 3, 9)), "platelets": (D(150), dt.date(2026, 3, 9))},
        day1=day1,
        window_days=3,
        minimums=minimums,
    )
    stale, rows = regimen_doses.day1_criteria(
        labs={"anc": (D("2.0"), dt.date(2026, 3, 6)), "platelets": (D(150), dt.date(2026, 3, 9))},
        day1=day1,
        window_days=3,
        minimums=minimums,
    )
    assert not low and not stale
    assert english(rows[0]["reason"]) == "no result in the lab window"


def test_weight_change_percent() -> None:
    assert formulas.weight_change_pct(D(80), D(72)) == D("-10.0")
    assert formulas.weight_change_pct(D(80), D("87.9")) == D("9.9")


# --- Invariants ------------------------------------------------------------------------------------

heights = st.integers(min_value=14000, max_value=21000).map(lambda x: D(x) / 100)
bmis = st.integers(min_value=160, max_value=450).map(lambda x: D(x) / 10)
bsas = st.integers(min_value=100, max_value=300).map(lambda x: D(x) / 100)


@settings(max_examples=300, deadline=None)
@given(height=heights, body_mass_index=bmis, formula=st.sampled_from(formulas.BSA_FORMULAS[1:]))
def test_every_formula_stays_within_10_percent_of_mosteller(height: D, body_mass_index: D, formula: str) -> None:
    weight = body_mass_index * (height / 100) ** 2
    if not D(30) <= weight <= D(250):
        return
    mosteller = formulas.bsa_unrounded(height, weight)
    other = formulas.bsa_unrounded(height, weight, formula)
    assert abs(other - mosteller) / mosteller < D("0.10")


@settings(max_examples=200, deadline=None)
@given(a=bsas, b=bsas, drug=st.sampled_from([CAPECITABINE, OXALIPLATIN, SERPLULIMAB]))
def test_a_larger_bsa_never_gives_a_smaller_full_dose(a: D, b: D, drug: drug_doses.DrugSpec) -> None:
    small, large = sorted([a, b])
    assert (
        drug_doses.drug_dose(drug, level=0, bsa_m2=small, weight_kg=D(70)).dose_mg
        <= drug_doses.drug_dose(drug, level=0, bsa_m2=large, weight_kg=D(70)).dose_mg
    )


@settings(max_examples=200, deadline=None)
@given(bsa_m2=bsas, drug=st.sampled_from([CAPECITABINE, OXALIPLATIN]), data=st.data())
def test_reduced_never_exceeds_full_and_tablets_add_up(
    bsa_m2: D, drug: drug_doses.DrugSpec, data: st.DataObject
) -> None:
    level = data.draw(st.integers(min_value=0, max_value=len(drug.levels) - 1))
    full = drug_doses.drug_dose(drug, level=0, bsa_m2=bsa_m2, weight_kg=D(70))
    reduced = drug_doses.drug_dose(drug, level=level, bsa_m2=bsa_m2, weight_kg=D(70))
    assert reduced.dose_mg <= full.dose_mg
    if reduced.tablets is not None:
        assert sum(strength * n for strength, n in reduced.tablets.items()) == reduced.dose_mg


@settings(max_examples=200, deadline=None)
@given(dose=st.integers(min_value=0, max_value=60).map(lambda n: n * 50))
def test_fewest_tablets_add_up_when_possible(dose: int) -> None:
    tablets = drug_doses.fewest_tablets(dose, [150, 500])
    if tablets is not None:
        assert 150 * tablets[150] + 500 * tablets[500] == dose


@pytest.mark.parametrize(
    ("weight", "rule", "bsa", "capecitabine_mg"),
    [
        # 170 cm / 65 kg: √(170·65/3600) = 1.752 → 1.75 m², band 1.67–1.78 → 1750 mg (capecitabine.md).
        # 58.57 kg: (58.57 − 65)/65 = −9.89 % → −9.9 %, below 10 %: the previous basis is kept (issue 13).
        ("58.57", regimen_doses.BASIS_KEPT, "1.75", 1750),
        # 58.5 kg: −10.0 %: recalculated, √(170·58.5/3600) = 1.662 → 1.66 m², band 1.53–1.66 → 1600 mg.
        ("58.5", regimen_doses.BASIS_RECALCULATED, "1.66", 1600),
        # +10.0 % (71.5 kg): recalculated, √(170·71.5/3600) = 1.837 → 1.84 m², band 1.79–1.92 → 1800 mg.
        ("71.5", regimen_doses.BASIS_RECALCULATED, "1.84", 1800),
    ],
)
def test_weight_change_below_the_threshold_keeps_the_previous_dose_basis(
    weight: str, rule: str, bsa: str, capecitabine_mg: int
) -> None:
    assert regimen_doses.WeightRule(D(10), True, WEIGHT_RULE.source) == WEIGHT_RULE and WEIGHT_RULE.source
    measured = formulas.bsa(D(170), D(weight))
    basis = regimen_doses.dose_basis(
        weight_kg=D(weight), bsa_m2=measured, previous=(D(65), D("1.75")), rule=WEIGHT_RULE
    )
    assert (basis.rule, basis.bsa_m2) == (rule, D(bsa))
    result = _regimen(height_cm=D(170), weight_kg=D(weight), basis=basis)
    assert result.bsa_m2 == D(bsa)
    assert _dose(result, "capecitabine")["dose_mg"] == capecitabine_mg


def test_a_protocol_that_does_not_keep_the_basis_always_recalculates() -> None:
    rule = regimen_doses.WeightRule(D(10), keep_previous_basis_below=False)
    basis = regimen_doses.dose_basis(weight_kg=D("58.57"), bsa_m2=D("1.66"), previous=(D(65), D("1.75")), rule=rule)
    assert (basis.rule, basis.weight_kg, basis.bsa_m2) == (regimen_doses.BASIS_RECALCULATED, D("58.57"), D("1.66"))
    first = regimen_doses.dose_basis(weight_kg=D(65), bsa_m2=D("1.75"), previous=None, rule=WEIGHT_RULE)
    assert first.rule == regimen_doses.BASIS_MEASURED and first.change_pct is None


def test_a_version_loaded_before_the_renal_rules_keeps_its_limits() -> None:
    # The dosing section of protocol version 1 as first loaded (before renal_rules / weight_change).
    old = {
        "dosing": {
            "weight_change_recalculate_pct": 10,
            "renal": {
                "capecitabine_contraindicated_below_ml_min": 30,
                "moderate_band_ml_min": [30, 50],
                "moderate_band_capecitabine_pct": 100,
            },
        }
    }
    cfg = regimen.dosing_settings(old)
    assert [(r.drug, r.band, r.action) for r in cfg.renal_rules] == [
        ("capecitabine", "< 30", modifications.RENAL_CONTRAINDICATED),
        ("capecitabine", "30–50", modifications.RENAL_INVESTIGATOR),
    ]
    assert cfg.weight_rule == regimen_doses.WeightRule(D(10), False)
