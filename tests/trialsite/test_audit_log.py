"""The trial-wide audit log (issue 17): every change from the history tables, newest first,
filtered by site, participant, user, record and date, in the site's time zone and the reader's
language; allocations for the statistician only; other sites' rows never shown."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client

from tests.factories import ParticipantFactory
from trialsite import audit_log, services
from trialsite.models import Participant

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)  # 09:30 in Asia/Shanghai


def _login(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def records(trial: Any, site: Any, other_site: Any, nurse: Any, other_nurse: Any, api: Any) -> dict[str, Participant]:
    with time_machine.travel(NOW, tick=False):
        mine = ParticipantFactory(trial=trial, site=site)
        theirs = ParticipantFactory(trial=trial, site=other_site)
        # Through a door, as a nurse would: the history row names her.
        answer = api(nurse).post(
            f"/api/v1/participants/{mine.pk}/measurements/",
            {"kind": "weight", "value": "68", "measured_on": NOW.date().isoformat()},
        )
        assert answer.status_code == 201, answer.content
        services.measurement_record(
            participant=theirs, kind="weight", value="71", measured_on=NOW.date(), by=other_nurse, today=NOW.date()
        )
    return {"mine": mine, "theirs": theirs}


def test_an_investigator_reads_changes_of_their_sites_with_local_times(
    records: dict[str, Participant], make_user: Any, site: Any
) -> None:
    investigator = make_user("investigator", [site], username="inv-one-site")
    page = _login(investigator).get("/admin/audit-log/")
    assert page.status_code == 200
    html = page.content.decode()
    assert records["mine"].screening_number in html
    assert records["theirs"].screening_number not in html  # another site's participant
    assert "2026-03-02 09:30" in html  # Asia/Shanghai, not UTC (01:30)


def test_filters_narrow_the_log(records: dict[str, Participant], investigator: Any, nurse: Any) -> None:
    entries = audit_log.audit_entries(
        user=investigator,
        filters=audit_log.Filters(participant_id=records["mine"].pk, model="trialsite.measurement"),
    )
    assert entries and all(e.participant == records["mine"].screening_number for e in entries)
    assert {e.model for e in entries} == {"trialsite.measurement"}
    assert {e.user for e in entries} == {nurse.get_full_name() or nurse.username}
    none = audit_log.audit_entries(user=investigator, filters=audit_log.Filters(date_to=dt.date(2026, 3, 1)))
    assert none == []


def test_a_change_shows_field_names_and_values_in_the_readers_language(
    records: dict[str, Participant], investigator: Any, nurse: Any
) -> None:
    participant = records["mine"]
    with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
        participant.phone = "+8613800000000"
        participant.save()
    page = _login(investigator).get(
        "/admin/audit-log/?participant=" + participant.screening_number, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    html = page.content.decode()
    assert "+8613800000000" in html
    assert "审计日志" in html and "Audit log" not in html


def test_only_investigators_and_statisticians_read_it(records: Any, nurse: Any, pharmacist: Any, api: Any) -> None:
    assert _login(nurse).get("/admin/audit-log/").status_code == 403
    assert _login(pharmacist).get("/admin/audit-log/").status_code == 403
    assert api(nurse).get("/api/v1/audit-log/").status_code == 403


def test_the_api_pages_with_a_cursor_and_refuses_bad_filters(
    records: dict[str, Participant], investigator: Any, api: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(audit_log, "PAGE_SIZE", 2)
    client = api(investigator)
    first = client.get("/api/v1/audit-log/")
    assert first.status_code == 200
    body = first.json()
    assert len(body["results"]) == 2 and body["next_before"]
    older = client.get("/api/v1/audit-log/", {"before": body["next_before"]}).json()
    seen = {(r["model"], r["object_id"], r["at"]) for r in body["results"]}
    assert not seen & {(r["model"], r["object_id"], r["at"]) for r in older["results"]}
    bad = client.get("/api/v1/audit-log/", {"date_from": "2026-03-05", "date_to": "2026-03-01"})
    assert bad.status_code == 400 and "date_to" in bad.json()["errors"]
    assert client.get("/api/v1/audit-log/", {"date_from": "9999-99-99"}).status_code == 400
