"""A dose sheet read in Chinese (issue 14): each literature source has a Chinese title before its
citation (which stays as published, marked English), and the standing warning about the
unchecked reduced-dose rows is said once, in the pharmacist's words."""

from __future__ import annotations

from django.utils import translation

from dosing import pdf
from dosing.selectors import translate_messages
from tests.dosing.conftest import SheetMaker
from tests.support.i18n import english_words, visible_text
from trialsite.models import Participant


def test_sources_have_a_chinese_title_and_keep_the_citation(patient: Participant, make_sheet: SheetMaker) -> None:
    sheet = make_sheet(patient)
    with translation.override("zh-hans"):
        html = pdf.render_sheet_fragment(sheet)
    sources = html[html.index('<ul class="small">') :]
    # the capecitabine band table: a Chinese title, then the citation as published
    assert "卡培他滨药品说明书：按体表面积计算的标准剂量与减量剂量" in sources
    assert '<span lang="en">Xeloda (capecitabine) EU SmPC, section 4.2, Table 2' in sources
    assert "公式原始文献" in sources  # BSA (Mosteller) and CrCl (Cockcroft–Gault)
    # and a Chinese reader sees no English outside the citations
    assert not english_words(visible_text(f"<main>{html}</main>"))
    # an English reader gets the citation alone
    with translation.override("en"):
        english = pdf.render_sheet_fragment(sheet)
    assert "product label" not in english


def test_the_reduced_dose_warning_is_said_once_in_the_pharmacists_words(
    patient: Participant, make_sheet: SheetMaker
) -> None:
    sheet = make_sheet(patient)
    stored = [w for w in sheet.content["warnings"] if w["code"] == "band_table_unchecked"]
    assert len(stored) == 1
    # stored twice (an older sheet, or two tables of one drug) it is still said once
    with translation.override("zh-hans"):
        said = translate_messages([*sheet.content["warnings"], *stored])
        html = pdf.render_sheet_fragment(sheet)
    unchecked = [m for m in said if m["code"] == "band_table_unchecked"]
    assert len(unchecked) == 1
    assert unchecked[0]["message"].startswith("卡培他滨减量剂量（75%和50%）：发药前请与印刷版说明书逐一核对")
    assert html.count("本剂量表的减量行尚未与说明书核对") == 1
    with translation.override("en"):
        (english,) = translate_messages(stored)
    assert english["message"].startswith("Reduced doses of capecitabine (75% and 50%): check them against")
    assert "have not yet been checked" not in english["message"]  # not the developer's note
