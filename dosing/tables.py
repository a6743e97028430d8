"""Dose tables as data, each with its source (shown on every dose sheet that used it). No Django.

Capecitabine 1000 mg/m² twice daily: Xeloda (capecitabine) EU Summary of Product Characteristics,
section 4.2, Table 2, transcribed in shared/reference/capecitabine.md. The full-dose column and its
tablet counts are the reference the service reproduces (tests/dosing/test_calculations.py checks
that the fewest-tablets rule gives the label's counts). The reduced-dose columns were transcribed
without the label at hand: the table carries `checked_against_label = False` and the sheet says so
until a pharmacist has compared them with the printed label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

D = Decimal


@dataclass(frozen=True)
class Band:
    label: str
    max_bsa: Decimal | None  # inclusive upper bound (BSA rounded to 2 decimals); None = no upper bound
    full_mg: Decimal
    pct75_mg: Decimal
    pct50_mg: Decimal
    full_tablets_150: int
    full_tablets_500: int

    def dose_at(self, pct: Decimal) -> Decimal:
        by_pct = {D(100): self.full_mg, D(75): self.pct75_mg, D(50): self.pct50_mg}
        try:
            return by_pct[D(pct)]
        except KeyError:
            raise ValueError(f"the band table has no {pct} % column") from None


@dataclass(frozen=True)
class BandTable:
    code: str
    source: str
    checked_against_label: bool
    bands: tuple[Band, ...]

    def band_for(self, bsa_m2: Decimal) -> Band:
        """The band of a BSA rounded to 2 decimals (≤ 1.26, 1.27–1.38, …, ≥ 2.19)."""
        for band in self.bands:
            if band.max_bsa is None or bsa_m2 <= band.max_bsa:
                return band
        raise ValueError("band table without an open last band")


def _band(label: str, max_bsa: str | None, full: int, t150: int, t500: int, p75: int, p50: int) -> Band:
    return Band(label, D(max_bsa) if max_bsa else None, D(full), D(p75), D(p50), t150, t500)


CAPECITABINE_EU_SMPC_1000 = BandTable(
    code="capecitabine_eu_smpc_1000",
    source=(
        "Xeloda (capecitabine) EU SmPC, section 4.2, Table 2: standard and reduced dose calculations "
        "according to body surface area for a starting dose of 1000 mg/m² "
        "(shared/reference/capecitabine.md)"
    ),
    checked_against_label=False,
    bands=(
        # label, BSA up to, full mg, 150 mg tablets, 500 mg tablets, 75 % mg, 50 % mg
        _band("≤ 1.26", "1.26", 1150, 1, 2, 800, 600),
        _band("1.27–1.38", "1.38", 1300, 2, 2, 1000, 600),
        _band("1.39–1.52", "1.52", 1450, 3, 2, 1100, 750),
        _band("1.53–1.66", "1.66", 1600, 4, 2, 1200, 800),
        _band("1.67–1.78", "1.78", 1750, 5, 2, 1300, 800),
        _band("1.79–1.92", "1.92", 1800, 2, 3, 1400, 900),
        _band("1.93–2.06", "2.06", 2000, 0, 4, 1500, 1000),
        _band("2.07–2.18", "2.18", 2150, 1, 4, 1600, 1050),
        _band("≥ 2.19", None, 2300, 2, 4, 1750, 1100),
    ),
)

BAND_TABLES: dict[str, BandTable] = {CAPECITABINE_EU_SMPC_1000.code: CAPECITABINE_EU_SMPC_1000}


@dataclass(frozen=True)
class ToxicityTable:
    """A product label's dose modification for toxicity, by CTCAE grade. Each grade's cells go by
    appearance (1st, 2nd, …; the last cell repeats): "maintain"; "interrupt_P" = interrupt until
    grade 0–1, then resume at P %; "P" = continue at P %; "discontinue"; "discontinue_or_50" =
    discontinue or, if in the patient's interest, interrupt and resume at 50 % (the
    investigator's choice). A protocol names it by `code` (drugs.<code>.toxicity_table); its
    percentages are dose levels of that drug (dose_levels_pct)."""

    code: str
    cells: Mapping[int, tuple[str, ...]]
    source: str

    def percentages(self) -> set[Decimal]:
        """Every percentage the table resumes or continues at."""
        out = set()
        for row in self.cells.values():
            for cell in row:
                pct = cell.removeprefix("interrupt_")
                if pct.isdigit():
                    out.add(Decimal(pct))
                elif cell == "discontinue_or_50":
                    out.add(Decimal(50))
        return out


# Xeloda (capecitabine) EU SmPC section 4.2 and the US label's Table 2 (NCI CTCAE grades;
# shared/reference/capecitabine.md).
CAPECITABINE_LABEL_TOXICITY = ToxicityTable(
    code="capecitabine_label_toxicity",
    cells={
        1: ("maintain",),
        2: ("interrupt_100", "interrupt_75", "interrupt_50", "discontinue"),
        3: ("interrupt_75", "interrupt_50", "discontinue"),
        4: ("discontinue_or_50", "discontinue"),
    },
    source=(
        "Xeloda (capecitabine) EU SmPC section 4.2 and US prescribing information Table 2: "
        "dose modification for toxicity (shared/reference/capecitabine.md)"
    ),
)

TOXICITY_TABLES: dict[str, ToxicityTable] = {CAPECITABINE_LABEL_TOXICITY.code: CAPECITABINE_LABEL_TOXICITY}
