"""Reading a CTCAE term list (no Django): the NCI CTCAE v5.0 spreadsheet (columns MedDRA Code,
MedDRA SOC, CTCAE Term, Grade 1 … Grade 5, as CTCAE_v5.0_2017-11-27.xlsx has them) or the
project's shipped subset (data/ctcae_v5_regimen_terms.csv: a `Grades` column and a `Chinese
Term`). A grade cell of "-" is a grade the term does not define (CTCAE's own convention)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

SHIPPED = Path(__file__).parent / "data" / "ctcae_v5_regimen_terms.csv"
ALL_GRADES = "12345"
NOT_DEFINED = {"", "-", "–", "—"}
MEDDRA_CODE = re.compile(r"\A\d{8}\Z")


class TermFileError(Exception):
    """The file can't be read as a term list; `problems` names each row's mistakes."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class TermSpec:
    term: str
    soc: str
    meddra_code: str  # "" when not known
    grades: str  # the defined grades as digits, e.g. "123"; ALL_GRADES when not known
    term_zh: str = ""


def _key(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file (UTF-8, with or without BOM) or of the first sheet of an xlsx
    workbook (openpyxl, when installed), keyed by the normalised header."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            import openpyxl
        except ImportError as exc:
            raise TermFileError(f"{path.name}: reading xlsx needs openpyxl; save the sheet as CSV instead.") from exc
        sheet = openpyxl.load_workbook(path, read_only=True, data_only=True).worksheets[0]
        rows = [["" if cell is None else str(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
    else:
        try:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                rows = list(csv.reader(fh))
        except (OSError, UnicodeDecodeError) as exc:
            raise TermFileError(f"cannot read {path}: {exc}") from exc
    if not rows:
        raise TermFileError(f"{path.name} is empty.")
    header = [_key(h) for h in rows[0]]
    return [dict(zip(header, row, strict=False)) for row in rows[1:] if any(cell.strip() for cell in row)]


def grades_of(row: Mapping[str, str]) -> str:
    """The grades a row defines: from Grade 1 … Grade 5 cells (NCI), or a `Grades` cell such as
    "1-5", "3-5" or "1,3" (blank: not known, every grade)."""
    if any(f"grade {g}" in row for g in ALL_GRADES):
        return "".join(g for g in ALL_GRADES if (row.get(f"grade {g}") or "").strip() not in NOT_DEFINED)
    text = (row.get("grades") or "").replace(" ", "")
    if not text:
        return ALL_GRADES
    found: set[str] = set()
    for part in text.split(","):
        bounds = part.split("-")
        if len(bounds) > 2 or not all(b in ALL_GRADES and b for b in bounds):
            raise ValueError(f"grades {text!r}: use e.g. 1-5, 3-5 or 1,3")
        low, high = bounds[0], bounds[-1]
        found.update(g for g in ALL_GRADES if low <= g <= high)
    return "".join(sorted(found))


def parse(rows: Iterable[Mapping[str, str]], *, source: str) -> list[TermSpec]:
    """Term specs from rows; raises TermFileError listing every bad row (nothing is half-read)."""
    specs: list[TermSpec] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        term = " ".join((row.get("ctcae term") or "").split())
        code = (row.get("meddra code") or "").strip()
        soc = " ".join((row.get("meddra soc") or "").split())
        where = f"{source} row {number}"
        if not term:
            problems.append(f"{where}: no CTCAE Term")
            continue
        if code and not MEDDRA_CODE.match(code):
            problems.append(f"{where} ({term}): MedDRA Code {code!r} is not 8 digits")
        if term.lower() in seen:
            problems.append(f"{where}: {term} is listed twice")
        seen.add(term.lower())
        try:
            grades = grades_of(row)
        except ValueError as exc:
            problems.append(f"{where} ({term}): {exc}")
            continue
        if not grades:
            problems.append(f"{where} ({term}): defines no grade")
        zh = " ".join((row.get("chinese term") or "").split())
        specs.append(TermSpec(term=term, soc=soc, meddra_code=code, grades=grades, term_zh=zh))
    if "\x00" in "".join(s.term + s.soc + s.term_zh for s in specs):
        problems.append(f"{source}: contains a NUL character")
    if problems:
        raise TermFileError(f"{source}: {len(problems)} problem(s)", problems)
    if not specs:
        raise TermFileError(f"{source}: no terms (is the header MedDRA Code, MedDRA SOC, CTCAE Term?)")
    return specs


def read(path: Path) -> list[TermSpec]:
    return parse(read_rows(path), source=path.name)
