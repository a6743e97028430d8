"""A reminder rule's change re-computes the trial's reminders in a background job, not in the
request (issue 16: at 10,000 participants one save was 48,033 statements / 29.9 s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reminders import services as reminder_services
from reminders.jobs import REMINDERS_RESYNC
from reminders.models import Reminder, ReminderRule
from schedules.services.plans import treatment_plan_create
from tests.schedules.conftest import NOW, SCRT_START
from trialsite import jobs
from trialsite.models import JobStatus, Participant, TrialJob


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _plans(make_randomized: Callable[..., Participant], nurse: Any, n: int) -> list[Participant]:
    people = [make_randomized() for _ in range(n)]
    for p in people:
        treatment_plan_create(participant=p, scrt_start_date=SCRT_START, by=nurse, now=NOW)
    return people


def _save_queries(trial: Any, investigator: Any) -> tuple[int, TrialJob]:
    rule = ReminderRule.objects.filter(trial=trial).order_by("pk").first()
    assert rule is not None
    rule.active = not rule.active
    with CaptureQueriesContext(connection) as queries:
        saved = reminder_services.reminder_rule_save(rule=rule, by=investigator, now=NOW)
    return len(queries.captured_queries), saved.job


def test_saving_a_rule_costs_the_same_whatever_the_number_of_participants(
    make_randomized: Callable[..., Participant], nurse: Any, investigator: Any
) -> None:
    first = _plans(make_randomized, nurse, 1)
    trial = first[0].trial
    _save_queries(trial, investigator)  # the first save also reads the role's permissions once
    few, job = _save_queries(trial, investigator)
    assert job.kind == REMINDERS_RESYNC and job.status == JobStatus.QUEUED
    _plans(make_randomized, nurse, 4)
    many, _job = _save_queries(trial, investigator)
    assert many == few <= 16


def test_the_job_applies_the_change_to_every_participant(
    make_randomized: Callable[..., Participant], nurse: Any, investigator: Any
) -> None:
    people = _plans(make_randomized, nurse, 3)
    rule = ReminderRule.objects.get(trial=people[0].trial, name="cycle day 1, 3 days before")
    assert Reminder.objects.filter(rule=rule, status="pending").count() >= 3
    rule.active = False
    saved = reminder_services.reminder_rule_save(rule=rule, by=investigator, now=NOW)
    # Nothing changed in the request itself ...
    assert Reminder.objects.filter(rule=rule, status="pending").count() >= 3
    # ... the job does it, one participant at a time, and says how far it got.
    assert jobs.job_run(saved.job.pk, clock_now=lambda: NOW) is True
    saved.job.refresh_from_db()
    assert (saved.job.status, saved.job.total, saved.job.done) == (JobStatus.DONE, 3, 3)
    assert not Reminder.objects.filter(rule=rule, status="pending").exists()


def test_the_admin_says_the_reminders_are_being_recomputed_and_links_the_job(
    make_randomized: Callable[..., Participant], nurse: Any, investigator: Any
) -> None:
    people = _plans(make_randomized, nurse, 1)
    rule = ReminderRule.objects.filter(trial=people[0].trial).order_by("pk").first()
    assert rule is not None
    client = Client()
    client.force_login(investigator)
    page = client.get(f"/admin/reminders/reminderrule/{rule.pk}/change/")
    assert page.status_code == 200
    form = {k: v for k, v in page.context["adminform"].form.initial.items() if v is not None}
    form.update(
        {"active": "", "days_from_event": str(rule.days_from_event), "time_of_day": rule.time_of_day.strftime("%H:%M")}
    )
    answer = client.post(f"/admin/reminders/reminderrule/{rule.pk}/change/", form, follow=True)
    job = TrialJob.objects.filter(kind=REMINDERS_RESYNC).latest("pk")
    assert f"/admin/trialsite/trialjob/{job.pk}/change/" in answer.content.decode()
