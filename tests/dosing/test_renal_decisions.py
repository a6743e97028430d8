"""Renal rules for every drug, decided by a person (issue 13): the protocol's rules reach the
sheet, a sheet in a band that needs a decision is never released without one, the decision and
the released sheet agree, and decisions that do not fit are refused; dose modifications for a
drug the arm does not receive are refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dosing import selectors, services
from dosing.models import DoseModification, DoseSheet, RenalDecision
from tests.dosing.conftest import NOW, SheetMaker, dose, randomize, record_inputs
from tests.support.signatures import signed
from trialsite.errors import RuleViolation
from trialsite.models import Participant

Api = Callable[[Any], APIClient]


def renal_url(participant: Participant) -> str:
    return f"/api/v1/participants/{participant.pk}/renal-decisions/"


def current(participant: Participant) -> DoseSheet:
    sheet = selectors.current_sheet(participant_id=participant.pk, phase="neoadjuvant", cycle_number=1)
    assert sheet is not None
    return sheet


def decide(api: Api, user: User, participant: Participant, **body: Any) -> Any:
    data = {"phase": "neoadjuvant", "cycle_number": 1, "reason": "renal function reviewed", **body}
    return api(user).post(renal_url(participant), data, format="json")


def release(sheet: DoseSheet, pharmacist: User, pharmacist2: User) -> DoseSheet:
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=NOW, signature=signed(pharmacist, "verify_sheet", at=NOW)
    )
    return services.dose_sheet_release(
        sheet=sheet, by=pharmacist2, now=NOW, signature=signed(pharmacist2, "release_sheet", at=NOW)
    )


@pytest.fixture
def severe(participant: Participant, make_sheet: SheetMaker) -> Participant:
    """Age 59 on day 1, 80 kg, creatinine 322 µmol/L: (140 − 59) × 80 / (72 × 322/88.4) = 24.7 mL/min
    (the issue's case)."""
    randomize(participant)
    record_inputs(participant, creatinine="322")
    make_sheet(participant)
    return participant


@pytest.fixture
def moderate(participant: Participant, make_sheet: SheetMaker) -> Participant:
    """Creatinine 170 µmol/L: (140 − 59) × 80 / (72 × 170/88.4) = 46.8 mL/min, capecitabine's 30–50 band."""
    randomize(participant)
    record_inputs(participant, creatinine="170")
    make_sheet(participant)
    return participant


def test_a_sheet_at_crcl_24_7_gives_no_oxaliplatin_and_cannot_be_released_without_decisions(
    severe: Participant, pharmacist: User, pharmacist2: User
) -> None:
    sheet = current(severe)
    assert sheet.content["creatinine_clearance_ml_min"] == 24.7
    for drug in ("oxaliplatin", "capecitabine"):  # EU SmPC §4.3 of each: contraindicated < 30 mL/min
        assert dose(sheet, drug)["status"] == "contraindicated" and dose(sheet, drug)["dose_mg"] is None
    assert sheet.cumulative_drug_mg is None
    codes = [w["code"] for w in sheet.content["warnings"]]
    assert codes.count("renal_contraindication") == 2
    assert not sheet.releasable
    with pytest.raises(RuleViolation) as info:
        services.dose_sheet_verify(
            sheet=sheet, by=pharmacist, now=NOW, signature=signed(pharmacist, "verify_sheet", at=NOW)
        )
    assert info.value.code == "sheet_blocked"


def test_only_withholding_fits_a_contraindication(api: Api, investigator: User, severe: Participant) -> None:
    for body in ({"decision": "confirm"}, {"decision": "reduce", "reduce_to": 100}):
        response = decide(api, investigator, severe, drug="oxaliplatin", **body)
        assert response.status_code == 422, response.json()
        assert response.json()["code"] == "renal_decision_not_fitting"
    assert not RenalDecision.objects.exists()
    assert current(severe).version == 1


@pytest.mark.parametrize(
    ("body", "status", "dose_mg", "tablets"),
    [
        # capecitabine.md (Xeloda EU SmPC §4.2 Table 2), BSA 2.00 m², band 1.93–2.06:
        # full 2000 mg (4 × 500), 75 % 1500 mg (3 × 500), 50 % 1000 mg (2 × 500).
        ({"decision": "confirm"}, "give", 2000, {"150": 0, "500": 4}),
        ({"decision": "reduce", "reduce_to": 75}, "give", 1500, {"150": 0, "500": 3}),
        ({"decision": "reduce", "reduce_to": 50}, "give", 1000, {"150": 0, "500": 2}),
        ({"decision": "withhold"}, "withheld", None, None),
    ],
)
def test_the_released_sheet_gives_what_the_investigator_decided(
    api: Api,
    investigator: User,
    pharmacist: User,
    pharmacist2: User,
    moderate: Participant,
    body: dict[str, Any],
    status: str,
    dose_mg: int | None,
    tablets: dict[str, int] | None,
) -> None:
    before = current(moderate)
    assert before.content["creatinine_clearance_ml_min"] == 46.8
    assert dose(before, "capecitabine")["status"] == "awaiting_decision"
    assert dose(before, "capecitabine")["dose_mg"] is None and not before.releasable

    response = decide(api, investigator, moderate, drug="capecitabine", **body)

    assert response.status_code == 201, response.json()
    row = RenalDecision.objects.get(participant=moderate)
    assert (row.decision, row.band, str(row.crcl_ml_min)) == (body["decision"], "30–50", "46.8")
    released = release(current(moderate), pharmacist, pharmacist2)
    cape = dose(released, "capecitabine")
    assert released.status == "released"
    assert (cape["status"], cape["dose_mg"], cape.get("tablets")) == (status, dose_mg, tablets)
    assert cape["renal"]["decision"] == row.decision
    assert dose(released, "oxaliplatin")["dose_mg"] == 260  # no oxaliplatin rule at 46.8 mL/min


def test_a_decision_is_required_and_must_fit_the_band(api: Api, investigator: User, moderate: Participant) -> None:
    missing = decide(api, investigator, moderate, drug="capecitabine")
    assert missing.status_code == 400 and missing.json()["errors"]["decision"]
    not_a_level = decide(api, investigator, moderate, drug="capecitabine", decision="reduce", reduce_to=60)
    assert not_a_level.status_code == 422 and not_a_level.json()["errors"]["reduce_to"]
    no_rule = decide(api, investigator, moderate, drug="oxaliplatin", decision="withhold")
    assert no_rule.status_code == 422 and no_rule.json()["code"] == "renal_decision_not_fitting"
    never_reduced = decide(api, investigator, moderate, drug="serplulimab", decision="confirm")
    assert never_reduced.status_code == 422
    assert not RenalDecision.objects.exists() and current(moderate).version == 1


def test_a_decision_for_another_band_does_not_release_the_sheet(
    investigator: User, moderate: Participant, make_sheet: SheetMaker
) -> None:
    services.renal_decision_record(
        participant=moderate,
        phase="neoadjuvant",
        cycle_number=1,
        drug="capecitabine",
        decision="confirm",
        reason="CrCl 46.8",
        by=investigator,
        now=NOW,
        signature=signed(investigator, "renal_decision", at=NOW),
    )
    assert current(moderate).releasable
    # A new creatinine drops the CrCl below 30: the 30–50 decision no longer applies.
    record_inputs(moderate, creatinine="322")
    sheet = current(moderate)
    assert sheet.content["creatinine_clearance_ml_min"] == 24.7
    assert dose(sheet, "capecitabine")["status"] == "contraindicated" and not sheet.releasable


def test_renal_decisions_for_a_drug_the_arm_does_not_receive_are_refused(
    api: Api, investigator: User, participant: Participant, make_sheet: SheetMaker
) -> None:
    randomize(participant, arm="control")
    record_inputs(participant)
    make_sheet(participant)
    response = decide(api, investigator, participant, drug="serplulimab", decision="withhold")
    assert response.status_code == 422 and response.json()["code"] == "drug_not_in_regimen"


def test_a_dose_modification_for_a_drug_the_arm_does_not_receive_is_refused(
    api: Api, investigator: User, participant: Participant, make_sheet: SheetMaker
) -> None:
    randomize(participant, arm="control")
    record_inputs(participant)
    make_sheet(participant)
    body = {
        "drug": "serplulimab",
        "phase": "neoadjuvant",
        "cycle_number": 1,
        "toxicity_term": "Pneumonitis",
        "ctcae_grade": 2,
        "reason": "grade 2 pneumonitis",
    }
    response = api(investigator).post(f"/api/v1/participants/{participant.pk}/dose-modifications/", body, format="json")
    assert response.status_code == 422, response.json()
    assert response.json()["code"] == "drug_not_in_regimen"
    assert response.json()["errors"]["drug"]
    assert not DoseModification.objects.exists()
    ok = api(investigator).post(
        f"/api/v1/participants/{participant.pk}/dose-modifications/",
        {**body, "drug": "oxaliplatin", "toxicity_term": "Peripheral sensory neuropathy", "ctcae_grade": 3},
        format="json",
    )
    assert ok.status_code == 201, ok.json()
