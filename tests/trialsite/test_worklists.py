"""The landing page's worklists (issue 14, "Finding one's way"): a research nurse's and a
pharmacist's sections, scoped to their sites, with `today` passed in and a bounded number of
queries; the registry that lets a feature add a section; the site calendar's month view."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from dosing import services as dosing
from dosing.models import DoseSheet
from schedules.models import EventKind, ScheduledEvent
from schedules.services.bookings import booking_create
from schedules.services.plans import treatment_plan_create
from tests.dosing.conftest import record_inputs
from tests.factories import ParticipantFactory, record_labs
from tests.schedules.conftest import SCRT_START, randomize
from tests.support.signatures import signed
from trialsite import roles, worklists
from trialsite.models import Participant, Site, Trial

NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Shanghai


def _planned(trial: Trial, site: Site, nurse: User | None, *, number: int | None = None) -> Participant:
    participant = randomize(ParticipantFactory(trial=trial, site=site), number=number)
    treatment_plan_create(participant=participant, scrt_start_date=SCRT_START, by=nurse, now=NOW)
    return participant


def _keys(rows: worklists.Rows) -> list[int]:
    return [row.pk for row in rows.items]


def _section(user: User, key: str, today: dt.date) -> worklists.Rows:
    return {s.key: rows for s, rows in worklists.build(user, today=today)}[key]


def test_a_nurse_gets_the_nurse_sections_and_a_pharmacist_the_pharmacy_ones(
    nurse: User, pharmacist: User, statistician: User
) -> None:
    nurse_keys = [s.key for s in worklists.sections_for(nurse)]
    assert nurse_keys == ["visits", "windows_closing", "waiting_screening", "waiting_randomization", "overdue_labs"]
    assert [s.key for s in worklists.sections_for(pharmacist)] == [
        "sheets_to_verify",
        "sheets_to_release",
        "sheets_blocked",
    ]
    assert worklists.sections_for(statistician) == []


def test_a_feature_adds_a_section_without_editing_the_page(nurse: User, client: Client) -> None:
    # given a section registered by some later feature (an adverse-event log)
    section = worklists.Section(
        key="test_adverse_events",
        title="Adverse events to review",  # type: ignore[arg-type]
        roles=frozenset({roles.RESEARCH_NURSE}),
        selector=lambda scope: worklists.Rows(items=[], total=0),
        template="admin/worklists/events.html",
        order=5,
    )
    worklists.register(section)
    try:
        client.force_login(nurse)
        # then the nurse's landing page shows it, first
        body = client.get("/admin/").content.decode()
        assert 'id="worklist-test_adverse_events"' in body
        assert body.index("worklist-test_adverse_events") < body.index("worklist-visits")
    finally:
        worklists._REGISTRY.pop("test_adverse_events")


def test_visits_today_and_tomorrow_at_the_nurses_sites_only(
    trial: Trial, site: Site, other_site: Site, nurse: User
) -> None:
    mine = _planned(trial, site, nurse)
    theirs = _planned(trial, other_site, None)
    # SCRT fractions 1 and 2 are on 4 and 5 March (SCRT_START is a Wednesday)
    rows = _section(nurse, "visits", SCRT_START)
    events = ScheduledEvent.objects.filter(
        participant=mine, planned_date__in=[SCRT_START, SCRT_START + dt.timedelta(1)]
    )
    assert sorted(_keys(rows)) == sorted(events.values_list("pk", flat=True))
    assert rows.total == 2
    assert all(e.participant_id == mine.pk for e in rows.items)
    assert not any(e.participant_id == theirs.pk for e in rows.items)
    # a day later the first fraction is yesterday's
    assert len(_section(nurse, "visits", SCRT_START + dt.timedelta(1)).items) == 2
    assert _section(nurse, "visits", dt.date(2026, 1, 1)).total == 0


def test_a_booked_cycle_leaves_the_closing_windows_list(trial: Trial, site: Site, nurse: User) -> None:
    participant = _planned(trial, site, nurse)
    cycle1 = ScheduledEvent.objects.get(
        participant=participant, kind=EventKind.CYCLE_DAY1, number=1, phase="neoadjuvant"
    )
    today = min(cycle1.planned_date, cycle1.window_end - dt.timedelta(days=5))
    assert cycle1.pk in _keys(_section(nurse, "windows_closing", today))
    # a window closing in 8 days is not listed yet
    assert cycle1.pk not in _keys(_section(nurse, "windows_closing", cycle1.window_end - dt.timedelta(days=8)))
    with time_machine.travel(dt.datetime.combine(today, dt.time(2, 0), tzinfo=dt.UTC), tick=False):
        booking_create(event=cycle1, date=cycle1.planned_date, time=dt.time(9, 0), by=nurse, today=today)
    assert cycle1.pk not in _keys(_section(nurse, "windows_closing", today))


def test_pre_cycle_labs_are_overdue_once_their_planned_date_passed_without_a_result(
    trial: Trial, site: Site, nurse: User
) -> None:
    participant = _planned(trial, site, nurse)
    labs = ScheduledEvent.objects.get(
        participant=participant, kind=EventKind.PRE_CYCLE_LABS, number=1, phase="neoadjuvant"
    )
    # on the planned date they are not overdue yet; the day after they are
    assert labs.pk not in _keys(_section(nurse, "overdue_labs", labs.planned_date))
    after = labs.planned_date + dt.timedelta(days=1)
    assert labs.pk in _keys(_section(nurse, "overdue_labs", after))
    # a result collected in the labs' window takes them off the list
    record_labs(participant, {"anc": "2.0"}, on=labs.window_start)
    assert labs.pk not in _keys(_section(nurse, "overdue_labs", after))


def test_participants_waiting_for_screening_or_randomization(
    trial: Trial, site: Site, other_site: Site, nurse: User, today: dt.date
) -> None:
    screening = ParticipantFactory(trial=trial, site=site)
    eligible = ParticipantFactory(trial=trial, site=site, status="eligible")
    ParticipantFactory(trial=trial, site=site, status="withdrawn")
    ParticipantFactory(trial=trial, site=other_site, status="eligible")
    assert _keys(_section(nurse, "waiting_screening", today)) == [screening.pk]
    assert _keys(_section(nurse, "waiting_randomization", today)) == [eligible.pk]


def _sheet(trial: Trial, site: Site, *, platelets: str = "150", number: int = 1) -> DoseSheet:
    participant = randomize(ParticipantFactory(trial=trial, site=site), number=number)
    record_inputs(participant, platelets=platelets)
    return dosing.dose_sheet_prepare(
        participant=participant, phase="neoadjuvant", cycle_number=1, day1=dt.date(2026, 3, 5), now=NOW, by=None
    )


def test_the_pharmacists_sheets_to_verify_release_and_blocked_with_why(
    trial: Trial, site: Site, pharmacist: User, pharmacist2: User, today: dt.date
) -> None:
    with time_machine.travel(NOW, tick=False):
        ready = _sheet(trial, site, number=1)
        verified = _sheet(trial, site, number=2)
        stuck = _sheet(trial, site, platelets="90", number=3)
        dosing.dose_sheet_verify(
            sheet=verified, by=pharmacist, now=NOW, signature=signed(pharmacist, "verify_sheet", at=NOW)
        )
    assert _keys(_section(pharmacist, "sheets_to_verify", today)) == [ready.pk]
    # the two-person rule: the pharmacist who verified is not asked to release
    assert _keys(_section(pharmacist, "sheets_to_release", today)) == []
    assert _keys(_section(pharmacist2, "sheets_to_release", today)) == [verified.pk]
    blocked = _section(pharmacist, "sheets_blocked", today)
    assert _keys(blocked) == [stuck.pk]
    assert blocked.items[0].why == ["Day-1 criteria not met: delay the cycle (no release)."]


def test_a_pharmacist_sees_only_the_sheets_of_their_sites(
    trial: Trial, site: Site, other_site: Site, make_user: Any, today: dt.date
) -> None:
    with time_machine.travel(NOW, tick=False):
        _sheet(trial, other_site)
    only_here = make_user(roles.PHARMACIST, [site])
    assert _section(only_here, "sheets_to_verify", today).total == 0


@pytest.mark.slow
def test_the_landing_pages_make_a_bounded_number_of_queries(
    trial: Trial, site: Site, nurse: User, pharmacist: User, django_assert_max_num_queries: Any
) -> None:
    # given many participants with plans, labs due and sheets (a busy site)
    with time_machine.travel(NOW, tick=False):
        for n in range(1, 7):
            _planned(trial, site, nurse, number=n)
        for n in range(11, 15):
            _sheet(trial, site, number=n, platelets="90" if n % 2 else "150")
    client = Client()
    for user in (nurse, pharmacist):
        client.force_login(user)
        # then the page costs the same handful of queries as with one row (no query per row)
        moment = dt.datetime.combine(SCRT_START, dt.time(2, 0), tzinfo=dt.UTC)
        with time_machine.travel(moment, tick=False), django_assert_max_num_queries(25):
            response = client.get("/admin/")
        assert response.status_code == 200
        assert 'id="worklist"' in response.content.decode()


def test_the_nurses_landing_page_links_to_the_site_calendar(nurse: User, client: Client) -> None:
    client.force_login(nurse)
    body = client.get("/admin/").content.decode()
    calendar = reverse("admin:schedules_site_calendar")
    assert f'href="{calendar}?view=month"' in body and f'href="{calendar}?view=week"' in body


def test_the_site_calendar_has_a_month_view(
    trial: Trial, site: Site, nurse: User, client: Client, django_assert_max_num_queries: Any
) -> None:
    participant = _planned(trial, site, nurse)
    fraction1 = ScheduledEvent.objects.get(participant=participant, kind=EventKind.SCRT_FRACTION, number=1)
    with time_machine.travel(NOW, tick=False):
        booking_create(event=fraction1, date=fraction1.planned_date, time=dt.time(9, 0), by=nurse, today=NOW.date())
    client.force_login(nurse)
    url = reverse("admin:schedules_site_calendar") + "?site=ZJU1&date=2026-03-17&view=month"
    with time_machine.travel(NOW, tick=False), django_assert_max_num_queries(20):
        response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="site-month"' in body
    # March 2026 from Monday 23 February to Sunday 5 April: 6 weeks of 7 days
    assert body.count('class="day-number"') == 42
    assert "1 booked" in body  # 4 March: fraction 1
    assert "date=2026-04-01&amp;view=month" in body or "date=2026-04-01&view=month" in body


def test_a_section_reads_its_rows_and_total_in_one_query_however_many_there_are(
    trial: Trial, site: Site, nurse: User, django_assert_num_queries: Any
) -> None:
    # given a few participants waiting for screening, then more than a section shows (issue 16:
    # a COUNT only when the list overflowed made the landing page's query count grow)
    ParticipantFactory.create_batch(3, trial=trial, site=site)
    scope = worklists.scope_for(nurse, today=NOW.date())
    with django_assert_num_queries(1):
        few = worklists.waiting_for_screening(scope)
    ParticipantFactory.create_batch(worklists.LIMIT + 5, trial=trial, site=site)
    with django_assert_num_queries(1):
        many = worklists.waiting_for_screening(scope)
    # then the total is every row and the list the first LIMIT
    assert (len(few.items), few.total) == (3, 3)
    assert (len(many.items), many.total) == (worklists.LIMIT, worklists.LIMIT + 8)
