"""iCalendar (RFC 5545) output of treatment calendars, without Django.

Each event keeps its UID for life (the ScheduledEvent's UUID) and its SEQUENCE grows whenever it
moves, so calendar clients update the event in place instead of adding a copy (RFC 5545
§3.8.4.7, §3.8.7.4). Booked visits have a time in the site's zone (with its VTIMEZONE);
unbooked ones are all-day events on the planned date, marked TENTATIVE."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import icalendar

PRODID = "-//TrialSite//Treatment calendar//EN"
UID_DOMAIN = "trialsite"
# How long a booked visit blocks in the calendar: an oxaliplatin (2 h) ± serplulimab infusion
# day with pre-medication and observation; other visits one hour.
DURATIONS = {"cycle_day1": dt.timedelta(hours=4)}
DEFAULT_DURATION = dt.timedelta(hours=1)
STATUS = {"planned": "TENTATIVE", "booked": "CONFIRMED", "done": "CONFIRMED", "cancelled": "CANCELLED"}


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    sequence: int
    kind: str
    status: str
    summary: str
    description: str
    day: dt.date
    time: dt.time | None  # booked time, local to `time_zone`
    time_zone: str
    location: str
    last_modified: dt.datetime


def event_uid(uuid: str) -> str:
    return f"{uuid}@{UID_DOMAIN}"


def render(
    events: Iterable[FeedEvent],
    *,
    name: str,
    now: dt.datetime,
    time_zone: str = "Asia/Shanghai",
    description: str = "",
) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", time_zone)
    if description:
        cal.add("x-wr-caldesc", description)
    for item in events:
        ev = icalendar.Event()
        ev.add("uid", event_uid(item.uid))
        ev.add("sequence", item.sequence)
        ev.add("dtstamp", now.astimezone(dt.UTC))
        ev.add("last-modified", item.last_modified.astimezone(dt.UTC))
        ev.add("summary", item.summary)
        if item.description:
            ev.add("description", item.description)
        if item.location:
            ev.add("location", item.location)
        ev.add("categories", [item.kind])
        ev.add("status", STATUS.get(item.status, "TENTATIVE"))
        if item.time is not None:
            start = dt.datetime.combine(item.day, item.time, tzinfo=ZoneInfo(item.time_zone))
            ev.add("dtstart", start)
            ev.add("dtend", start + DURATIONS.get(item.kind, DEFAULT_DURATION))
            ev.add("transp", "OPAQUE")
        else:
            ev.add("dtstart", item.day)
            ev.add("dtend", item.day + dt.timedelta(days=1))
            ev.add("transp", "TRANSPARENT")
        cal.add_component(ev)
    # VTIMEZONE components for every TZID used (RFC 5545 §3.6.5).
    cal.add_missing_timezones()
    return bytes(cal.to_ical())
