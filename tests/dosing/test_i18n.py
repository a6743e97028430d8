"""The dose sheet in the reader's language. Its stored content stays English (it is fingerprinted:
the language must never make a new version); the page and the PDF say it again for the reader."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest
import time_machine
from django.utils import translation
from pypdf import PdfReader

from dosing import pdf, services, wording
from dosing.calculations import drug_doses, modifications
from tests.dosing.conftest import SheetMaker, record_inputs
from tests.support.i18n import english_words, visible_text
from tests.support.signatures import signed
from trialsite import services as registry
from trialsite.models import Participant
from trialsite.phrases import Phrase, code, english, phrase


def _sheet_html(sheet: Any, language: str) -> str:
    with translation.override(language):
        return pdf.render_sheet_html(sheet)


def test_the_chinese_sheet_is_chinese_from_its_lang_to_its_lab_names(
    patient: Participant, make_sheet: SheetMaker
) -> None:
    # given a sheet with capecitabine (BSA band), oxaliplatin (rounded) and serplulimab (flat)
    sheet = make_sheet(patient)
    # when a Chinese reader opens it
    html = _sheet_html(sheet, "zh-hans")
    # then the document says it is Chinese, and the analytes, bands, routes and headings are
    assert '<html lang="zh-Hans">' in html
    assert "中性粒细胞绝对计数" in html and "血小板计数" in html
    assert "体表面积分档 1.93–2.06 m²" in html and "BSA band" not in html
    assert "给药单 — NCT06850103" in html and "剂量单" not in html  # one heading, not two
    assert "口服" in html and "静脉滴注" in html and "每日2次" in html
    assert "<b>卡培他滨</b> Capecitabine" in html  # the reader's name first, the other beside it
    # and nothing English is left but codes, units, names and the literature sources
    assert english_words(visible_text(f"<main>{html}</main>")) == set()


def test_the_english_sheet_stays_english(patient: Participant, make_sheet: SheetMaker) -> None:
    html = _sheet_html(make_sheet(patient), "en")
    assert '<html lang="en">' in html
    assert "Absolute neutrophil count" in html and "BSA band 1.93–2.06 m²" in html
    assert "Dose sheet — NCT06850103" in html and "剂量单" not in html
    assert "<b>Capecitabine</b> 卡培他滨" in html


def test_the_chinese_pdf_is_tagged_chinese_and_reads_chinese(patient: Participant, make_sheet: SheetMaker) -> None:
    sheet = make_sheet(patient)
    with translation.override("zh-hans"):
        body = pdf.render_sheet_pdf(sheet, use_cache=False)
    reader = PdfReader(io.BytesIO(body))
    assert reader.trailer["/Root"]["/Lang"] == "zh-Hans"  # WeasyPrint takes it from <html lang>
    text = " ".join("".join(page.extract_text() for page in reader.pages).split())
    assert "中性粒细胞绝对计数" in text and "体表面积" in text
    with translation.override("en"):
        english = PdfReader(io.BytesIO(pdf.render_sheet_pdf(sheet, use_cache=False)))
    assert english.trailer["/Root"]["/Lang"] == "en"


def test_the_language_never_changes_what_is_stored(patient: Participant, now: dt.datetime, day1: dt.date) -> None:
    # given a sheet prepared while Chinese was active (an admin request of a Chinese pharmacist)
    with translation.override("zh-hans"):
        first = services.dose_sheet_prepare(
            by=None, participant=patient, phase="neoadjuvant", cycle_number=1, day1=day1, now=now
        )
    # then its content is English
    capecitabine = next(d for d in first.content["doses"] if d["drug"] == "capecitabine")
    assert (
        english(capecitabine["rounding"]).startswith("BSA band ")
        and english(first.content["sources"][0]["what"]) == "BSA"
    )
    # and preparing it again in English finds the same inputs: the same sheet, no new version
    with translation.override("en"):
        again = services.dose_sheet_prepare(
            by=None, participant=patient, phase="neoadjuvant", cycle_number=1, day1=day1, now=now
        )
    assert again.pk == first.pk and again.version == 1


def test_a_modification_and_a_new_weight_read_in_chinese(
    patient: Participant, make_sheet: SheetMaker, investigator: Any, now: dt.datetime
) -> None:
    # given cycle 2's sheet after a capecitabine reduction in cycle 1, re-prepared after a new weight
    make_sheet(patient)
    services.dose_modification_record(
        participant=patient,
        drug="capecitabine",
        phase="neoadjuvant",
        cycle_number=1,
        toxicity_term="手足综合征",
        ctcae_grade=3,
        reason="3级手足综合征",
        by=investigator,
        now=now,
        signature=signed(investigator, "dose_modification", at=now),
    )
    day1 = dt.date(2026, 3, 26)
    record_inputs(patient, on=dt.date(2026, 3, 24))
    first = make_sheet(patient, cycle=2, day1=day1)
    on = dt.date(2026, 3, 25)
    with time_machine.travel(dt.datetime(2026, 3, 25, 2, 0, tzinfo=dt.UTC), tick=False):
        registry.measurement_record(participant=patient, kind="weight", value="70", measured_on=on, by=None, today=on)
    second = make_sheet(patient, cycle=2, day1=day1)
    assert second.version == first.version + 1
    first.refresh_from_db()
    # when a Chinese reader reads them
    with translation.override("zh-hans"):
        html = _sheet_html(second, "zh-hans")
        why = wording.end_reason(first.end_reason)
    # then the level, the reason with its rule and why the first version ended are Chinese
    # (the line gives 75 %: its reason names the level, never "withhold" — issue 13)
    assert "75 %" in html
    assert "按 75 % 给药：新辅助治疗第1周期出现手足综合征 3级（卡培他滨毒性表，3级，第1次出现）" in html
    assert why == "记录了新的体重 (kg)", first.end_reason
    assert english_words(visible_text(f"<main>{html}</main>")) == set()


@pytest.mark.parametrize(
    ("stored", "chinese"),
    [
        (phrase(drug_doses.ROUNDING_STEP, step="5"), "取整至最接近的 5 mg"),
        (phrase(drug_doses.ROUNDING_EXACT_OVER_LIMIT), "精确到 0.1 mg（按步长取整将超出允许偏差）"),
        (
            phrase(drug_doses.ROUNDING_BAND, band="1.93–2.06", table="capecitabine_eu_smpc_1000"),
            "体表面积分档 1.93–2.06（capecitabine_eu_smpc_1000）",
        ),
        (phrase(drug_doses.ROUNDING_FLAT), "固定剂量"),
    ],
)
def test_stored_rounding_notes_read_in_chinese(stored: Phrase, chinese: str) -> None:
    with translation.override("zh-hans"):
        assert wording.rounding(stored) == chinese


@pytest.mark.parametrize(
    ("stored", "chinese"),
    [
        (phrase(modifications.RULE_GRADE_5), "5级"),
        (
            phrase(modifications.RULE_STEP_DOWN, drug=code("drug", "oxaliplatin"), grade=3),
            "奥沙利铂：3级（≥3级时下调一个剂量水平）",
        ),
        (phrase(modifications.RULE_NOT_REDUCIBLE, drug=code("drug", "serplulimab"), grade=2), "斯鲁利单抗：2级"),
        (
            phrase(modifications.RULE_STEP_DOWN_WITHHELD, drug=code("drug", "oxaliplatin"), grade=2),
            "奥沙利铂：2级（≥3级时下调一个剂量水平），本周期暂停给药",
        ),
    ],
)
def test_stored_modification_rules_read_in_chinese(stored: Phrase, chinese: str) -> None:
    with translation.override("zh-hans"):
        assert wording.rule(stored) == chinese


def test_every_rule_the_calculation_can_write_is_recognised() -> None:
    """A new rule wording in calculations.py must come with its translation (or it stays English)."""
    spec = drug_doses.DrugSpec.from_definition(
        "oxaliplatin", {"name": "Oxaliplatin", "route": "iv", "basis": "mg_per_m2", "dose": 130, "days": [1],
                        "dose_levels_mg_per_m2": [130, 100]},
    )  # fmt: skip
    never = drug_doses.DrugSpec.from_definition(
        "serplulimab",
        {"name": "Serplulimab", "route": "iv", "basis": "flat", "dose": 300, "days": [1], "reducible": False},
    )
    outcomes = [
        modifications.decide_modification(s, grade=g, appearance=1, current_level=0, requested_action=a)
        for s in (spec, never)
        for g in (1, 2, 3, 4, 5)
        for a in (None, "interrupt", "discontinue")
    ]
    with translation.override("zh-hans"):
        for outcome in outcomes:
            assert re.search(r"[\u4e00-\u9fff]", wording.rule(outcome.rule)), outcome.rule
