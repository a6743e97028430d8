"""Dose sheets: preparation from the registry, the two-pharmacist workflow, versions, signals,
modifications and renal decisions (real PostgreSQL, constraints and trigger included)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from dosing import selectors, services
from dosing.models import DoseSheet
from tests.dosing.conftest import DAY1, SheetMaker, dose, randomize, record_inputs
from tests.support.signatures import signed
from trialsite import roles
from trialsite import services as registry
from trialsite.errors import Conflict, InvalidInput, NotFound, NotPermitted, RuleViolation
from trialsite.models import Participant
from trialsite.phrases import english
from trialsite.signals import cycle_rescheduled


def test_prepared_sheet_has_the_doses_and_inputs(patient: Participant, make_sheet: SheetMaker) -> None:
    sheet = make_sheet(patient)
    c = sheet.content
    assert (sheet.status, sheet.version, sheet.releasable) == ("prepared", 1, True)
    assert c["bsa_m2"] == 2.0 and c["bsa_formula"] == "mosteller"  # √(180·80/3600)
    # Cockcroft–Gault, age 59 on day 1: (140 − 59) × 80 / (72 × 80/88.4) = 99.45 → 99.5
    assert c["creatinine_clearance_ml_min"] == 99.5
    assert dose(sheet, "capecitabine")["dose_mg"] == 2000  # band 1.93–2.06
    assert dose(sheet, "capecitabine")["tablets"] == {"150": 0, "500": 4}
    assert dose(sheet, "capecitabine")["tablets_per_cycle"] == {"150": 0, "500": 112}
    assert dose(sheet, "oxaliplatin")["dose_mg"] == 260  # 130 × 2.00
    assert dose(sheet, "serplulimab")["dose_mg"] == 300
    assert c["decision"] == "treat" and c["day1_criteria_met"] is True
    assert c["cumulative"] == {
        "drug": "oxaliplatin",
        "prior_mg": 0,
        "prior_mg_m2": 0,
        "total_mg": 260,
        "total_mg_m2": 130,
    }
    assert c["participant"]["full_name"] == patient.full_name
    assert any("SmPC" in s["source"] for s in c["sources"])


def test_preparing_again_with_the_same_inputs_returns_the_same_sheet(
    patient: Participant, make_sheet: SheetMaker
) -> None:
    first = make_sheet(patient)
    assert make_sheet(patient).pk == first.pk
    assert DoseSheet.objects.count() == 1


def test_control_arm_gets_no_serplulimab(participant: Participant, make_sheet: SheetMaker) -> None:
    randomize(participant, arm="control")
    record_inputs(participant)
    sheet = make_sheet(participant)
    assert [d["drug"] for d in sheet.content["doses"]] == ["capecitabine", "oxaliplatin"]


def test_unrandomized_participant_and_unknown_cycle_are_refused(
    participant: Participant, make_sheet: SheetMaker
) -> None:
    with pytest.raises(RuleViolation):
        make_sheet(participant)
    randomize(participant)
    record_inputs(participant)
    with pytest.raises(InvalidInput):
        make_sheet(participant, cycle=5)
    with pytest.raises(InvalidInput):
        make_sheet(participant, phase="surgery")


def test_two_different_pharmacists_verify_and_release(
    patient: Participant, make_sheet: SheetMaker, pharmacist: Any, pharmacist2: Any, nurse: Any, now: dt.datetime
) -> None:
    sheet = make_sheet(patient)
    with pytest.raises(NotPermitted):
        services.dose_sheet_verify(sheet=sheet, by=nurse, now=now, signature=signed(nurse, "verify_sheet", at=now))
    with pytest.raises(Conflict):
        services.dose_sheet_release(
            sheet=sheet, by=pharmacist2, now=now, signature=signed(pharmacist2, "release_sheet", at=now)
        )  # not verified yet
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    with pytest.raises(RuleViolation) as info:
        services.dose_sheet_release(
            sheet=sheet, by=pharmacist, now=now, signature=signed(pharmacist, "release_sheet", at=now)
        )
    assert info.value.code == "two_person_rule"
    released = services.dose_sheet_release(
        sheet=sheet, by=pharmacist2, now=now, signature=signed(pharmacist2, "release_sheet", at=now)
    )
    assert (released.status, released.verified_by, released.released_by) == ("released", pharmacist, pharmacist2)
    assert released.history.count() == 3  # prepared, verified, released: every transition audited


def test_database_enforces_the_two_person_rule(
    patient: Participant, make_sheet: SheetMaker, pharmacist: Any, now: dt.datetime
) -> None:
    sheet = make_sheet(patient)
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        DoseSheet.objects.filter(pk=sheet.pk).update(status="released", released_by=pharmacist, released_at=now)


def test_released_sheet_is_never_edited_or_deleted(
    patient: Participant, make_sheet: SheetMaker, pharmacist: Any, pharmacist2: Any, now: dt.datetime
) -> None:
    sheet = make_sheet(patient)
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    services.dose_sheet_release(
        sheet=sheet, by=pharmacist2, now=now, signature=signed(pharmacist2, "release_sheet", at=now)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        DoseSheet.objects.filter(pk=sheet.pk).update(content={"doses": []})
    with pytest.raises(IntegrityError), transaction.atomic():
        DoseSheet.objects.filter(pk=sheet.pk).update(status="prepared", verified_by=None, released_by=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        DoseSheet.objects.filter(pk=sheet.pk).delete()


def test_new_weight_voids_an_unreleased_sheet_and_makes_a_new_version(
    patient: Participant, make_sheet: SheetMaker
) -> None:
    first = make_sheet(patient)
    registry.measurement_record(
        participant=patient,
        kind="weight",
        value="70",
        measured_on=dt.date(2026, 3, 2),
        by=None,
        today=dt.date(2026, 3, 2),
    )
    first.refresh_from_db()
    assert first.status == "void" and "weight" in english(first.end_reason)
    current = selectors.current_sheet(participant_id=patient.pk, phase="neoadjuvant", cycle_number=1)
    assert current is not None and current.version == 2
    assert current.content["weight_kg"] == 70 and current.content["bsa_m2"] == 1.87  # √(180·70/3600) = 1.871


def test_new_labs_supersede_a_released_sheet(
    patient: Participant, make_sheet: SheetMaker, pharmacist: Any, pharmacist2: Any, now: dt.datetime
) -> None:
    sheet = make_sheet(patient)
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    services.dose_sheet_release(
        sheet=sheet, by=pharmacist2, now=now, signature=signed(pharmacist2, "release_sheet", at=now)
    )
    registry.lab_result_record(
        participant=patient,
        analyte="anc",
        value="1.2",
        unit="10^9/L",
        collected_on=dt.date(2026, 3, 2),
        by=None,
        today=dt.date(2026, 3, 2),
    )
    sheet.refresh_from_db()
    assert sheet.status == "superseded"
    assert sheet.content["decision"] == "treat"  # the released version is unchanged
    new = selectors.current_sheet(participant_id=patient.pk, phase="neoadjuvant", cycle_number=1)
    assert new is not None and new.version == 2 and new.status == "prepared"
    assert new.content["decision"] == "delay" and not new.releasable


def test_a_lab_the_sheet_does_not_use_keeps_the_sheet(patient: Participant, make_sheet: SheetMaker) -> None:
    sheet = make_sheet(patient)
    registry.lab_result_record(
        participant=patient,
        analyte="albumin",
        value="40",
        unit="g/L",
        collected_on=dt.date(2026, 3, 2),
        by=None,
        today=dt.date(2026, 3, 2),
    )
    sheet.refresh_from_db()
    assert sheet.status == "prepared" and sheet.version == 1
    assert DoseSheet.objects.count() == 1


def test_day1_criteria_not_met_means_delay_and_no_release(
    participant: Participant, make_sheet: SheetMaker, pharmacist: Any, now: dt.datetime
) -> None:
    randomize(participant)
    record_inputs(participant, platelets="90")
    sheet = make_sheet(participant)
    assert sheet.content["decision"] == "delay" and sheet.releasable is False
    assert [b["code"] for b in sheet.content["blockers"]] == ["day1_criteria_not_met"]
    with pytest.raises(RuleViolation):
        services.dose_sheet_verify(
            sheet=sheet, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
        )


def test_labs_outside_the_window_do_not_count(participant: Participant, make_sheet: SheetMaker) -> None:
    randomize(participant)
    record_inputs(participant, on=dt.date(2026, 3, 1))  # 4 days before day 1: labs out, measurements in
    sheet = make_sheet(participant)
    assert sheet.content["decision"] == "delay"
    assert all(english(row["reason"]) == "no result in the lab window" for row in sheet.content["day1_labs"])


def test_measurements_older_than_the_window_cannot_be_used(participant: Participant, make_sheet: SheetMaker) -> None:
    randomize(participant)
    record_inputs(participant, on=dt.date(2026, 2, 25))  # 8 days before day 1
    with pytest.raises(RuleViolation) as info:
        make_sheet(participant)
    assert info.value.code == "measurements_out_of_date"


def test_weight_change_of_10_percent_is_flagged_on_the_next_cycle(
    patient: Participant, make_sheet: SheetMaker, now: dt.datetime
) -> None:
    make_sheet(patient)  # cycle 1 with 80 kg
    record_inputs(patient, on=dt.date(2026, 3, 24), weight="71")  # −11.25 % before cycle 2
    sheet2 = services.dose_sheet_prepare(
        by=None, participant=patient, phase="neoadjuvant", cycle_number=2, day1=dt.date(2026, 3, 26), now=now
    )
    codes = [w["code"] for w in sheet2.content["warnings"]]
    assert "weight_change_recalculated" in codes
    assert sheet2.content["weight_change_pct"] == -11.3  # (71 − 80)/80 = −11.25 %, half up (away from 0)
    assert sheet2.content["bsa_m2"] == 1.88  # recalculated: √(180·71/3600) = 1.884
    record_inputs(patient, on=dt.date(2026, 4, 14), weight="68")  # −4.2 % against cycle 2's 71 kg
    sheet3 = services.dose_sheet_prepare(
        by=None, participant=patient, phase="neoadjuvant", cycle_number=3, day1=dt.date(2026, 4, 16), now=now
    )
    assert "weight_change_recalculated" not in [w["code"] for w in sheet3.content["warnings"]]


def test_renal_contraindication_needs_an_investigator_decision(
    participant: Participant, make_sheet: SheetMaker, investigator: Any, pharmacist: Any, now: dt.datetime
) -> None:
    randomize(participant)
    # (140 − 59) × 80 / (72 × 300/88.4) = 26.5 mL/min
    record_inputs(participant, creatinine="300")
    sheet = make_sheet(participant)
    assert sheet.content["creatinine_clearance_ml_min"] == 26.5
    assert dose(sheet, "capecitabine")["status"] == "contraindicated"
    assert not sheet.releasable
    with pytest.raises(NotPermitted):
        services.renal_decision_record(
            participant=participant,
            phase="neoadjuvant",
            cycle_number=1,
            drug="capecitabine",
            decision="withhold",
            reason="x",
            by=pharmacist,
            now=now,
            signature=signed(pharmacist, "renal_decision", at=now),
        )
    for drug in ("capecitabine", "oxaliplatin"):
        services.renal_decision_record(
            participant=participant,
            phase="neoadjuvant",
            cycle_number=1,
            drug=drug,
            decision="withhold",
            reason="CrCl 26.5",
            by=investigator,
            now=now,
            signature=signed(investigator, "renal_decision", at=now),
        )
    new = selectors.current_sheet(participant_id=participant.pk, phase="neoadjuvant", cycle_number=1)
    assert new is not None and new.version == 3 and new.releasable
    assert dose(new, "capecitabine")["status"] == "withheld"
    # Oxaliplatin EU SmPC §4.3: contraindicated below 30 mL/min as well
    assert dose(new, "oxaliplatin")["status"] == "withheld" and dose(new, "oxaliplatin")["dose_mg"] is None


def test_capecitabine_reduction_carries_forward_and_is_never_re_escalated(
    patient: Participant, make_sheet: SheetMaker, investigator: Any, now: dt.datetime
) -> None:
    record_inputs(patient, on=dt.date(2026, 3, 24))
    services.dose_modification_record(
        participant=patient,
        drug="capecitabine",
        phase="neoadjuvant",
        cycle_number=1,
        toxicity_term="Palmar-plantar erythrodysesthesia syndrome",
        ctcae_grade=3,
        reason="hand-foot syndrome grade 3, resolved to grade 1",
        by=investigator,
        now=now,
        signature=signed(investigator, "dose_modification", at=now),
    )
    services.dose_modification_record(
        participant=patient,
        drug="capecitabine",
        phase="neoadjuvant",
        cycle_number=2,
        toxicity_term="Diarrhea",
        ctcae_grade=2,
        reason="grade 2 diarrhoea, first appearance",
        by=investigator,
        now=now,
        signature=signed(investigator, "dose_modification", at=now),
    )
    cycle2 = make_sheet(patient, cycle=2, day1=dt.date(2026, 3, 26))
    assert dose(cycle2, "capecitabine")["dose_mg"] == 1500  # 75 % column of band 1.93–2.06
    assert dose(cycle2, "capecitabine")["tablets"] == {"150": 0, "500": 3}
    assert "Palmar" in english(dose(cycle2, "capecitabine")["level_reason"])
    record_inputs(patient, on=dt.date(2026, 4, 14))
    cycle3 = make_sheet(patient, cycle=3, day1=dt.date(2026, 4, 16))
    assert dose(cycle3, "capecitabine")["dose_mg"] == 1500  # grade 2 "resume at 100 %" does not re-escalate
    assert dose(cycle3, "oxaliplatin")["dose_mg"] == 260


def test_oxaliplatin_reduction_and_cumulative_dose(
    patient: Participant,
    make_sheet: SheetMaker,
    investigator: Any,
    pharmacist: Any,
    pharmacist2: Any,
    now: dt.datetime,
) -> None:
    cycle1 = make_sheet(patient)
    services.dose_sheet_verify(
        sheet=cycle1, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    services.dose_sheet_release(
        sheet=cycle1, by=pharmacist2, now=now, signature=signed(pharmacist2, "release_sheet", at=now)
    )
    mod = services.dose_modification_record(
        participant=patient,
        drug="oxaliplatin",
        phase="neoadjuvant",
        cycle_number=1,
        toxicity_term="Peripheral sensory neuropathy",
        ctcae_grade=3,
        reason="persistent paraesthesia",
        by=investigator,
        now=now,
        signature=signed(investigator, "dose_modification", at=now),
    )
    assert (mod.action, mod.level_label) == ("reduce", "100 mg/m²")
    record_inputs(patient, on=dt.date(2026, 3, 24))
    cycle2 = make_sheet(patient, cycle=2, day1=dt.date(2026, 3, 26))
    assert dose(cycle2, "oxaliplatin")["dose_mg"] == 200
    assert cycle2.content["cumulative"] == {
        "drug": "oxaliplatin",
        "prior_mg": 260,
        "prior_mg_m2": 130,
        "total_mg": 460,
        "total_mg_m2": 230,
    }
    # a second grade-3 episode at 100 mg/m² discontinues oxaliplatin
    again = services.dose_modification_record(
        participant=patient,
        drug="oxaliplatin",
        phase="neoadjuvant",
        cycle_number=2,
        toxicity_term="Peripheral sensory neuropathy",
        ctcae_grade=3,
        reason="again",
        by=investigator,
        now=now,
        signature=signed(investigator, "dose_modification", at=now),
    )
    assert again.action == "discontinue" and again.appearance == 2


def test_serplulimab_is_withheld_not_reduced(
    patient: Participant, make_sheet: SheetMaker, investigator: Any, nurse: Any, now: dt.datetime
) -> None:
    kwargs: dict[str, Any] = dict(
        participant=patient,
        drug="serplulimab",
        phase="neoadjuvant",
        cycle_number=1,
        toxicity_term="Pneumonitis",
        now=now,
    )
    with pytest.raises(NotPermitted):
        services.dose_modification_record(
            ctcae_grade=2, reason="x", by=nurse, signature=signed(nurse, "dose_modification", at=now), **kwargs
        )
    with pytest.raises(RuleViolation):
        services.dose_modification_record(
            ctcae_grade=3,
            reason="x",
            by=investigator,
            requested_action="reduce",
            signature=signed(investigator, "dose_modification", at=now),
            **kwargs,
        )
    services.dose_modification_record(
        ctcae_grade=2,
        reason="pneumonitis grade 2",
        by=investigator,
        signature=signed(investigator, "dose_modification", at=now),
        **kwargs,
    )
    record_inputs(patient, on=dt.date(2026, 3, 24))
    cycle2 = make_sheet(patient, cycle=2, day1=dt.date(2026, 3, 26))
    assert dose(cycle2, "serplulimab")["status"] == "withheld" and dose(cycle2, "serplulimab")["dose_mg"] is None
    record_inputs(patient, on=dt.date(2026, 4, 14))
    cycle3 = make_sheet(patient, cycle=3, day1=dt.date(2026, 4, 16))
    assert dose(cycle3, "serplulimab")["dose_mg"] == 300


def test_a_modification_supersedes_later_released_sheets(
    patient: Participant, make_sheet: SheetMaker, investigator: Any, pharmacist: Any, pharmacist2: Any, now: dt.datetime
) -> None:
    record_inputs(patient, on=dt.date(2026, 3, 2))
    cycle2 = make_sheet(patient, cycle=2, day1=dt.date(2026, 3, 5))
    services.dose_sheet_verify(
        sheet=cycle2, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    services.dose_sheet_release(
        sheet=cycle2, by=pharmacist2, now=now, signature=signed(pharmacist2, "release_sheet", at=now)
    )
    services.dose_modification_record(
        participant=patient,
        drug="capecitabine",
        phase="neoadjuvant",
        cycle_number=1,
        toxicity_term="Diarrhea",
        ctcae_grade=3,
        reason="grade 3 diarrhoea",
        by=investigator,
        now=now,
        signature=signed(investigator, "dose_modification", at=now),
    )
    cycle2.refresh_from_db()
    assert cycle2.status == "superseded"
    new = selectors.current_sheet(participant_id=patient.pk, phase="neoadjuvant", cycle_number=2)
    assert new is not None and dose(new, "capecitabine")["dose_mg"] == 1500


def test_withdrawal_voids_unreleased_sheets(
    patient: Participant, make_sheet: SheetMaker, pharmacist: Any, pharmacist2: Any, now: dt.datetime
) -> None:
    released = make_sheet(patient)
    services.dose_sheet_verify(
        sheet=released, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    services.dose_sheet_release(
        sheet=released, by=pharmacist2, now=now, signature=signed(pharmacist2, "release_sheet", at=now)
    )
    pending = make_sheet(patient, cycle=2, day1=dt.date(2026, 3, 5))
    registry.participant_set_status(by=None, participant=patient, status="on_treatment")
    registry.participant_withdraw(participant=patient, reason="consent withdrawn", by=None, now=now)
    released.refresh_from_db()
    pending.refresh_from_db()
    assert (released.status, pending.status) == ("released", "void")


def test_cycle_rescheduled_re_dates_the_sheet(patient: Participant, make_sheet: SheetMaker) -> None:
    sheet = make_sheet(patient)
    cycle_rescheduled.send(
        sender=None, participant=patient, phase="neoadjuvant", cycle_number=1, day1=dt.date(2026, 3, 4)
    )
    sheet.refresh_from_db()
    assert sheet.status == "void"
    new = selectors.current_sheet(participant_id=patient.pk, phase="neoadjuvant", cycle_number=1)
    assert new is not None and new.day1 == dt.date(2026, 3, 4) and new.version == 2


def test_rescheduling_out_of_the_measurement_window_voids_without_replacement(
    patient: Participant, make_sheet: SheetMaker
) -> None:
    sheet = make_sheet(patient)
    cycle_rescheduled.send(
        sender=None, participant=patient, phase="neoadjuvant", cycle_number=1, day1=dt.date(2026, 3, 12)
    )
    sheet.refresh_from_db()
    assert sheet.status == "void" and "not re-prepared" in english(sheet.end_reason)
    assert selectors.current_sheet(participant_id=patient.pk, phase="neoadjuvant", cycle_number=1) is None


def test_sheets_due_lists_unreleased_sheets_in_the_range(
    patient: Participant, make_sheet: SheetMaker, site: Any, other_site: Any
) -> None:
    sheet = make_sheet(patient)
    due = selectors.dose_sheets_due(site_ids=[site.pk], day1_from=dt.date(2026, 3, 2), day1_to=dt.date(2026, 3, 9))
    assert list(due) == [sheet]
    assert not selectors.dose_sheets_due(site_ids=[other_site.pk], day1_from=DAY1, day1_to=DAY1).exists()
    assert not selectors.dose_sheets_due(
        site_ids=None, day1_from=dt.date(2026, 3, 6), day1_to=dt.date(2026, 3, 9)
    ).exists()


def test_a_withdrawn_participant_gets_no_new_sheet(
    patient: Participant, make_sheet: SheetMaker, now: dt.datetime
) -> None:
    """One code and one status for a withdrawn participant in every app (issue 15): 409."""
    registry.participant_withdraw(participant=patient, reason="consent withdrawn", by=None, now=now)
    with pytest.raises(Conflict) as refused:
        make_sheet(patient)
    assert (refused.value.code, refused.value.http_status) == ("participant_withdrawn", 409)


def test_another_sites_pharmacist_finds_no_sheet_to_prepare(
    patient: Participant, make_user: Any, other_site: Any, now: dt.datetime
) -> None:
    """Another site's record is 404 in every app (issue 15), as the selectors already answer."""
    elsewhere = make_user(roles.PHARMACIST, [other_site], username="pharmacist_b")
    with pytest.raises(NotFound):
        services.dose_sheet_prepare(
            participant=patient, phase="neoadjuvant", cycle_number=1, day1=None, by=elsewhere, now=now
        )
