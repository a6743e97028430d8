"""The toxicity log's services: who may record, change and acknowledge (role and site, whatever
the door), field-level refusals that write nothing, the history of every change with its reason,
and the appearance count dosing will read."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User

from adverse_events import services
from adverse_events.models import AdverseEvent, Attribution, SaeAlert, Term
from adverse_events.selectors import appearance_count, modification_basis
from tests.adverse_events.conftest import NOW, TODAY, record
from trialsite.errors import Conflict, InvalidInput, NotFound, NotPermitted, RuleViolation
from trialsite.models import Participant

pytestmark = pytest.mark.django_db


def test_a_nurse_records_a_toxicity_with_its_attribution_per_regimen_drug(
    nurse: User, treated: Participant, terms: dict[str, Term], drugs: list[str]
) -> None:
    event = record(
        treated,
        terms["Diarrhea"],
        nurse,
        phase="neoadjuvant",
        cycle_number=1,
        attribution={drugs[0]: "probable", drugs[1]: "unlikely"},
    )

    assert (event.grade, event.recorded_by, event.recorded_at) == (2, nurse, NOW)
    assert dict(event.attributions.values_list("drug", "relatedness")) == {drugs[0]: "probable", drugs[1]: "unlikely"}
    assert event.history.count() == 1 and event.history.first().history_change_reason == "recorded"


@pytest.mark.parametrize("role", ["pharmacist", "statistician", "api_client_user"])
def test_read_only_roles_record_and_change_nothing(
    role: str, request: Any, treated: Participant, terms: dict[str, Term], nurse: User
) -> None:
    user = request.getfixturevalue(role)
    event = record(treated, terms["Nausea"], nurse)

    with pytest.raises(NotPermitted):
        record(treated, terms["Diarrhea"], user)
    with pytest.raises(NotPermitted):
        services.ae_update(adverse_event=event, grade=3, reason="x", by=user, now=NOW, today=TODAY)

    assert AdverseEvent.objects.count() == 1
    event.refresh_from_db()
    assert event.grade == 2


def test_another_sites_toxicity_does_not_exist_for_a_nurse(
    other_nurse: User, nurse: User, treated: Participant, terms: dict[str, Term]
) -> None:
    event = record(treated, terms["Nausea"], nurse)
    with pytest.raises(NotFound):
        record(treated, terms["Nausea"], other_nurse)
    with pytest.raises(NotFound):
        services.ae_update(adverse_event=event, resolution_date=TODAY, by=other_nurse, now=NOW, today=TODAY)
    assert AdverseEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"onset_date": dt.date(1, 1, 1)}, "onset_date"),
        ({"onset_date": dt.date(9999, 12, 31)}, "onset_date"),
        ({"onset_date": dt.date(2026, 2, 1)}, "onset_date"),  # before the consent (2026-02-20)
        ({"resolution_date": dt.date(2026, 3, 19)}, "resolution_date"),  # before the onset
        ({"resolution_date": dt.date(9999, 1, 1)}, "resolution_date"),
        ({"grade": 4}, "grade"),  # Nausea has grades 1–3 only
        ({"grade": 0}, "grade"),
        ({"grade": 6}, "grade"),
        ({"notes": "bad\x00byte"}, "notes"),
        ({"phase": "nope"}, "phase"),
        ({"phase": "neoadjuvant", "cycle_number": 9}, "cycle_number"),
        ({"cycle_number": 1}, "phase"),
        ({"attribution": {"aspirin": "possible"}}, "attribution"),
        ({"attribution": {"__first__": "maybe"}}, "attribution"),
    ],
)
def test_bad_input_is_a_field_error_and_nothing_is_written(
    values: dict[str, Any], field: str, nurse: User, treated: Participant, terms: dict[str, Term], drugs: list[str]
) -> None:
    if values.get("attribution") == {"__first__": "maybe"}:
        values = {"attribution": {drugs[0]: "maybe"}}

    with pytest.raises(InvalidInput) as refused:
        record(treated, terms["Nausea"], nurse, serious=True, **values)

    assert field in refused.value.errors, refused.value.errors
    assert not AdverseEvent.objects.exists() and not Attribution.objects.exists() and not SaeAlert.objects.exists()


def test_every_problem_is_reported_at_once(nurse: User, treated: Participant, terms: dict[str, Term]) -> None:
    with pytest.raises(InvalidInput) as refused:
        record(treated, terms["Nausea"], nurse, grade=5, onset_date=dt.date(9999, 1, 1), notes="\x00")
    assert {"grade", "onset_date", "notes"} <= set(refused.value.errors)


def test_before_randomization_there_is_no_drug_to_attribute_to(
    nurse: User, participant: Participant, terms: dict[str, Term]
) -> None:
    record(participant, terms["Fatigue"], nurse)  # a toxicity in screening: recorded, unattributed
    with pytest.raises(InvalidInput) as refused:
        record(participant, terms["Fatigue"], nurse, attribution={"x": "possible"})
    assert "attribution" in refused.value.errors


def test_a_grade_change_needs_a_reason_and_each_change_is_in_the_history(
    nurse: User, investigator: User, treated: Participant, terms: dict[str, Term]
) -> None:
    event = record(treated, terms["Diarrhea"], nurse)
    with pytest.raises(InvalidInput) as refused:
        services.ae_update(adverse_event=event, grade=3, by=nurse, now=NOW, today=TODAY)
    assert "reason" in refused.value.errors

    services.ae_update(adverse_event=event, grade=3, reason="7 stools a day", by=nurse, now=NOW, today=TODAY)
    services.ae_update(adverse_event=event, resolution_date=TODAY, by=investigator, now=NOW, today=TODAY)

    history = list(event.history.order_by("history_date", "history_id"))
    assert [(h.grade, h.resolution_date, h.history_change_reason) for h in history] == [
        (2, None, "recorded"),
        (3, None, "7 stools a day"),
        (3, TODAY, "resolution date recorded"),
    ]
    assert [h.history_user for h in history] == [nurse, nurse, investigator]


def test_a_resolution_before_the_onset_is_refused_on_update(
    nurse: User, treated: Participant, terms: dict[str, Term]
) -> None:
    event = record(treated, terms["Diarrhea"], nurse)
    with pytest.raises(InvalidInput) as refused:
        services.ae_update(adverse_event=event, resolution_date=dt.date(2026, 3, 1), by=nurse, now=NOW, today=TODAY)
    assert "resolution_date" in refused.value.errors
    event.refresh_from_db()
    assert event.resolution_date is None and event.history.count() == 1


def test_an_investigator_acknowledges_an_sae_once(
    nurse: User, investigator: User, treated: Participant, terms: dict[str, Term]
) -> None:
    plain = record(treated, terms["Nausea"], nurse)
    sae = record(treated, terms["Febrile neutropenia"], nurse, grade=3, serious=True)

    with pytest.raises(NotPermitted):
        services.ae_acknowledge(adverse_event=sae, by=nurse, now=NOW)
    with pytest.raises(RuleViolation):
        services.ae_acknowledge(adverse_event=plain, by=investigator, now=NOW)
    services.ae_acknowledge(adverse_event=sae, by=investigator, now=NOW)
    with pytest.raises(Conflict):
        services.ae_acknowledge(adverse_event=sae, by=investigator, now=NOW)

    sae.refresh_from_db()
    assert (sae.acknowledged_by, sae.acknowledged_at) == (investigator, NOW)


def test_an_sae_writes_one_alert_per_investigator_of_the_site_with_an_email(
    nurse: User, investigator: User, make_user: Any, site: Any, other_site: Any, treated: Participant, terms: Any
) -> None:
    investigator.email = "pi@example.org"
    investigator.save()
    make_user("investigator", [other_site], username="elsewhere").__class__.objects.filter(username="elsewhere").update(
        email="elsewhere@example.org"
    )
    make_user("investigator", [site], username="no_email")

    sae = record(treated, terms["Febrile neutropenia"], nurse, grade=3, serious=True)
    services.ae_update(adverse_event=sae, grade=4, reason="sepsis", by=nurse, now=NOW, today=TODAY)

    assert list(SaeAlert.objects.values_list("recipient__username", "address", "status")) == [
        ("investigator", "pi@example.org", "pending")
    ]


def test_turning_a_toxicity_serious_alerts_and_needs_a_reason(
    nurse: User, investigator: User, treated: Participant, terms: dict[str, Term]
) -> None:
    investigator.email = "pi@example.org"
    investigator.save()
    event = record(treated, terms["Diarrhea"], nurse, grade=3)
    assert not SaeAlert.objects.exists()
    with pytest.raises(InvalidInput):
        services.ae_update(adverse_event=event, serious=True, by=nurse, now=NOW, today=TODAY)
    services.ae_update(adverse_event=event, serious=True, reason="hospitalised", by=nurse, now=NOW, today=TODAY)
    assert SaeAlert.objects.filter(adverse_event=event).count() == 1


def test_the_appearance_count_comes_from_the_log(
    nurse: User, treated: Participant, terms: dict[str, Term], drugs: list[str]
) -> None:
    hfs = terms["Palmar-plantar erythrodysesthesia syndrome"]
    first = record(treated, hfs, nurse, attribution={drugs[0]: "probable"}, onset_date=dt.date(2026, 3, 1))
    record(treated, hfs, nurse, attribution={drugs[0]: "unlikely"}, onset_date=dt.date(2026, 3, 10))
    second = record(treated, hfs, nurse, attribution={drugs[0]: "definite"}, onset_date=dt.date(2026, 3, 22))
    record(treated, hfs, nurse, grade=3, attribution={drugs[0]: "definite"})

    assert appearance_count(participant=treated, term=hfs, grade=2) == 3
    assert appearance_count(participant=treated, term=hfs.term, grade=2, drug=drugs[0]) == 2
    assert appearance_count(participant=treated, term=hfs, grade=2, drug=drugs[0], before=second) == 1
    assert appearance_count(participant=treated, term=hfs, grade=2, drug=drugs[0], before=first) == 0
    assert appearance_count(participant=treated, term=hfs, grade=3, drug=drugs[1]) == 0


def test_the_modification_basis_numbers_the_appearance_from_the_log(
    nurse: User, treated: Participant, terms: dict[str, Term], drugs: list[str]
) -> None:
    hfs = terms["Palmar-plantar erythrodysesthesia syndrome"]
    record(treated, hfs, nurse, attribution={drugs[0]: "probable"}, onset_date=dt.date(2026, 3, 1))
    second = record(treated, hfs, nurse, phase="neoadjuvant", cycle_number=2, attribution={drugs[0]: "definite"})

    assert modification_basis(second, drug=drugs[0]) == {
        "participant": treated.pk,
        "drug": drugs[0],
        "phase": "neoadjuvant",
        "cycle_number": 2,
        "toxicity_term": "Palmar-plantar erythrodysesthesia syndrome",
        "ctcae_grade": 2,
        "appearance": 2,
    }
