"""Calendars out: the schedule JSON's fixed query count, and the iCalendar feeds parsed with a
real iCalendar parser (the `icalendar` package)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine

from schedules.models import ScheduledEvent, TreatmentPlan
from schedules.services.bookings import booking_cancel, booking_create
from tests.schedules.conftest import NOW

D = dt.date


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _parse(body: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(body)


def _c1(plan: TreatmentPlan) -> ScheduledEvent:
    return ScheduledEvent.objects.get(plan=plan, kind="cycle_day1", phase="neoadjuvant", number=1)


def test_participant_ics_is_valid_with_stable_uids_and_sequence(
    plan: TreatmentPlan, api: Any, nurse: Any, api_client_user: Any
) -> None:
    url = f"/api/v1/participants/{plan.participant_id}/schedule.ics"
    first = api(api_client_user).get(url, HTTP_ACCEPT="text/calendar")
    assert first.status_code == 200 and first["Content-Type"].startswith("text/calendar")
    cal = _parse(first.content)
    assert cal["VERSION"] == "2.0" and cal["PRODID"]
    # Only all-day events so far: no VTIMEZONE needed yet.
    assert not cal.walk("VTIMEZONE")
    events = cal.walk("VEVENT")
    assert len(events) == 37
    assert len({str(e["UID"]) for e in events}) == 37
    c1 = _c1(plan)
    before = next(e for e in events if str(e["UID"]) == f"{c1.uid}@trialsite")
    assert before.decoded("DTSTART") == c1.planned_date and int(before["SEQUENCE"]) == 0
    assert str(before["STATUS"]) == "TENTATIVE"

    # when the visit is booked at 08:30 on another day
    booking_create(event=c1, date=D(2026, 3, 19), time=dt.time(8, 30), by=api_client_user, today=NOW.date())
    after = _parse(api(api_client_user).get(url).content)
    moved = next(e for e in after.walk("VEVENT") if str(e["UID"]) == f"{c1.uid}@trialsite")
    # then the same UID comes back with a higher SEQUENCE and a Shanghai-time start
    assert int(moved["SEQUENCE"]) > int(before["SEQUENCE"])
    start = moved.decoded("DTSTART")
    assert start == dt.datetime(2026, 3, 19, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert moved["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert "Asia/Shanghai" in [str(tz["TZID"]) for tz in after.walk("VTIMEZONE")]
    assert str(moved["STATUS"]) == "CONFIRMED"
    assert len(after.walk("VEVENT")) == 37


def test_schedule_query_count_does_not_grow_with_events(
    plan: TreatmentPlan, api: Any, api_client_user: Any, django_assert_max_num_queries: Any
) -> None:
    client = api(api_client_user)
    c1 = _c1(plan)
    booking_create(event=c1, date=c1.planned_date, time=dt.time(9), by=api_client_user, today=NOW.date())
    url = f"/api/v1/participants/{plan.participant_id}/schedule/"
    # 37 events, one of them booked: a fixed number of queries (auth, roles, sites, participant,
    # plan, events, bookings), not one per event.
    with django_assert_max_num_queries(8):
        response = client.get(url)
    assert response.status_code == 200 and len(response.json()["events"]) == 37
    with django_assert_max_num_queries(8):
        assert client.get(f"/api/v1/participants/{plan.participant_id}/schedule.ics").status_code == 200


def test_site_feed_behind_a_revocable_secret_url(
    plan: TreatmentPlan, api: Any, nurse: Any, other_nurse: Any, api_client_user: Any
) -> None:
    client = api(nurse)
    assert api(api_client_user).post("/api/v1/calendar-feeds/").status_code == 403
    created = client.post("/api/v1/calendar-feeds/")
    assert created.status_code == 201
    url = created.json()["url"]
    anonymous = api(None)
    feed = anonymous.get(url)
    assert feed.status_code == 200
    cal = _parse(feed.content)
    summaries = [str(e["SUMMARY"]) for e in cal.walk("VEVENT")]
    assert summaries and all(s.startswith(plan.participant.screening_number) for s in summaries)
    # One site's feed: ?site=CODE (a site the owner does not belong to gives an empty feed).
    assert _parse(anonymous.get(url + "?site=ZJU1").content).walk("VEVENT")
    assert not _parse(anonymous.get(url + "?site=NBH2").content).walk("VEVENT")
    # Another site's nurse sees nothing of this site.
    other_url = api(other_nurse).post("/api/v1/calendar-feeds/").json()["url"]
    other_feed = anonymous.get(other_url)
    assert other_feed.status_code == 200 and not _parse(other_feed.content).walk("VEVENT")
    # Revoked: gone.
    assert client.delete(f"/api/v1/calendar-feeds/{created.json()['id']}/").status_code == 204
    assert anonymous.get(url).status_code == 401
    assert anonymous.get("/api/v1/calendar-feeds/not-a-key.ics").status_code == 401


def test_cancelled_events_stay_in_the_feed_as_cancelled(plan: TreatmentPlan, api: Any, nurse: Any) -> None:
    from trialsite import services as registry

    registry.participant_withdraw(participant=plan.participant, reason="death", by=nurse, now=NOW)
    cal = _parse(api(nurse).get(f"/api/v1/participants/{plan.participant_id}/schedule.ics").content)
    statuses = {str(e["STATUS"]) for e in cal.walk("VEVENT")}
    assert statuses == {"CANCELLED"}
    assert all(int(e["SEQUENCE"]) >= 1 for e in cal.walk("VEVENT"))


def _staff_feed_url(api: Any, user: Any) -> str:
    return str(api(user).post("/api/v1/calendar-feeds/").json()["url"])


def test_staff_feed_is_rendered_once_per_change_and_answers_304_when_unchanged(
    plan: TreatmentPlan, api: Any, nurse: Any, django_assert_max_num_queries: Any
) -> None:
    from django.core.cache import cache

    cache.clear()
    url = _staff_feed_url(api, nurse)
    anonymous = api(None)
    first = anonymous.get(url)
    assert first.status_code == 200 and first["ETag"].startswith('"')
    etag = first["ETag"]
    # A polling calendar app that sends the ETag back gets 304 and no body, for a fixed handful
    # of queries (feed key, sites, profile, one aggregate over the window): nothing per event.
    with django_assert_max_num_queries(4):
        again = anonymous.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    # One without the ETag gets the cached rendering, also without loading the events.
    with django_assert_max_num_queries(4):
        cached = anonymous.get(url)
    assert cached.status_code == 200 and cached.content == first.content

    # when a visit is booked at a time
    c1 = _c1(plan)
    booking_create(event=c1, date=c1.planned_date, time=dt.time(8, 30), by=nurse, today=NOW.date())
    # then the old ETag no longer matches, and the new rendering shows the booking (never stale)
    changed = anonymous.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    booked = next(e for e in _parse(changed.content).walk("VEVENT") if str(e["UID"]) == f"{c1.uid}@trialsite")
    assert booked.decoded("DTSTART") == dt.datetime.combine(c1.planned_date, dt.time(8, 30), ZoneInfo("Asia/Shanghai"))

    # and a cancelled booking changes it again (a change that only raises SEQUENCE counts too)
    booking = c1.bookings.get(status="active")
    booking_cancel(booking=booking, reason="patient asked", by=nurse, now=NOW)
    assert anonymous.get(url, HTTP_IF_NONE_MATCH=changed["ETag"]).status_code == 200


def test_staff_feed_covers_a_bounded_window(plan: TreatmentPlan, api: Any, nurse: Any, settings: Any) -> None:
    from django.core.cache import cache

    cache.clear()
    settings.FEED_PAST_DAYS = 0
    settings.FEED_FUTURE_DAYS = 30
    url = _staff_feed_url(api, nurse)
    days = [e.decoded("DTSTART") for e in _parse(api(None).get(url).content).walk("VEVENT")]
    planned = list(ScheduledEvent.objects.filter(plan=plan).values_list("planned_date", flat=True))
    # The plan runs for months; the feed holds only the events planned in the next 30 days.
    assert max(planned) > NOW.date() + dt.timedelta(days=30)
    expected = [d for d in planned if NOW.date() <= d <= NOW.date() + dt.timedelta(days=30)]
    assert expected and len(days) == len(expected)
    assert all(NOW.date() <= d <= NOW.date() + dt.timedelta(days=30) for d in days)


def test_staff_feed_is_bounded_in_events_by_whole_days(
    plan: TreatmentPlan, api: Any, nurse: Any, settings: Any
) -> None:
    """At most FEED_MAX_EVENTS events, the nearest days first and never half a day; the cut is
    said in the calendar's description and the X-Feed-Last-Day header."""
    from django.core.cache import cache

    cache.clear()
    settings.FEED_PAST_DAYS = 0
    settings.FEED_FUTURE_DAYS = 3000
    in_window = sorted(
        ScheduledEvent.objects.filter(plan=plan, planned_date__gte=NOW.date()).values_list("planned_date", flat=True)
    )
    settings.FEED_MAX_EVENTS = 5
    # The whole days that fit in 5 events.
    cut = in_window[5]
    expected = [d for d in in_window if d < cut]
    assert 0 < len(expected) <= 5
    url = _staff_feed_url(api, nurse)
    response = api(None).get(url)
    cal = _parse(response.content)
    days = sorted(e.decoded("DTSTART") for e in cal.walk("VEVENT"))
    days = [d.date() if isinstance(d, dt.datetime) else d for d in days]
    assert days == expected
    assert response["X-Feed-Last-Day"] == (cut - dt.timedelta(days=1)).isoformat()
    assert "?site=" in str(cal.get("X-WR-CALDESC"))
    # A bound that holds the whole window cuts nothing and says nothing.
    settings.FEED_MAX_EVENTS = 100_000
    whole = api(None).get(url)
    assert len(_parse(whole.content).walk("VEVENT")) == len(in_window)
    assert _parse(whole.content).get("X-WR-CALDESC") is None
