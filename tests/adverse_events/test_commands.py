"""`load_ctcae_terms`: the NCI spreadsheet's columns (Grade 1 … Grade 5, "-" for a grade the
term lacks), the shipped file's `Grades` column, a second load that changes nothing, and a bad
file that loads nothing."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from adverse_events.models import Term

pytestmark = pytest.mark.django_db

NCI_CSV = """MedDRA Code,MedDRA SOC,CTCAE Term,Grade 1,Grade 2,Grade 3,Grade 4,Grade 5,Definition,Navigational Note
10014950,Blood and lymphatic system disorders,Eosinophilia,>ULN and >Baseline,-,Steroids initiated,-,-,A disorder,-
10012727,Gastrointestinal disorders,Diarrhea,<4 stools,4 - 6,>=7,Life-threatening,Death,A disorder,-
10099999,Gastrointestinal disorders,Proctitis,Discomfort,Symptomatic,Severe,Life-threatening,Death,-,-
"""


def _write(tmp_path: Path, text: str, name: str = "ctcae.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8-sig")
    return path


def test_the_nci_columns_load_terms_with_the_grades_they_define(tmp_path: Path, terms: dict[str, Term]) -> None:
    out = StringIO()
    call_command("load_ctcae_terms", str(_write(tmp_path, NCI_CSV)), stdout=out)

    assert "1 terms created, 1 updated, 1 unchanged" in out.getvalue()  # Diarrhea: as shipped
    eosinophilia = Term.objects.get(term="Eosinophilia")
    assert (eosinophilia.meddra_code, eosinophilia.grades, eosinophilia.soc) == (
        "10014950",
        "13",
        "Blood and lymphatic system disorders",
    )
    proctitis = Term.objects.get(term="Proctitis")
    assert proctitis.meddra_code == "10099999" and proctitis.term_zh == "直肠炎"  # the Chinese term is kept

    again = StringIO()
    call_command("load_ctcae_terms", str(_write(tmp_path, NCI_CSV)), stdout=again)
    assert "0 terms created, 0 updated, 3 unchanged" in again.getvalue()


@pytest.mark.parametrize(
    "text",
    [
        "MedDRA Code,MedDRA SOC,CTCAE Term,Grades\n12,GI,Diarrhea,1-5\n",
        "MedDRA Code,MedDRA SOC,CTCAE Term,Grades\n10012727,GI,Diarrhea,1-7\n",
        "MedDRA Code,MedDRA SOC,CTCAE Term,Grades\n10012727,GI,Diarrhea,\n10012727,GI,diarrhea,\n",
        "MedDRA Code,MedDRA SOC,CTCAE Term,Grade 1,Grade 2,Grade 3,Grade 4,Grade 5\n10012727,GI,Diarrhea,-,-,-,-,-\n",
        "Code,Name\n1,x\n",
    ],
)
def test_a_bad_file_is_refused_with_its_rows_named_and_loads_nothing(tmp_path: Path, text: str, db: Any) -> None:
    before = list(Term.objects.values())
    with pytest.raises(CommandError):
        call_command("load_ctcae_terms", str(_write(tmp_path, text)), stdout=StringIO())
    assert list(Term.objects.values()) == before


def test_the_shipped_file_is_the_default(db: Any) -> None:
    Term.objects.all().delete()
    out = StringIO()
    call_command("load_ctcae_terms", stdout=out)
    assert "29 terms created" in out.getvalue()
