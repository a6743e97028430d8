"""What the database itself refuses, whatever wrote the row: grades outside 1–5, a resolution
before the onset, a cycle without its phase, an acknowledgement of a non-serious event, two
attributions to one drug, an alert sent twice, a malformed MedDRA code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from adverse_events.models import AdverseEvent, Attribution, SaeAlert, Term
from tests.adverse_events.conftest import NOW
from trialsite.models import Participant

pytestmark = pytest.mark.django_db


def _row(participant: Participant, term: Term, **kwargs: Any) -> AdverseEvent:
    values = {"grade": 2, "onset_date": dt.date(2026, 3, 20), "recorded_at": NOW, **kwargs}
    return AdverseEvent(participant=participant, term=term, **values)


@pytest.mark.parametrize(
    "values",
    [
        {"grade": 0},
        {"grade": 6},
        {"resolution_date": dt.date(2026, 3, 19)},
        {"cycle_number": 2},
        {"phase": "neoadjuvant", "cycle_number": 100},
        {"acknowledged_at": NOW},
        {"serious": False, "acknowledged_at": NOW, "acknowledged_by_id": None},
    ],
)
def test_the_database_refuses_what_cannot_be_true(
    values: dict[str, Any], treated: Participant, terms: dict[str, Term], investigator: Any
) -> None:
    if values.get("acknowledged_at") and "acknowledged_by_id" not in values:
        values = {**values, "serious": False, "acknowledged_by": investigator}
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(treated, terms["Diarrhea"], **values).save()


def test_one_attribution_per_drug_and_one_alert_per_recipient_and_channel(
    treated: Participant, terms: dict[str, Term], investigator: Any
) -> None:
    event = _row(treated, terms["Diarrhea"], serious=True)
    event.save()
    Attribution.objects.create(adverse_event=event, drug="d1", relatedness="possible")
    with pytest.raises(IntegrityError), transaction.atomic():
        Attribution.objects.create(adverse_event=event, drug="d1", relatedness="definite")
    with pytest.raises(IntegrityError), transaction.atomic():
        Attribution.objects.create(adverse_event=event, drug="d2", relatedness="perhaps")
    SaeAlert.objects.create(adverse_event=event, recipient=investigator, channel="email", address="a@b", created_at=NOW)
    with pytest.raises(IntegrityError), transaction.atomic():
        SaeAlert.objects.create(
            adverse_event=event, recipient=investigator, channel="email", address="a@b", created_at=NOW
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        SaeAlert.objects.filter(adverse_event=event).update(status="sent")  # sent without a time


@pytest.mark.parametrize("values", [{"meddra_code": "1234"}, {"grades": "31"}, {"grades": ""}])
def test_a_term_keeps_its_formats(values: dict[str, Any], db: Any) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Term.objects.create(term="Made up", **values)


def test_the_shipped_terms_are_loaded_with_codes_and_grades(terms: dict[str, Term]) -> None:
    assert terms["Diarrhea"].meddra_code == "10012727" and terms["Diarrhea"].grades == "12345"
    assert terms["Nausea"].grades == "123" and terms["Febrile neutropenia"].grades == "345"
    assert terms["Palmar-plantar erythrodysesthesia syndrome"].term_zh.startswith("手足综合征")
    assert terms["Proctitis"].meddra_code == ""  # not confirmed here: blank, never guessed
    assert len({t.meddra_code for t in terms.values() if t.meddra_code}) == sum(
        1 for t in terms.values() if t.meddra_code
    )
