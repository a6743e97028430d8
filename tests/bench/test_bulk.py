"""bench/bulk.py, the bulk plan creation the benchmarks use (a hand-written COPY, kept out of the
domain): its plans must be the ones the service makes, or a benchmark measures something else."""

from __future__ import annotations

from datetime import date as D
from typing import Any

from bench.bulk import treatment_plans_create_bulk
from schedules import selectors
from schedules.models import ScheduledEvent
from schedules.services.plans import event_delay, treatment_plan_create
from tests.schedules.conftest import NOW, SCRT_START
from trialsite.models import Participant


def test_bulk_creation_matches_the_single_service(make_randomized: Any, nurse: Any) -> None:
    single, bulk_a, bulk_b, withdrawn = (make_randomized() for _ in range(4))
    treatment_plan_create(participant=single, scrt_start_date=SCRT_START, by=nurse, now=NOW)
    Participant.objects.filter(pk=withdrawn.pk).update(status="withdrawn")

    created, refused = treatment_plans_create_bulk(
        starts={bulk_a.pk: SCRT_START, bulk_b.pk: D(2026, 9, 28), withdrawn.pk: SCRT_START, single.pk: SCRT_START},
        now=NOW,
        by=nurse,
    )

    assert created == 1
    assert set(refused) == {bulk_b.pk} and "2026-10-08" in refused[bulk_b.pk]
    fields = (
        "kind",
        "phase",
        "number",
        "order",
        "target_date",
        "window_start",
        "window_end",
        "planned_date",
        "details",
    )
    rows = lambda p: list(ScheduledEvent.objects.filter(participant=p).order_by("order").values_list(*fields))  # noqa: E731
    assert rows(bulk_a) == rows(single)
    events = ScheduledEvent.objects.filter(participant=bulk_a)
    assert len({e.uid for e in events}) == 37
    assert ScheduledEvent.history.filter(participant_id=bulk_a.pk, history_type="+").count() == 37
    assert ScheduledEvent.history.filter(participant_id=bulk_a.pk).first().history_user == nurse
    # The inserted rows behave like any other: a booking and a delay work on them.
    c1 = events.get(kind="cycle_day1", phase="neoadjuvant", number=1)
    event_delay(event=c1, reason="holiday", by=nurse, now=NOW)
    assert selectors.cycle_visits(participant_ids=[bulk_a.pk])[0].day1 > c1.planned_date
