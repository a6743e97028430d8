"""The pure reminder maths: send times in the site's zone, which reminders exist, the diff, backoff."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reminders import planning as r

NINE = dt.time(9, 0)
NOW = dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)
ALL = r.Recipient(active=True, sms=True, email=True)


def rule(id: int = 1, *, kind: str = "cycle_day1", days: int = -1, **kw: object) -> r.Rule:
    return r.Rule(id=id, event_kind=kind, days_from_event=days, time_of_day=NINE, **kw)  # type: ignore[arg-type]


def event(id: int = 10, *, kind: str = "cycle_day1", day: dt.date = dt.date(2026, 3, 10), **kw: object) -> r.Event:
    return r.Event(id=id, kind=kind, number=kw.pop("number", 1), date=day, status=kw.pop("status", "planned"), **kw)  # type: ignore[arg-type]


# Asia/Shanghai is UTC+8 without DST since 1991 (IANA tzdata, asia file); Europe/London is UTC+0
# in winter and UTC+1 from 29 March 2026 (EU summer time, last Sunday of March).
@pytest.mark.parametrize(
    ("day", "zone", "expected_utc"),
    [
        (dt.date(2026, 3, 9), "Asia/Shanghai", dt.datetime(2026, 3, 9, 1, 0, tzinfo=dt.UTC)),
        (dt.date(2026, 1, 1), "Asia/Shanghai", dt.datetime(2026, 1, 1, 1, 0, tzinfo=dt.UTC)),
        (dt.date(2026, 3, 28), "Europe/London", dt.datetime(2026, 3, 28, 9, 0, tzinfo=dt.UTC)),
        (dt.date(2026, 3, 30), "Europe/London", dt.datetime(2026, 3, 30, 8, 0, tzinfo=dt.UTC)),
        (dt.date(2026, 3, 9), "Asia/Urumqi", dt.datetime(2026, 3, 9, 3, 0, tzinfo=dt.UTC)),
    ],
)
def test_nine_oclock_is_the_sites_nine_oclock(day: dt.date, zone: str, expected_utc: dt.datetime) -> None:
    assert r.local_moment(day, NINE, zone) == expected_utc


def test_the_servers_time_zone_does_not_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a server clock in New York
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        # then 09:00 in Shanghai is still 01:00 UTC
        assert r.local_moment(dt.date(2026, 3, 9), NINE, "Asia/Shanghai") == dt.datetime(
            2026, 3, 9, 1, 0, tzinfo=dt.UTC
        )
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert "TZ" not in os.environ


def test_three_and_one_day_before_and_capecitabine_day_15() -> None:
    rules = [
        rule(1, days=-3),
        rule(2, days=-1),
        r.Rule(id=3, event_kind="cycle_day1", days_from_event=14, time_of_day=dt.time(8, 0), oral_drug="capecitabine"),
    ]
    day1 = event(details={"oral": [{"drug": "capecitabine", "from": "2026-03-10", "to": "2026-03-23"}]})

    out = r.desired_reminders(events=[day1], rules=rules, recipient=ALL, time_zone="Asia/Shanghai", now=NOW)

    by_rule = {(d.rule_id, d.channel): d.send_at for d in out}
    assert len(out) == 6  # 3 rules × 2 channels
    assert by_rule[(1, "sms")] == dt.datetime(2026, 3, 7, 1, 0, tzinfo=dt.UTC)
    assert by_rule[(2, "email")] == dt.datetime(2026, 3, 9, 1, 0, tzinfo=dt.UTC)
    # Day 15 = day 1 + 14 days: capecitabine is taken from the evening of day 1 to the morning of day 15.
    assert by_rule[(3, "sms")] == dt.datetime(2026, 3, 24, 0, 0, tzinfo=dt.UTC)


def test_capecitabine_rule_skips_cycles_without_it() -> None:
    cap = r.Rule(id=3, event_kind="cycle_day1", days_from_event=14, time_of_day=NINE, oral_drug="capecitabine")
    assert r.desired_reminders(events=[event()], rules=[cap], recipient=ALL, time_zone="Asia/Shanghai", now=NOW) == []


def test_scrt_start_is_fraction_one_only() -> None:
    scrt = rule(kind="fraction", event_number=1)
    events = [event(1, kind="fraction", number=1), event(2, kind="fraction", number=2)]
    out = r.desired_reminders(events=events, rules=[scrt], recipient=ALL, time_zone="Asia/Shanghai", now=NOW)
    assert {d.event_id for d in out} == {1}


@pytest.mark.parametrize(
    ("recipient", "rule_channel", "channels"),
    [
        (r.Recipient(active=True, sms=True, email=False), r.PREFERRED, {"sms"}),
        (r.Recipient(active=True, sms=False, email=True), r.PREFERRED, {"email"}),
        (r.Recipient(active=True, sms=False, email=False), r.PREFERRED, set()),
        (r.Recipient(active=True, sms=True, email=True), "email", {"email"}),
        (r.Recipient(active=True, sms=True, email=False), "email", set()),  # opted out: never forced
        (r.Recipient(active=False, sms=True, email=True), r.PREFERRED, set()),  # withdrawn
    ],
)
def test_channels_follow_the_participants_choice(recipient: r.Recipient, rule_channel: str, channels: set[str]) -> None:
    out = r.desired_reminders(
        events=[event()], rules=[rule(channel=rule_channel)], recipient=recipient, time_zone="Asia/Shanghai", now=NOW
    )
    assert {d.channel for d in out} == channels


def test_cancelled_events_get_nothing_and_past_moments_beyond_grace_are_skipped() -> None:
    now = dt.datetime(2026, 3, 9, 6, 59, tzinfo=dt.UTC)  # 14:59 in Shanghai, grace 6 h after 09:00
    rules = [rule(1, days=-1), rule(2, days=-3)]
    out = r.desired_reminders(
        events=[event(), event(11, status="cancelled")], rules=rules, recipient=ALL, time_zone="Asia/Shanghai", now=now
    )
    assert {(d.event_id, d.rule_id) for d in out} == {(10, 1)}
    later = r.desired_reminders(
        events=[event()], rules=rules, recipient=ALL, time_zone="Asia/Shanghai", now=now + dt.timedelta(minutes=1)
    )
    assert later == []


def test_spring_festival_2026_reminders_land_on_calendar_days_before_the_visit() -> None:
    # 国务院办公厅 notice on the 2026 holidays: Spring Festival off 15–23 February, make-up
    # working days Saturday 14 and Saturday 28 February. A day-1 visit on Tuesday 24 February
    # (first working day after) is reminded on Saturday 21 and Monday 23 February, 09:00 Beijing.
    out = r.desired_reminders(
        events=[event(day=dt.date(2026, 2, 24))],
        rules=[rule(1, days=-3), rule(2, days=-1)],
        recipient=r.Recipient(active=True, sms=True, email=False),
        time_zone="Asia/Shanghai",
        now=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )
    assert sorted(d.send_at for d in out) == [
        dt.datetime(2026, 2, 21, 1, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 2, 23, 1, 0, tzinfo=dt.UTC),
    ]


def _existing(d: r.Desired, id: int, status: str = "pending") -> r.Existing:
    return r.Existing(id, d.event_id, d.rule_id, d.channel, d.event_date, status, d.send_at)


def test_a_moved_visit_cancels_pending_rows_and_creates_new_ones() -> None:
    kw = dict(rules=[rule()], recipient=r.Recipient(active=True, sms=True, email=False), time_zone="Asia/Shanghai")
    before = r.desired_reminders(events=[event(day=dt.date(2026, 3, 10))], now=NOW, **kw)  # type: ignore[arg-type]
    after = r.desired_reminders(events=[event(day=dt.date(2026, 3, 12))], now=NOW, **kw)  # type: ignore[arg-type]

    changes = r.plan_changes(desired=after, existing=[_existing(before[0], 7)])

    assert changes.cancel == [7]
    assert [d.event_date for d in changes.create] == [dt.date(2026, 3, 12)]


def test_sent_rows_are_never_made_again_nor_cancelled() -> None:
    desired = r.desired_reminders(events=[event()], rules=[rule()], recipient=ALL, time_zone="Asia/Shanghai", now=NOW)
    existing = [_existing(d, i, "sent") for i, d in enumerate(desired)]
    assert r.plan_changes(desired=desired, existing=existing) == r.Changes([], [], [])
    assert r.plan_changes(desired=[], existing=existing) == r.Changes([], [], [])


def test_a_rule_moved_to_another_hour_retimes_pending_rows() -> None:
    old = r.desired_reminders(events=[event()], rules=[rule()], recipient=ALL, time_zone="Asia/Shanghai", now=NOW)
    new_rule = r.Rule(id=1, event_kind="cycle_day1", days_from_event=-1, time_of_day=dt.time(10, 0))
    new = r.desired_reminders(events=[event()], rules=[new_rule], recipient=ALL, time_zone="Asia/Shanghai", now=NOW)
    changes = r.plan_changes(desired=new, existing=[_existing(d, i) for i, d in enumerate(old)])
    assert changes.create == [] and changes.cancel == []
    assert [(i, d.send_at.hour) for i, d in changes.retime] == [(0, 2), (1, 2)]


@pytest.mark.parametrize(
    ("attempt", "seconds"), [(0, 0), (1, 60), (2, 120), (3, 240), (6, 1920), (7, 3600), (30, 3600)]
)
def test_backoff_doubles_up_to_a_cap(attempt: int, seconds: int) -> None:
    assert r.backoff(attempt) == dt.timedelta(seconds=seconds)


@given(
    days=st.lists(st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2027, 12, 31)), min_size=1, max_size=5),
    moved=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2027, 12, 31)),
)
def test_diff_then_apply_reaches_the_desired_set(days: list[dt.date], moved: dt.date) -> None:
    rules = [rule(1, days=-3), rule(2, days=-1)]
    events = [event(i, day=d) for i, d in enumerate(days)]
    first = r.desired_reminders(events=events, rules=rules, recipient=ALL, time_zone="Asia/Shanghai", now=NOW)
    rows = {i: _existing(d, i) for i, d in enumerate(first)}
    events[0] = event(0, day=moved)
    second = r.desired_reminders(events=events, rules=rules, recipient=ALL, time_zone="Asia/Shanghai", now=NOW)

    changes = r.plan_changes(desired=second, existing=rows.values())

    live = {k: e for k, e in rows.items() if k not in changes.cancel}
    keys = {e.key for e in live.values()} | {d.key for d in changes.create}
    assert keys == {d.key for d in second}
    assert len(keys) == len(live) + len(changes.create)  # nothing made twice
