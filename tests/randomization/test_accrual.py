"""Accrual and balance (issue 17): enrolment against the target and the plan for everyone; arm
balance overall and per stratification factor for the statistician only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from randomization import accrual
from randomization import services as rs
from randomization.models import Allocation, RandomizationScheme
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import signed

pytestmark = pytest.mark.django_db


def test_the_even_plan_expects_a_share_of_the_target_by_a_day() -> None:
    start, end = dt.date(2025, 4, 22), dt.date(2028, 4, 21)
    assert accrual.planned_by(dt.date(2025, 1, 1), start, end, 102) == 0
    assert accrual.planned_by(end + dt.timedelta(days=5), start, end, 102) == 102
    half = start + (end - start) / 2
    assert accrual.planned_by(half, start, end, 102) == 51


@pytest.fixture
def enrolled(scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User) -> list[Allocation]:
    with time_machine.travel(NOW, tick=False):
        return [
            rs.participant_randomize(
                participant=make_eligible(**kw), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
            )
            for kw in ({"ecog": 0}, {"ecog": 1}, {"ecog": 0, "liver_only_metastases": False})
        ]


def _login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_everyone_sees_accrual_without_arms(enrolled: list[Allocation], nurse: User, api: Any) -> None:
    page = _login(nurse).get("/admin/accrual/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "3 of 102 participants randomized" in html
    assert 'id="accrual-arms"' not in html and "<svg" in html
    body = api(nurse).get("/api/v1/trials/NCT06850103/accrual/").json()
    assert body["enrolled"] == 3 and body["target"] == 102
    assert "arms" not in body and "factors" not in body
    assert sum(m["enrolled"] for m in body["months"]) == 3 and body["months"][-1]["cumulative"] == 3
    assert body["planned"]["start"] == "2025-04-22"


def test_the_statistician_sees_balance_per_factor_matching_the_record(
    enrolled: list[Allocation], statistician: User, api: Any
) -> None:
    body = api(statistician).get("/api/v1/trials/NCT06850103/accrual/").json()
    arms = {a["arm"]: a["n"] for a in body["arms"]}
    expected: dict[str, int] = {}
    for allocation in enrolled:
        expected[allocation.arm] = expected.get(allocation.arm, 0) + 1
    assert {k: v for k, v in arms.items() if v} == expected
    ecog = next(f for f in body["factors"] if f["factor"] == "ecog")
    per_level = {row["level"]: sum(row["arms"].values()) for row in ecog["levels"]}
    recorded: dict[str, int] = {}
    for allocation in enrolled:
        level = str(allocation.factors["ecog"])
        recorded[level] = recorded.get(level, 0) + 1
    assert per_level == {"0": recorded.get("0", 0), "1": recorded.get("1", 0)} == {"0": 2, "1": 1}
    html = _login(statistician).get("/admin/accrual/").content.decode()
    assert 'id="accrual-arms"' in html and 'id="balance-chart"' in html


def test_the_page_speaks_the_readers_language(enrolled: list[Allocation], nurse: User) -> None:
    html = _login(nurse).get("/admin/accrual/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "participants randomized" not in html
    assert "已随机" in html
