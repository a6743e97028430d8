"""The protocol's modification rules: toxicity (a CTCAE grade's action and the dose level
from the next cycle) and renal function (a Cockcroft–Gault band's action and the
investigator's decisions that fit it). Pure Python (no Django)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dosing import tables
from dosing.calculations.drug_doses import DrugSpec
from dosing.calculations.formulas import CalculationError, D, _, format_number
from dosing.error_codes import DosingErrorCode
from trialsite.phrases import Phrase, code, phrase

# Which rule decided (stored as a phrase in DoseModification.rule, shown in the reader's language).
RULE_GRADE_5 = _("grade 5")
RULE_TOXICITY_TABLE = _("%(drug)s toxicity table, grade %(grade)s, appearance %(appearance)s")
RULE_NOT_REDUCIBLE = _("%(drug)s: grade %(grade)s")
RULE_STEP_DOWN = _("%(drug)s: grade %(grade)s (one level down for grade ≥ 3)")
RULE_STEP_DOWN_DISCONTINUED = _(
    "%(drug)s: grade %(grade)s (one level down for grade ≥ 3), discontinued by the investigator"
)
RULE_STEP_DOWN_WITHHELD = _("%(drug)s: grade %(grade)s (one level down for grade ≥ 3), withheld this cycle")

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
    rule: Phrase  # which row of which table decided


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

    - a drug with a toxicity table (drugs.<code>.toxicity_table, dosing.tables.TOXICITY_TABLES;
      capecitabine's label): the table's cell. Grade 4, first appearance: discontinue, or
      (investigator's choice, `requested_action="reduce"`) resume at 50 %.
    - reducible drugs without a table (oxaliplatin 130 → 100 mg/m² → discontinue): grade ≥ 3
      steps down one level (XELOXA: grade 3/4 toxicity); grade 2 only when the investigator asks
      (persistent paraesthesia); the step below the last level is discontinuation.
    - drugs never reduced (serplulimab): grade 2 withholds the cycle, grade ≥ 3 discontinues
      (formulas.md: pneumonitis grade 2 withhold, 3–4 discontinue); the investigator may choose
      withhold or discontinue; a reduction is refused.

    Levels only go down (a reduction is carried forward and never re-escalated)."""
    if not 1 <= grade <= 5:
        raise CalculationError(
            _("CTCAE grade must be 1 to 5."), field="ctcae_grade", code=DosingErrorCode.INVALID_GRADE
        )
    if appearance < 1:
        raise CalculationError(_("Appearance must be 1 or more."), field="appearance")
    if requested_action is not None and requested_action not in ACTIONS:
        raise CalculationError(_("Unknown action %(action)s."), field="action", params={"action": requested_action})
    stop = len(spec.levels)
    if current_level >= stop:
        raise CalculationError(
            _("%(drug)s is already discontinued."),
            field="drug",
            code=DosingErrorCode.ALREADY_DISCONTINUED,
            params={"drug": spec.name},
        )
    if grade == 5:
        return ModificationOutcome(DISCONTINUE, stop, phrase(RULE_GRADE_5))

    if spec.toxicity_table:
        table = tables.TOXICITY_TABLES[spec.toxicity_table]
        row = table.cells[grade]
        cell = row[min(appearance, len(row)) - 1]
        rule = phrase(RULE_TOXICITY_TABLE, drug=code("drug", spec.code), grade=grade, appearance=appearance)
        if cell == "discontinue_or_50" and requested_action == REDUCE:
            cell = "50"
        if cell in ("discontinue", "discontinue_or_50"):
            return ModificationOutcome(DISCONTINUE, stop, rule)
        if cell == "maintain":
            return ModificationOutcome(MAINTAIN, current_level, rule)
        pct = D(cell.removeprefix("interrupt_"))
        if not spec.levels_are_pct or pct not in spec.levels:
            raise CalculationError(
                _("The %(table)s toxicity table resumes %(drug)s at %(pct)s %%, which is not one of its dose levels."),
                field="drug",
                params={"table": table.code, "drug": spec.name, "pct": format_number(pct)},
            )
        target = spec.levels.index(pct)
        level = max(current_level, target)  # never re-escalated
        action = INTERRUPT if cell.startswith("interrupt_") else (REDUCE if level > current_level else MAINTAIN)
        return ModificationOutcome(action, level, rule)

    if not spec.reducible:
        if requested_action == REDUCE:
            raise CalculationError(
                _("%(drug)s is never reduced: withhold or discontinue it."),
                field="action",
                code=DosingErrorCode.NOT_REDUCIBLE,
                params={"drug": spec.name},
            )
        if requested_action in (INTERRUPT, DISCONTINUE, MAINTAIN):
            action = requested_action
        else:
            action = MAINTAIN if grade == 1 else INTERRUPT if grade == 2 else DISCONTINUE
        return ModificationOutcome(
            action,
            stop if action == DISCONTINUE else current_level,
            phrase(RULE_NOT_REDUCIBLE, drug=code("drug", spec.code), grade=grade),
        )

    params: dict[str, Any] = {"drug": code("drug", spec.code), "grade": grade}
    rule = phrase(RULE_STEP_DOWN, **params)
    if requested_action == DISCONTINUE:
        return ModificationOutcome(DISCONTINUE, stop, phrase(RULE_STEP_DOWN_DISCONTINUED, **params))
    if requested_action == INTERRUPT:
        return ModificationOutcome(INTERRUPT, current_level, phrase(RULE_STEP_DOWN_WITHHELD, **params))
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
    oxaliplatin) skips the next cycle's dose only; an interruption by a toxicity table (capecitabine)
    happens within the current cycle and the next cycle starts at the resume level."""
    level = 0
    withheld = False
    for seq, new_level, action in modifications:
        if seq >= cycle_seq:
            continue
        level = max(level, new_level)
        if action == INTERRUPT and seq == cycle_seq - 1 and not spec.toxicity_table:
            withheld = True
    return min(level, len(spec.levels)), withheld


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
