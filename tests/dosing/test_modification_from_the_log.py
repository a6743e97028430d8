"""A dose modification decided from a toxicity of the log (issue 17): the form starts from the
toxicity, the appearance is counted from the log (not from earlier decisions), the protocol's
table proposes the level and the investigator confirms it or chooses otherwise with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from adverse_events import ctcae
from adverse_events import services as ae_services
from adverse_events.models import Term
from adverse_events.selectors import participant_drugs
from dosing import services
from dosing.models import DoseModification
from tests.adverse_events.conftest import NOW, randomize, record
from tests.factories import ParticipantFactory
from tests.support.signatures import signed
from trialsite.errors import InvalidInput
from trialsite.models import Participant

pytestmark = pytest.mark.django_db

PHASE = "neoadjuvant"


@pytest.fixture
def terms(db: Any) -> dict[str, Term]:
    if not Term.objects.exists():
        ae_services.terms_load(specs=ctcae.read(ctcae.SHIPPED), source="shipped", by=None)
    return {t.term: t for t in Term.objects.all()}


@pytest.fixture
def treated(trial: Any, site: Any) -> Participant:
    return randomize(ParticipantFactory(trial=trial, site=site))


@pytest.fixture
def theirs(trial: Any, other_site: Any) -> Participant:
    return randomize(ParticipantFactory(trial=trial, site=other_site))


@pytest.fixture
def drugs(treated: Participant) -> list[str]:
    return participant_drugs(treated)


def _toxicity(participant: Participant, terms: dict[str, Any], nurse: Any, drug: str, **kw: Any) -> Any:
    return record(
        participant, terms["Diarrhea"], nurse, phase=PHASE, cycle_number=1, attribution={drug: "probable"}, **kw
    )


def _decide(participant: Participant, drug: str, event: Any, by: Any, **typed: Any) -> DoseModification:
    """The investigator's decision from a toxicity of the log, signed; `typed` overrides the
    term and grade the form would send (empty: taken from the log)."""
    values = {"toxicity_term": "", "ctcae_grade": 0, "reason": "as the table says", **typed}
    return services.dose_modification_record(
        participant=participant,
        drug=drug,
        phase=PHASE,
        cycle_number=1,
        adverse_event=event,
        by=by,
        now=NOW,
        signature=signed(by, "dose_modification", at=NOW),
        **values,
    )


def test_the_appearance_is_counted_from_the_log(
    treated: Participant, terms: dict[str, Any], drugs: list[str], nurse: Any, investigator: Any
) -> None:
    drug = drugs[0]
    _toxicity(treated, terms, nurse, drug)
    second = _toxicity(treated, terms, nurse, drug)
    proposal = services.dose_modification_proposal(adverse_event=second, drug=drug, by=investigator)
    # No decision was recorded for the first toxicity: the log still counts it.
    assert proposal["appearance"] == 2
    assert (proposal["toxicity_term"], proposal["ctcae_grade"]) == ("Diarrhea", 2)
    row = _decide(treated, drug, second, investigator)
    assert (row.appearance, row.toxicity_term, row.ctcae_grade, row.adverse_event_id) == (2, "Diarrhea", 2, second.pk)
    # What was proposed is what the rule then records.
    assert proposal["proposal"] is not None
    assert (row.action, row.new_level) == (proposal["proposal"]["action"], proposal["proposal"]["new_level"])


def test_a_typed_grade_that_contradicts_the_log_is_refused(
    treated: Participant, terms: dict[str, Any], drugs: list[str], nurse: Any, investigator: Any
) -> None:
    event = _toxicity(treated, terms, nurse, drugs[0])
    with pytest.raises(InvalidInput) as info:
        _decide(treated, drugs[0], event, investigator, toxicity_term="Diarrhea", ctcae_grade=3)
    assert "ctcae_grade" in info.value.errors
    assert not DoseModification.objects.exists()


def test_another_participants_toxicity_is_refused(
    treated: Participant,
    theirs: Participant,
    terms: dict[str, Any],
    drugs: list[str],
    nurse: Any,
    other_nurse: Any,
    investigator: Any,
) -> None:
    event = _toxicity(theirs, terms, other_nurse, drugs[0])
    with pytest.raises(InvalidInput) as info:
        _decide(treated, drugs[0], event, investigator)
    assert "adverse_event" in info.value.errors


def test_the_admin_form_starts_from_the_toxicity_and_says_what_the_table_proposes(
    treated: Participant, terms: dict[str, Any], drugs: list[str], nurse: Any, investigator: Any
) -> None:
    event = _toxicity(treated, terms, nurse, drugs[0])
    client = Client()
    client.force_login(investigator)
    ae_page = client.get(f"/admin/adverse_events/adverseevent/{event.pk}/change/").content.decode()
    link = f"/admin/dosing/dosemodification/add/?adverse_event={event.pk}&amp;drug={drugs[0]}"
    assert link in ae_page
    page = client.get(link.replace("&amp;", "&"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="Diarrhea"' in html and "Appearance 1" in html and "The protocol proposes" in html
    nurse_client = Client()
    nurse_client.force_login(nurse)
    assert (
        "decide-modification"
        not in nurse_client.get(f"/admin/adverse_events/adverseevent/{event.pk}/change/").content.decode()
    )


def test_the_api_takes_the_toxicity_of_the_log(
    treated: Participant, terms: dict[str, Any], drugs: list[str], nurse: Any, investigator: Any, api: Any
) -> None:
    _toxicity(treated, terms, nurse, drugs[0])
    second = _toxicity(treated, terms, nurse, drugs[0])
    answer = api(investigator).post(
        f"/api/v1/participants/{treated.pk}/dose-modifications/",
        {"drug": drugs[0], "phase": PHASE, "cycle_number": 1, "adverse_event": second.pk, "reason": "table"},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["appearance"], body["toxicity_term"], body["adverse_event"]) == (2, "Diarrhea", second.pk)
    missing = api(investigator).post(
        f"/api/v1/participants/{treated.pk}/dose-modifications/",
        {"drug": drugs[0], "phase": PHASE, "cycle_number": 1, "reason": "table"},
        format="json",
    )
    assert missing.status_code == 400 and {"toxicity_term", "ctcae_grade"} <= set(missing.json()["errors"])
