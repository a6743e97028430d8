"""The cell conversions of exports/tables.py (pure): ISO text with the offset, typed Excel cells,
and text a spreadsheet would run as a formula defused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exports.tables import csv_cell, local, xlsx_cell

UTC_MOMENT = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (dt.date(2026, 3, 2), "2026-03-02"),
        (dt.time(9, 30), "09:30:00"),
        (local(UTC_MOMENT, ZoneInfo("Asia/Shanghai")), "2026-03-02T10:00:00+08:00"),
        (local(UTC_MOMENT, ZoneInfo("Europe/London")), "2026-03-02T02:00:00+00:00"),
        (Decimal("70.50"), Decimal("70.50")),
        (-3, -3),
        ("甲院患者", "甲院患者"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+86 1", "'+86 1"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
    ],
)
def test_csv_cells(value: Any, expected: Any) -> None:
    assert csv_cell(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (dt.date(2026, 3, 2), dt.date(2026, 3, 2)),
        (local(UTC_MOMENT, ZoneInfo("Asia/Shanghai")), dt.datetime(2026, 3, 2, 10, 0)),  # wall clock, no zone
        (Decimal("1.5"), Decimal("1.5")),
        ("ZJU1", "ZJU1"),
    ],
)
def test_xlsx_cells(value: Any, expected: Any) -> None:
    assert xlsx_cell(value) == expected
    if isinstance(expected, dt.datetime):
        assert xlsx_cell(value).tzinfo is None
