"""Dosing API: investigators' dose modifications and renal decisions
(/api/v1/participants/{id}/dose-modifications/ and …/renal-decisions/)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from dosing import selectors, services
from dosing.models import DoseModification, DoseSheet, RenalDecision
from tests.dosing.conftest import NOW, SheetMaker, dose, randomize, record_inputs
from tests.factories import ParticipantFactory
from tests.support.signatures import signed
from trialsite import roles
from trialsite.models import Participant, Site

Api = Callable[[Any], APIClient]

CYCLE2_DAY1 = dt.date(2026, 3, 26)

HFS_GRADE_3 = {
    "drug": "capecitabine",
    "phase": "neoadjuvant",
    "cycle_number": 1,
    "toxicity_term": "Palmar-plantar erythrodysesthesia syndrome",
    "ctcae_grade": 3,
    "reason": "Hand-foot syndrome grade 3, resolved to grade 1 after interruption.",
}
RENAL = {
    "phase": "neoadjuvant",
    "cycle_number": 1,
    "drug": "capecitabine",
    "decision": "withhold",
    "reason": "CrCl 26.5 mL/min, below 30.",
}


def modifications_url(participant: Participant) -> str:
    return f"/api/v1/participants/{participant.pk}/dose-modifications/"


def renal_url(participant: Participant) -> str:
    return f"/api/v1/participants/{participant.pk}/renal-decisions/"


def current(participant: Participant, cycle: int) -> DoseSheet:
    sheet = selectors.current_sheet(participant_id=participant.pk, phase="neoadjuvant", cycle_number=cycle)
    assert sheet is not None
    return sheet


@pytest.fixture
def cycle2(patient: Participant, make_sheet: SheetMaker) -> DoseSheet:
    """Cycle 2's sheet at full dose (BSA 2.00 m²), with measurements and labs in its window."""
    record_inputs(patient, on=dt.date(2026, 3, 24))
    sheet = make_sheet(patient, cycle=2, day1=CYCLE2_DAY1)
    assert dose(sheet, "capecitabine")["dose_mg"] == 2000  # capecitabine.md, band 1.93–2.06, full dose
    return sheet


@pytest.fixture
def renal_patient(participant: Participant, make_sheet: SheetMaker) -> Participant:
    """Cycle 1's sheet with capecitabine contraindicated: (140 − 59) × 80 / (72 × 300/88.4) = 26.5 mL/min."""
    randomize(participant)
    record_inputs(participant, creatinine="300")
    sheet = make_sheet(participant)
    assert dose(sheet, "capecitabine")["status"] == "contraindicated" and not sheet.releasable
    return participant


@pytest.fixture
def other_site_investigator(make_user: Any, other_site: Site) -> User:
    return make_user(roles.INVESTIGATOR, [other_site], username="investigator_b")


# --- Dose modifications ---------------------------------------------------------------------------


def test_investigator_records_a_modification_and_the_next_cycle_is_reduced(
    api: Api, investigator: User, patient: Participant, cycle2: DoseSheet
) -> None:
    # when
    response = api(investigator).post(modifications_url(patient), HFS_GRADE_3, format="json")

    # then: the recorded row, with the rule's outcome
    assert response.status_code == 201, response.json()
    body = response.json()
    row = DoseModification.objects.get(participant=patient)
    assert body["id"] == row.pk
    # capecitabine.md toxicity table: grade 3, 1st appearance → interrupt, resume at 75 %
    assert (body["action"], body["new_level"], body["level_label"]) == ("interrupt", 1, "75 %")
    assert body["rule"] == "capecitabine toxicity table, grade 3, appearance 1"
    assert body["appearance"] == 1
    assert body["decided_by"] == "investigator"
    assert dt.datetime.fromisoformat(body["decided_at"]) == NOW
    assert row.decided_by == investigator and row.reason == HFS_GRADE_3["reason"]

    # and cycle 2's sheet was re-prepared at 75 %
    cycle2.refresh_from_db()
    assert cycle2.status == "void"
    new = current(patient, 2)
    assert new.version == 2
    # capecitabine.md, BSA band 1.93–2.06 (2.00 m²): 75 % dose 1500 mg = 3 × 500 mg
    assert dose(new, "capecitabine")["dose_mg"] == 1500
    assert dose(new, "capecitabine")["tablets"] == {"150": 0, "500": 3}
    assert dose(new, "oxaliplatin")["dose_mg"] == 260  # the other drugs keep their dose


