"""A drug's dose modification for toxicity comes from the table its protocol names
(drugs.<code>.toxicity_table), not from the drug's name: a second trial's drug with the same
label table is modified by it and named by its own code."""

from __future__ import annotations

import pytest
import yaml
from django.conf import settings

from dosing import document
from dosing.calculations import drug_doses, modifications
from dosing.calculations.formulas import CalculationError
from dosing.tables import TOXICITY_TABLES
from trialsite import protocol
from trialsite.phrases import code, english

WITH_TABLE = {"toxicity_table": "capecitabine_label_toxicity"}
ORAL = {
    "name": "Oral agent",
    "route": "oral",
    "basis": "mg_per_m2",
    "dose": 1250,
    "days": list(range(1, 15)),
    "tablet_strengths_mg": [150, 500],
    "band_table": "capecitabine_eu_smpc_1000",
    "dose_levels_pct": [100, 75, 50],
}


def test_another_drug_with_the_label_table_is_modified_by_it_and_named_by_its_code() -> None:
    spec = drug_doses.DrugSpec.from_definition("oral_x", {**ORAL, **WITH_TABLE})
    # Xeloda EU SmPC §4.2 / US PI Table 2 (shared/reference/capecitabine.md): grade 3, first
    # appearance → interrupt until grade 0–1, then resume at 75 %.
    outcome = modifications.decide_modification(spec, grade=3, appearance=1, current_level=0)
    assert (outcome.action, outcome.new_level) == ("interrupt", 1)
    assert english(outcome.rule) == "oral_x toxicity table, grade 3, appearance 1"


def test_a_band_table_alone_does_not_bring_a_toxicity_table() -> None:
    spec = drug_doses.DrugSpec.from_definition("oral_x", ORAL)
    outcome = modifications.decide_modification(spec, grade=3, appearance=1, current_level=0)
    # No table: a reducible drug steps down one level for grade ≥ 3 (the protocol's generic rule).
    assert (outcome.action, outcome.new_level) == ("reduce", 1)
    assert english(outcome.rule) == "oral_x: grade 3 (one level down for grade ≥ 3)"


def test_a_table_percentage_that_is_not_a_dose_level_is_a_clear_error() -> None:
    spec = drug_doses.DrugSpec.from_definition("oral_x", {**ORAL, **WITH_TABLE, "dose_levels_pct": [100, 80]})
    with pytest.raises(CalculationError) as caught:
        modifications.decide_modification(spec, grade=3, appearance=1, current_level=0)
    assert "75 %" in str(caught.value) and "capecitabine_label_toxicity" in str(caught.value)


def test_the_table_percentages_are_the_label_columns() -> None:
    assert TOXICITY_TABLES["capecitabine_label_toxicity"].percentages() == {100, 75, 50}


def test_a_protocol_naming_a_toxicity_table_must_give_percentage_levels() -> None:
    definition = protocol.read(settings.PROTOCOL_DIR / "NCT06850103.yaml")
    drug = {k: v for k, v in definition["drugs"]["capecitabine"].items() if k not in ("dose_levels_pct", "band_table")}
    broken = {**definition, "drugs": {**definition["drugs"], "capecitabine": drug}}
    with pytest.raises(protocol.ProtocolDefinitionError) as caught:
        protocol.parse(yaml.safe_dump(broken, allow_unicode=True))
    assert "drugs.capecitabine" in str(caught.value) and "dose_levels_pct" in str(caught.value)


def test_the_sheet_cites_the_toxicity_table_only_for_a_drug_that_has_one() -> None:
    with_table = drug_doses.DrugSpec.from_definition("oral_x", {**ORAL, **WITH_TABLE})
    without = drug_doses.DrugSpec.from_definition("oral_y", ORAL)
    cited = document._sources([with_table, without], bsa_formula="mosteller", warnings=[])
    toxicity = [s for s in cited if s["what"].get("msgid") == document.SOURCE_TOXICITY_TABLE]
    assert [s["what"]["params"]["drug"] for s in toxicity] == [code("drug", "oral_x")]
    assert toxicity[0]["source"] == TOXICITY_TABLES["capecitabine_label_toxicity"].source
