"""The cumulative dose a sheet totals is protocol data: the drug with `cumulative_dose: true`
(issue 15). A protocol without one makes sheets without the cumulative section."""

from __future__ import annotations

from typing import Any

import yaml
from django.utils import translation

from dosing import pdf
from tests.conftest import PROTOCOL_PATH
from tests.dosing.conftest import SheetMaker
from trialsite import services as registry
from trialsite.models import Participant


def test_the_sheet_totals_the_protocols_cumulative_drug(patient: Participant, make_sheet: SheetMaker) -> None:
    sheet = make_sheet(patient)
    drug = next(c for c, d in patient.protocol_version.definition["drugs"].items() if d.get("cumulative_dose"))

    assert sheet.content["cumulative"]["drug"] == drug
    assert sheet.cumulative_drug_mg == sheet.content["cumulative"]["total_mg"]
    html = pdf.render_sheet_html(sheet)
    assert f"Cumulative {drug}" in html
    with translation.override("zh-hans"):
        assert "奥沙利铂累积剂量" in pdf.render_sheet_html(sheet)  # as before: the drug's Chinese name first


def test_a_protocol_without_a_cumulative_drug_makes_sheets_without_the_section(
    patient: Participant, make_sheet: SheetMaker
) -> None:
    # given the participant on a protocol version where no drug has cumulative_dose
    data: dict[str, Any] = yaml.safe_load(PROTOCOL_PATH.read_text(encoding="utf-8"))
    data["trial"]["version"] = "2-no-cumulative"
    for spec in data["drugs"].values():
        spec.pop("cumulative_dose", None)
    version, _ = registry.protocol_load(by=None, text=yaml.safe_dump(data, allow_unicode=True))
    Participant.objects.filter(pk=patient.pk).update(protocol_version=version)
    patient.refresh_from_db()

    sheet = make_sheet(patient)

    assert "cumulative" not in sheet.content
    assert not any(k.startswith("cumulative") for k in sheet.content)
    assert (sheet.cumulative_drug_mg, sheet.cumulative_drug_mg_m2) == (None, None)
    assert "Cumulative" not in pdf.render_sheet_html(sheet)


def test_a_sheet_stored_with_the_drug_in_its_key_still_shows_the_total() -> None:
    # content of sheets prepared before the section named its drug inside
    doc = {"cumulative_oxaliplatin": {"prior_mg": 0, "prior_mg_m2": 0, "total_mg": 260, "total_mg_m2": 130}}
    assert pdf._cumulative(doc) == {
        "prior_mg": "0",
        "prior_mg_m2": "0",
        "total_mg": "260",
        "total_mg_m2": "130",
        "drug_text": "oxaliplatin",
    }
    assert pdf._cumulative({}) is None
