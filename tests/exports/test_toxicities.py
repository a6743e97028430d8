"""The toxicity log as an export (issue 17): read back with csv and openpyxl, times in the site's
zone, another site's toxicities absent."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import openpyxl
import pytest

from adverse_events import ctcae
from adverse_events import services as ae_services
from adverse_events.models import Term
from adverse_events.selectors import participant_drugs
from tests.adverse_events.conftest import NOW, TODAY, randomize
from tests.factories import ParticipantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged(trial: Any, site: Any, other_site: Any, nurse: Any, other_nurse: Any) -> dict[str, Any]:
    if not Term.objects.exists():
        ae_services.terms_load(specs=ctcae.read(ctcae.SHIPPED), source="shipped", by=None)
    mine = randomize(ParticipantFactory(trial=trial, site=site))
    theirs = randomize(ParticipantFactory(trial=trial, site=other_site))
    drug = participant_drugs(mine)[0]
    event = ae_services.ae_record(
        participant=mine,
        term=Term.objects.get(term="Diarrhea"),
        grade=3,
        onset_date=dt.date(2026, 3, 20),
        serious=True,
        attribution={drug: "probable"},
        by=nurse,
        now=NOW,
        today=TODAY,
    )
    ae_services.ae_record(
        participant=theirs,
        term=Term.objects.get(term="Diarrhea"),
        grade=2,
        onset_date=dt.date(2026, 3, 21),
        by=other_nurse,
        now=NOW,
        today=TODAY,
    )
    return {"event": event, "drug": drug, "mine": mine}


def test_the_toxicity_log_exports_as_csv_and_excel(logged: dict[str, Any], nurse: Any, api: Any) -> None:
    client = api(nurse)
    answer = client.get("/api/v1/exports/toxicities.csv")
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [r["adverse_event_id"] for r in rows] == [str(logged["event"].pk)]  # not the other site's
    row = rows[0]
    assert (row["ctcae_term"], row["grade"], row["serious"]) == ("Diarrhea", "3", "True") or row["serious"] in (
        "true",
        "1",
    )
    assert row["attribution"] == f"{logged['drug']}:probable"
    assert row["recorded_at"].startswith("2026-03-30T10:00") and row["recorded_at"].endswith("+08:00")
    assert row["time_zone"] == "Asia/Shanghai"
    book = openpyxl.load_workbook(io.BytesIO(client.get("/api/v1/exports/toxicities.xlsx").content))
    sheet = book.active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    values = dict(zip(header, [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))], strict=True))
    assert values["ctcae_term"] == "Diarrhea" and values["grade"] == 3
