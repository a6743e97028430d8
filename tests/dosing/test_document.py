"""The sheet document's pure assembly (dosing.document): plain data in, the content out, no database."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D
from pathlib import Path

from dosing import document
from dosing.models import content_fingerprint
from trialsite import protocol

PROTOCOL = protocol.read(Path(protocol.__file__).parent / "protocols" / "NCT06850103.yaml")
DAY1 = dt.date(2026, 3, 2)


def _inputs(**changes: object) -> document.SheetInputs:
    values: dict[str, object] = dict(
        participant=document.ParticipantFacts(
            id=7,
            screening_number="S-001",
            randomization_number=12,
            full_name="A Person",
            sex="male",
            birth_date=dt.date(1966, 5, 1),
            site="BJ01",
            trial="NCT06850103",
            protocol_version="1.0",
            arm=PROTOCOL["arms"][0]["code"],
        ),
        definition=PROTOCOL,
        phase="neoadjuvant",
        cycle_number=1,
        cycle_seq=1,
        day1=DAY1,
        height=document.Measured(1, D(175), DAY1),
        weight=document.Measured(2, D(80), DAY1),
        labs={
            "creatinine": document.Measured(3, D(80), DAY1),
            "anc": document.Measured(4, D("2.0"), DAY1),
            "platelets": document.Measured(5, D(150), DAY1),
        },
    )
    values.update(changes)
    return document.SheetInputs(**values)  # type: ignore[arg-type]


def test_assembly_needs_no_database_and_is_deterministic() -> None:
    # given plain inputs, when assembled twice
    first, columns = document.assemble(_inputs())
    again, _ = document.assemble(_inputs())
    # then the content is JSON, the same each time (so is its fingerprint), and releasable
    assert json.loads(json.dumps(first)) == first
    assert content_fingerprint(first) == content_fingerprint(again)
    assert columns["releasable"] is True and first["decision"] == "treat"
    # Cockcroft–Gault, age 59 on day 1: (140 − 59) × 80 / (72 × 80/88.4) = 99.45 → 99.5
    assert first["creatinine_clearance_ml_min"] == 99.5
    assert first["inputs"]["lab_ids"] == [3, 4, 5]


def test_a_missing_creatinine_blocks_release() -> None:
    content, columns = document.assemble(_inputs(labs={}))
    assert columns["releasable"] is False
    assert "creatinine_missing" in [b["code"] for b in content["blockers"]]
