"""What the sheet says (issue 13): the dose basis kept or recalculated by the protocol's
weight-change rule, shown on the screen, the PDF and the JSON; each calculated dose and its
rounding on the PDF; a modification reason on a line that gives a reduced dose."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from dosing import pdf, services
from dosing.models import DoseSheet
from tests.dosing.conftest import NOW, SheetMaker, dose, randomize, record_inputs
from tests.support.signatures import signed
from trialsite.models import Participant
from trialsite.phrases import english

Api = Callable[[Any], APIClient]
CYCLE2 = dt.date(2026, 3, 26)
CYCLE3 = dt.date(2026, 4, 16)


@pytest.fixture
def person(participant: Participant, make_sheet: SheetMaker) -> Participant:
    """170 cm / 65 kg: √(170·65/3600) = 1.752 → 1.75 m²; cycle 1 at that basis."""
    randomize(participant)
    record_inputs(participant, height="170", weight="65")
    sheet = make_sheet(participant)
    # capecitabine.md, band 1.67–1.78: 1750 mg
    assert dose(sheet, "capecitabine")["dose_mg"] == 1750 and sheet.content["bsa_m2"] == 1.75
    return participant


def cycle(participant: Participant, make_sheet: SheetMaker, number: int, day1: dt.date, weight: str) -> DoseSheet:
    record_inputs(participant, on=day1 - dt.timedelta(days=2), height="170", weight=weight)
    return make_sheet(participant, cycle=number, day1=day1)


def test_a_weight_change_under_10_percent_keeps_the_previous_basis_and_says_so(
    person: Participant, make_sheet: SheetMaker
) -> None:
    # Issue 13: −9.9 % (65 → 58.57 kg) moved capecitabine from 1750 to 1600 mg; the basis is kept.
    sheet = cycle(person, make_sheet, 2, CYCLE2, "58.57")
    c = sheet.content
    assert c["weight_kg"] == 58.57 and c["measured_bsa_m2"] == 1.66  # √(170·58.57/3600) = 1.663
    assert c["dose_basis"] == {
        "weight_kg": 65,
        "bsa_m2": 1.75,
        "rule": "kept",
        "change_pct": -9.9,
        "threshold_pct": 10,
        "previous_cycle_seq": 1,
    }
    assert c["bsa_m2"] == 1.75 and dose(sheet, "capecitabine")["dose_mg"] == 1750
    assert dose(sheet, "oxaliplatin")["dose_mg"] == 230  # 130 × 1.75 = 227.5 → 230 (nearest 5 mg)
    assert sheet.weight_kg == 65  # the next change is measured against the weight the doses use
    assert "weight_basis_kept" in [w["code"] for w in c["warnings"]]

    # −10.0 % against that basis (58.5 kg): recalculated, √(170·58.5/3600) = 1.662 → 1.66 m², 1600 mg.
    third = cycle(person, make_sheet, 3, CYCLE3, "58.5")
    assert third.content["dose_basis"]["rule"] == "recalculated"
    assert third.content["dose_basis"]["change_pct"] == -10.0
    assert third.content["bsa_m2"] == 1.66 and dose(third, "capecitabine")["dose_mg"] == 1600
    assert "weight_change_recalculated" in [w["code"] for w in third.content["warnings"]]


def test_screen_pdf_and_json_show_the_weight_and_bsa_the_doses_use(
    person: Participant, make_sheet: SheetMaker, api: Api, pharmacist: User, client: Client
) -> None:
    sheet = cycle(person, make_sheet, 2, CYCLE2, "58.57")
    with translation.override("en"):
        html = pdf.render_sheet_html(sheet)
    assert "65 kg, BSA 1.75 m²: the previous cycle&#x27;s basis, kept (weight change -9.9 %, under 10 %" in html
    body = api(pharmacist).get(f"/api/v1/dose-sheets/{sheet.pk}/").json()
    assert body["dose_basis"]["weight_kg"] == 65 and body["dose_basis"]["bsa_m2"] == 1.75
    client.force_login(pharmacist)
    page = client.get(f"/admin/dosing/dosesheet/{sheet.pk}/change/", HTTP_ACCEPT_LANGUAGE="en")
    assert "the previous cycle&#x27;s basis, kept" in page.content.decode()


def test_the_pdf_shows_each_calculated_dose_and_its_rounding(person: Participant) -> None:
    sheet = DoseSheet.objects.get(participant=person)
    with translation.override("en"):
        html = pdf.render_sheet_html(sheet)
    # formulas.md: 130 mg/m² × 1.75 m² = 227.5 → 230 mg (oxaliplatin, nearest 5 mg)
    assert "130 mg/m² × 1.75 m² = 227.5 → 230 mg" in html and "nearest 5 mg" in html
    # capecitabine.md: 1000 mg/m² × 1.75 m² = 1750 → 1750 mg from the band table
    assert "1000 mg/m² × 1.75 m² = 1750 → 1750 mg" in html and "BSA band 1.67–1.78" in html
    assert dose(sheet, "oxaliplatin")["calculated_dose_mg"] == 227.5  # the JSON holds the same numbers
    assert dose(sheet, "oxaliplatin")["multiplied_by"] == 1.75


def test_a_reduced_dose_line_does_not_read_as_withheld(
    person: Participant, make_sheet: SheetMaker, investigator: User
) -> None:
    services.dose_modification_record(
        participant=person,
        drug="capecitabine",
        phase="neoadjuvant",
        cycle_number=1,
        toxicity_term="Diarrhea",
        ctcae_grade=3,
        reason="resolved after interruption",
        by=investigator,
        now=NOW,
        signature=signed(investigator, "dose_modification", at=NOW),
    )
    sheet = cycle(person, make_sheet, 2, CYCLE2, "65")
    cape = dose(sheet, "capecitabine")
    # capecitabine.md toxicity table, grade 3 first appearance: interrupt, resume at 75 %;
    # band 1.67–1.78, 75 % column: 1300 mg
    assert (cape["status"], cape["dose_mg"], cape["level_label"]) == ("give", 1300, "75 %")
    assert english(cape["level_reason"]).startswith("given at 75 % after Diarrhea grade 3")
    for language in ("en", "zh-hans"):
        with translation.override(language):
            line = next(d for d in pdf.sheet_context(sheet)["doses"] if d["drug"] == "capecitabine")
            assert "withh" not in str(line["level_reason_text"]) and "暂停" not in str(line["level_reason_text"])
            assert "75 %" in str(line["level_reason_text"])