def test_an_oxaliplatin_reduction_reaches_the_next_sheet(
    api: Api, investigator: User, patient: Participant, cycle2: DoseSheet
) -> None:
    response = api(investigator).post(
        modifications_url(patient),
        {**HFS_GRADE_3, "drug": "oxaliplatin", "toxicity_term": "Peripheral sensory neuropathy"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["action"], response.json()["level_label"]) == ("reduce", "100 mg/m²")
    # formulas.md: first reduction 130 → 100 mg/m²; × 2.00 m² = 200 mg
    assert dose(current(patient, 2), "oxaliplatin")["dose_mg"] == 200
    assert dose(current(patient, 2), "capecitabine")["dose_mg"] == 2000


@pytest.mark.parametrize("role", ["nurse", "pharmacist", "statistician", "api_client_user"])
def test_only_investigators_record_decisions(
    api: Api, role: str, request: pytest.FixtureRequest, renal_patient: Participant
) -> None:
    user = request.getfixturevalue(role)
    sheet = current(renal_patient, 1)
    for url, body in ((modifications_url(renal_patient), HFS_GRADE_3), (renal_url(renal_patient), RENAL)):
        response = api(user).post(url, body, format="json")
        assert response.status_code == 403, (url, response.json())
        assert response.json()["code"] == "permission_denied"
    assert not DoseModification.objects.exists() and not RenalDecision.objects.exists()
    assert current(renal_patient, 1).pk == sheet.pk


def test_another_sites_participant_is_not_found(
    api: Api, other_site_investigator: User, renal_patient: Participant, other_nurse: User
) -> None:
    for url, body in ((modifications_url(renal_patient), HFS_GRADE_3), (renal_url(renal_patient), RENAL)):
        response = api(other_site_investigator).post(url, body, format="json")
        assert response.status_code == 404, (url, response.json())
        assert api(other_site_investigator).get(url).status_code == 404
        assert api(other_nurse).get(url).status_code == 404
    assert not DoseModification.objects.exists() and not RenalDecision.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ctcae_grade": 0}, "ctcae_grade"),
        ({"ctcae_grade": 6}, "ctcae_grade"),
        ({"ctcae_grade": "three"}, "ctcae_grade"),
        ({"reason": "   "}, "reason"),
        ({"requested_action": "escalate"}, "requested_action"),
        ({"drug": "fluorouracil"}, "drug"),  # refused by the service: not a drug of the protocol
        ({"phase": "surgery"}, "phase"),  # not a systemic phase
        ({"cycle_number": 9}, "cycle_number"),  # the neoadjuvant phase has 4 cycles
    ],
)
def test_bad_modification_input_is_400_with_field_messages_and_nothing_is_written(
    api: Api, investigator: User, patient: Participant, cycle2: DoseSheet, change: dict[str, Any], field: str
) -> None:
    response = api(investigator).post(modifications_url(patient), {**HFS_GRADE_3, **change}, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"][field], body
    assert not DoseModification.objects.exists()
    assert current(patient, 2).pk == cycle2.pk  # the sheet was not re-prepared


def test_missing_fields_are_named(api: Api, investigator: User, patient: Participant) -> None:
    response = api(investigator).post(modifications_url(patient), {"drug": "capecitabine"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"phase", "cycle_number", "toxicity_term", "ctcae_grade", "reason"}


def test_rule_violations_are_422(api: Api, investigator: User, patient: Participant, cycle2: DoseSheet) -> None:
    client = api(investigator)
    # grade 5 discontinues (calculations.decide_modification)
    death_risk = {**HFS_GRADE_3, "drug": "oxaliplatin", "toxicity_term": "Sepsis", "ctcae_grade": 5}
    first = client.post(modifications_url(patient), death_risk, format="json")
    assert first.status_code == 201 and first.json()["action"] == "discontinue"
    assert dose(current(patient, 2), "oxaliplatin")["status"] == "discontinued"
    again = client.post(modifications_url(patient), {**death_risk, "ctcae_grade": 3}, format="json")
    assert again.status_code == 422, again.json()
    assert again.json()["code"] == "already_discontinued"
    # serplulimab is never reduced (formulas.md): withhold or discontinue only
    reduce = {**HFS_GRADE_3, "drug": "serplulimab", "toxicity_term": "Pneumonitis", "requested_action": "reduce"}
    refused = client.post(modifications_url(patient), reduce, format="json")
    assert refused.status_code == 422 and refused.json()["code"] == "not_reducible"
    assert list(refused.json()["errors"]) == ["requested_action"]  # the field the client sent
    assert DoseModification.objects.filter(participant=patient).count() == 1


def test_modifications_are_listed_newest_first_to_staff(
    api: Api,
    investigator: User,
    nurse: User,
    pharmacist: User,
    statistician: User,
    api_client_user: User,
    patient: Participant,
    trial: Any,
    site: Site,
    django_assert_max_num_queries: Any,
) -> None:
    record = dict(participant=patient, phase="neoadjuvant", by=investigator, reason="r")
    hfs = services.dose_modification_record(
        drug="capecitabine",
        cycle_number=1,
        toxicity_term="Hand-foot",
        ctcae_grade=2,
        now=NOW,
        signature=signed(investigator, "dose_modification", at=NOW),
        **record,
    )
    # entered second but decided a day earlier (a late entry): listed after the first
    late = services.dose_modification_record(
        drug="oxaliplatin",
        cycle_number=1,
        toxicity_term="Neuropathy",
        ctcae_grade=3,
        now=NOW - dt.timedelta(days=1),
        signature=signed(investigator, "dose_modification", at=NOW - dt.timedelta(days=1)),
        **record,
    )
    newest = services.dose_modification_record(
        drug="capecitabine",
        cycle_number=2,
        toxicity_term="Diarrhea",
        ctcae_grade=3,
        now=NOW + dt.timedelta(hours=1),
        signature=signed(investigator, "dose_modification", at=NOW + dt.timedelta(hours=1)),
        **record,
    )
    someone_else = ParticipantFactory(trial=trial, site=site)
    randomize(someone_else, number=2)
    services.dose_modification_record(
        participant=someone_else,
        drug="capecitabine",
        phase="neoadjuvant",
        cycle_number=1,
        toxicity_term="Nausea",
        ctcae_grade=3,
        reason="r",
        by=investigator,
        now=NOW + dt.timedelta(days=1),
        signature=signed(investigator, "dose_modification", at=NOW + dt.timedelta(days=1)),
    )
    for user in (nurse, pharmacist, statistician, investigator):
        with django_assert_max_num_queries(8):
            response = api(user).get(modifications_url(patient))
        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["count"] == 3
        assert [r["id"] for r in body["results"]] == [newest.pk, hfs.pk, late.pk]
        assert body["results"][0]["decided_by"] == "investigator"
    assert api(api_client_user).get(modifications_url(patient)).status_code == 403


# --- Renal decisions ------------------------------------------------------------------------------


def test_investigator_withholds_each_contraindicated_drug_and_then_the_sheet_can_be_released(
    api: Api, investigator: User, renal_patient: Participant
) -> None:
    before = current(renal_patient, 1)

    response = api(investigator).post(renal_url(renal_patient), RENAL, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    row = RenalDecision.objects.get(participant=renal_patient)
    assert body == {
        "id": row.pk,
        "phase": "neoadjuvant",
        "cycle_number": 1,
        "drug": "capecitabine",
        "band": "< 30",
        "crcl_ml_min": "26.5",
        "decision": "withhold",
        "level": None,
        "level_label": "",
        "reason": RENAL["reason"],
        "decided_by": "investigator",
        "decided_at": body["decided_at"],
    }
    assert dt.datetime.fromisoformat(body["decided_at"]) == NOW
    before.refresh_from_db()
    assert before.status == "void"
    sheet = current(renal_patient, 1)
    assert sheet.version == 2
    assert dose(sheet, "capecitabine")["status"] == "withheld"
    # Oxaliplatin EU SmPC §4.3: contraindicated below 30 mL/min too; still no release without a decision.
    assert dose(sheet, "oxaliplatin")["status"] == "contraindicated" and dose(sheet, "oxaliplatin")["dose_mg"] is None
    assert not sheet.releasable

    again = api(investigator).post(renal_url(renal_patient), {**RENAL, "drug": "oxaliplatin"}, format="json")

    assert again.status_code == 201, again.json()
    sheet = current(renal_patient, 1)
    assert sheet.version == 3 and sheet.releasable
    assert dose(sheet, "oxaliplatin")["status"] == "withheld" and dose(sheet, "oxaliplatin")["dose_mg"] is None
    assert dose(sheet, "serplulimab")["dose_mg"] == 300


def test_a_second_renal_decision_for_the_cycle_is_409(api: Api, investigator: User, renal_patient: Participant) -> None:
    client = api(investigator)
    assert client.post(renal_url(renal_patient), RENAL, format="json").status_code == 201
    sheet = current(renal_patient, 1)

    again = client.post(renal_url(renal_patient), {**RENAL, "reason": "again"}, format="json")

    assert again.status_code == 409, again.json()
    assert again.json()["code"] == "renal_decision_exists"
    assert RenalDecision.objects.filter(participant=renal_patient).count() == 1
    assert current(renal_patient, 1).pk == sheet.pk


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cycle_number": 0}, "cycle_number"),
        ({"cycle_number": 5}, "cycle_number"),
        ({"phase": "scrt"}, "phase"),
        ({"decision": "halve"}, "decision"),
        ({"decision": None}, "decision"),
        ({"decision": "reduce"}, "reduce_to"),
        ({"reduce_to": 75}, "reduce_to"),
        ({"drug": "aspirin"}, "drug"),
        ({"reason": ""}, "reason"),
    ],
)
def test_bad_renal_input_is_400(
    api: Api, investigator: User, renal_patient: Participant, change: dict[str, Any], field: str
) -> None:
    response = api(investigator).post(renal_url(renal_patient), {**RENAL, **change}, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["errors"][field]
    assert not RenalDecision.objects.exists()


def test_renal_decisions_are_listed_newest_first(
    api: Api,
    investigator: User,
    pharmacist: User,
    api_client_user: User,
    renal_patient: Participant,
    make_sheet: SheetMaker,
) -> None:
    record_inputs(renal_patient, on=dt.date(2026, 3, 24), creatinine="300")
    make_sheet(renal_patient, cycle=2, day1=CYCLE2_DAY1)
    record = dict(participant=renal_patient, phase="neoadjuvant", reason="CrCl < 30", by=investigator)
    cycle1 = services.renal_decision_record(
        cycle_number=1,
        drug="capecitabine",
        decision="withhold",
        now=NOW,
        signature=signed(investigator, "renal_decision", at=NOW),
        **record,
    )
    cycle1_oxali = services.renal_decision_record(
        cycle_number=1,
        drug="oxaliplatin",
        decision="withhold",
        now=NOW - dt.timedelta(days=2),
        signature=signed(investigator, "renal_decision", at=NOW - dt.timedelta(days=2)),
        **record,
    )
    cycle2 = services.renal_decision_record(
        cycle_number=2,
        drug="capecitabine",
        decision="withhold",
        now=NOW + dt.timedelta(days=1),
        signature=signed(investigator, "renal_decision", at=NOW + dt.timedelta(days=1)),
        **record,
    )

    response = api(pharmacist).get(renal_url(renal_patient))

    assert response.status_code == 200
    assert [(r["id"], r["cycle_number"]) for r in response.json()["results"]] == [
        (cycle2.pk, 2),
        (cycle1.pk, 1),
        (cycle1_oxali.pk, 1),
    ]
    assert api(api_client_user).get(renal_url(renal_patient)).status_code == 403
