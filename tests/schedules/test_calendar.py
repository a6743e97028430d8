"""The Django-free calendar: working days on real Chinese holiday dates, SCRT start rules and
the plan's date arithmetic."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules import calendar as cal_
from schedules.calendar import (
    CYCLE_DAY1,
    FOLLOW_UP,
    FRACTION,
    LABS,
    RESTAGING,
    SURGERY,
    EventKey,
    Fixed,
    ScheduleRules,
    ScrtStartRefused,
    WorkingCalendar,
    build_plan,
    public_calendar,
    scrt_fraction_dates,
)
from tests.conftest import PROTOCOL_PATH

D = dt.date
CN = public_calendar("CN", range(2025, 2028))


def _rules() -> ScheduleRules:
    return ScheduleRules.from_definition(yaml.safe_load(PROTOCOL_PATH.read_text(encoding="utf-8")))


# State Council General Office notices on the holiday arrangements:
# 2025: 国办发明电〔2024〕12号 (gov.cn/gongbao/2024/issue_11726/202411/content_6989767.html)
# 2026: 国办发明电〔2025〕7号 (gov.cn/gongbao/2025/issue_12406/202511/content_7048922.html)
@pytest.mark.parametrize(
    ("day", "working"),
    [
        # Spring Festival 2025: 28 Jan – 4 Feb off; Sun 26 Jan and Sat 8 Feb are make-up working days.
        (D(2025, 1, 26), True),
        (D(2025, 1, 28), False),
        (D(2025, 2, 4), False),
        (D(2025, 2, 5), True),
        (D(2025, 2, 8), True),
        # National Day + Mid-Autumn 2025: 1–8 Oct off; Sun 28 Sep and Sat 11 Oct worked.
        (D(2025, 9, 28), True),
        (D(2025, 10, 8), False),
        (D(2025, 10, 11), True),
        # New Year 2026: 1–3 Jan off, Sun 4 Jan worked.
        (D(2026, 1, 2), False),
        (D(2026, 1, 4), True),
        # Spring Festival 2026: 15–23 Feb off; Sat 14 Feb and Sat 28 Feb are make-up working days.
        (D(2026, 2, 13), True),
        (D(2026, 2, 14), True),
        (D(2026, 2, 15), False),
        (D(2026, 2, 16), False),
        (D(2026, 2, 20), False),
        (D(2026, 2, 23), False),
        (D(2026, 2, 24), True),
        (D(2026, 2, 28), True),
        (D(2026, 3, 1), False),
        # Labour Day 2026: 1–5 May off, Sat 9 May worked.
        (D(2026, 5, 5), False),
        (D(2026, 5, 9), True),
        # National Day 2026: 1–7 Oct off; Sun 20 Sep and Sat 10 Oct worked.
        (D(2026, 9, 20), True),
        (D(2026, 10, 7), False),
        (D(2026, 10, 10), True),
        # 2027 (notice not yet in the package): statutory days — Spring Festival 6 Feb and
        # National Day 1 Oct — are off; an ordinary weekend is off.
        (D(2027, 2, 8), False),
        (D(2027, 10, 1), False),
        (D(2027, 3, 6), False),
        (D(2027, 3, 8), True),
    ],
)
def test_working_days_follow_the_state_council_notices(day: dt.date, working: bool) -> None:
    assert CN.is_working_day(day) is working


def test_site_closures_are_not_working_days() -> None:
    cal = CN.with_closures([D(2026, 3, 4)])
    assert not cal.is_working_day(D(2026, 3, 4))
    assert cal.next_working_day(D(2026, 3, 4)) == D(2026, 3, 5)


def test_scrt_over_an_ordinary_weekend_fits_in_eight_days() -> None:
    # Wed–Fri + Mon–Tue: 7 calendar days.
    assert scrt_fraction_dates(D(2026, 3, 4), fractions=5, max_overall_days=8, cal=CN) == [
        D(2026, 3, 4),
        D(2026, 3, 5),
        D(2026, 3, 6),
        D(2026, 3, 9),
        D(2026, 3, 10),
    ]


def test_scrt_uses_make_up_saturday() -> None:
    # Tue 10 – Fri 13 Feb, then Sat 14 Feb (make-up working day) — 5 days, before the holiday.
    assert scrt_fraction_dates(D(2026, 2, 10), fractions=5, max_overall_days=8, cal=CN)[-1] == D(2026, 2, 14)


def test_scrt_start_before_spring_festival_is_refused_with_the_next_start() -> None:
    # Starting Wed 11 Feb 2026: 11, 12, 13, 14 Feb, then the holiday to 23 Feb → 24 Feb: 14 days.
    with pytest.raises(ScrtStartRefused) as info:
        scrt_fraction_dates(D(2026, 2, 11), fractions=5, max_overall_days=8, cal=CN)
    assert info.value.reason == "overall_time_exceeded"
    # The next start that fits: Tue 24 Feb → 24, 25, 26, 27, 28 (make-up Saturday).
    assert info.value.next_start == D(2026, 2, 24)


def test_scrt_start_on_a_holiday_is_refused() -> None:
    with pytest.raises(ScrtStartRefused) as info:
        scrt_fraction_dates(D(2025, 10, 1), fractions=5, max_overall_days=8, cal=CN)
    assert info.value.reason == "not_working_day"
    assert info.value.next_start == D(2025, 10, 9)


def test_national_day_2026_start_is_moved_past_the_holiday() -> None:
    # Mon 28 Sep 2026: 28, 29, 30 Sep, then 1–7 Oct off → 8 Oct: too long.
    with pytest.raises(ScrtStartRefused) as info:
        scrt_fraction_dates(D(2026, 9, 28), fractions=5, max_overall_days=8, cal=CN)
    assert info.value.next_start == D(2026, 10, 8)


def test_add_months_clamps_to_month_end() -> None:
    assert cal_.add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert cal_.add_months(D(2027, 11, 30), 3) == D(2028, 2, 29)
    assert cal_.add_months(D(2026, 5, 15), 24) == D(2028, 5, 15)


def _by_key(events: list[cal_.PlannedEvent]) -> dict[EventKey, cal_.PlannedEvent]:
    return {e.key: e for e in events}


def test_the_plan_of_the_protocol() -> None:
    rules = _rules()
    events = build_plan(rules, arm="experimental", scrt_start=D(2026, 3, 2), cal=CN)
    plan = _by_key(events)
    kinds = [e.key.kind for e in events]
    assert kinds.count(FRACTION) == 5
    assert kinds.count(CYCLE_DAY1) == 8 and kinds.count(LABS) == 8
    assert kinds.count(RESTAGING) == 1 and kinds.count(SURGERY) == 1
    # 3-monthly for 2 years (8), then 6-monthly to 5 years (6).
    assert kinds.count(FOLLOW_UP) == 14
    # SCRT Mon 2 – Fri 6 Mar; C1 day 1 seven days after the last fraction, window 7–14 days.
    c1 = plan[EventKey(CYCLE_DAY1, "neoadjuvant", 1)]
    assert (c1.target, c1.window_start, c1.window_end) == (D(2026, 3, 13), D(2026, 3, 13), D(2026, 3, 20))
    # Q3W ±3 days.
    c2 = plan[EventKey(CYCLE_DAY1, "neoadjuvant", 2)]
    assert (c2.target, c2.window_start, c2.window_end) == (D(2026, 4, 3), D(2026, 3, 31), D(2026, 4, 6))
    assert c1.details["day1_drugs"] == ["oxaliplatin", "serplulimab"]
    # Capecitabine from the evening of day 1 to the morning of day 15, 28 administrations (protocol
    # first/last administration; Xeloda EU SmPC §4.2, shared/reference/capecitabine.md).
    course = {"first_day": 1, "first_time": "evening", "last_day": 15, "last_time": "morning", "administrations": 28}
    assert c1.details["oral"] == [{"drug": "capecitabine", "from": "2026-03-13", "to": "2026-03-27", "course": course}]
    assert c1.details["cycle_end"] == "2026-04-02"
    # Labs on the working day before day 1.
    assert plan[EventKey(LABS, "neoadjuvant", 2)].planned == D(2026, 4, 2)
    # Surgery 2–4 weeks after day 21 of cycle 4 (15 May → cycle end 4 Jun).
    surgery = plan[EventKey(SURGERY, "surgery", 1)]
    assert (surgery.window_start, surgery.window_end) == (D(2026, 6, 18), D(2026, 7, 2))
    # Adjuvant C1 4–8 weeks after surgery.
    a1 = plan[EventKey(CYCLE_DAY1, "adjuvant", 1)]
    assert (a1.window_start, a1.window_end) == (surgery.planned + dt.timedelta(28), surgery.planned + dt.timedelta(56))
    # Chronological order of the protocol.
    assert [e.planned for e in events] == sorted(e.planned for e in events)


def test_control_arm_has_no_serplulimab() -> None:
    plan = _by_key(build_plan(_rules(), arm="control", scrt_start=D(2026, 3, 2), cal=CN))
    assert plan[EventKey(CYCLE_DAY1, "adjuvant", 3)].details["day1_drugs"] == ["oxaliplatin"]


def test_a_day1_on_a_holiday_moves_to_a_working_day_in_the_window() -> None:
    # Q3W target Mon 5 Oct 2026 (National Day): window 2–8 Oct; 8 Oct is the first working day.
    target = D(2026, 10, 5)
    assert cal_.snap_to_working_day(target, (target - dt.timedelta(3), target + dt.timedelta(3)), CN) == D(2026, 10, 8)
    # Spring Festival 2026 longer than the window: the last working day before it (14 Feb, make-up Saturday).
    target = D(2026, 2, 18)
    assert cal_.snap_to_working_day(target, (D(2026, 2, 14), D(2026, 2, 21)), CN) == D(2026, 2, 14)


def test_a_delay_shifts_that_cycle_and_everything_after() -> None:
    rules = _rules()
    before = _by_key(build_plan(rules, arm="control", scrt_start=D(2026, 3, 2), cal=CN))
    key = EventKey(CYCLE_DAY1, "neoadjuvant", 2)
    new_day1 = before[key].planned + dt.timedelta(days=7)
    after = _by_key(
        build_plan(rules, arm="control", scrt_start=D(2026, 3, 2), cal=CN, fixed={key: Fixed(new_day1, recentre=True)})
    )
    assert after[key].planned == new_day1
    assert (after[key].window_start, after[key].window_end) == (new_day1 - dt.timedelta(3), new_day1 + dt.timedelta(3))
    # Cycle 1 unchanged; cycle 3 restarts the Q3W rhythm from the new day 1.
    assert after[EventKey(CYCLE_DAY1, "neoadjuvant", 1)] == before[EventKey(CYCLE_DAY1, "neoadjuvant", 1)]
    assert after[EventKey(CYCLE_DAY1, "neoadjuvant", 3)].target == new_day1 + dt.timedelta(21)
    # The surgery window follows: 2 weeks after day 21 of the (moved) cycle 4.
    c4 = after[EventKey(CYCLE_DAY1, "neoadjuvant", 4)]
    assert c4.planned > before[EventKey(CYCLE_DAY1, "neoadjuvant", 4)].planned
    assert after[EventKey(SURGERY, "surgery", 1)].window_start == c4.planned + dt.timedelta(20 + 14)


def test_an_actual_date_anchors_what_follows_without_moving_the_window() -> None:
    rules = _rules()
    key = EventKey(CYCLE_DAY1, "neoadjuvant", 1)
    plan = _by_key(
        build_plan(rules, arm="control", scrt_start=D(2026, 3, 2), cal=CN, fixed={key: Fixed(D(2026, 3, 16))})
    )
    assert plan[key].planned == D(2026, 3, 16)
    assert plan[key].window_start == D(2026, 3, 13)
    assert plan[EventKey(CYCLE_DAY1, "neoadjuvant", 2)].target == D(2026, 4, 6)


@settings(max_examples=60, deadline=None)
@given(
    start=st.dates(min_value=D(2025, 1, 1), max_value=D(2027, 6, 30)), arm=st.sampled_from(["control", "experimental"])
)
def test_every_accepted_start_gives_a_consistent_plan(start: dt.date, arm: str) -> None:
    rules = _rules()
    try:
        events = build_plan(rules, arm=arm, scrt_start=start, cal=CN)
    except ScrtStartRefused as exc:
        # The refusal always names a start that works.
        assert exc.next_start is not None and exc.next_start >= start
        build_plan(rules, arm=arm, scrt_start=exc.next_start, cal=CN)
        return
    fractions = [e.planned for e in events if e.key.kind == FRACTION]
    assert (fractions[-1] - fractions[0]).days + 1 <= 8
    for e in events:
        assert e.window_start <= e.target <= e.window_end or e.key.kind == LABS
        if e.key.kind in (FRACTION, CYCLE_DAY1, SURGERY, LABS) and e.planned.year <= 2027:
            assert CN.is_working_day(e.planned), e
    day1s = [e.planned for e in events if e.key.kind == CYCLE_DAY1]
    assert all(b > a for a, b in itertools.pairwise(day1s))


def test_empty_calendar_has_only_weekends() -> Any:
    cal = WorkingCalendar()
    assert cal.is_working_day(D(2026, 2, 17)) and not cal.is_working_day(D(2026, 2, 14))


# --- Calendar edges (issue 13) ---------------------------------------------------------------


def _event(plan: list[cal_.PlannedEvent], kind: str, phase: str, number: int) -> cal_.PlannedEvent:
    return next(e for e in plan if e.key == EventKey(kind, phase, number))


@pytest.mark.parametrize(
    ("start", "window"),
    [
        # Fractions 16, 19–22 Jan: C1 on 29 Jan, C2's window 16–22 Feb.
        (D(2026, 1, 16), (D(2026, 2, 16), D(2026, 2, 22))),
        # Fractions 19–23 Jan: C1 on 30 Jan, C2's window 17–23 Feb.
        (D(2026, 1, 19), (D(2026, 2, 17), D(2026, 2, 23))),
    ],
)
def test_a_cycle_window_inside_the_spring_festival_is_flagged(start: dt.date, window: tuple[dt.date, dt.date]) -> None:
    # 2026 notice: 15–23 Feb off, Sat 14 Feb worked; so 14 Feb is the last working day before the
    # window and Tue 24 Feb the first after it.
    plan = build_plan(_rules(), arm="experimental", scrt_start=start, cal=CN)
    c2 = _event(plan, CYCLE_DAY1, "neoadjuvant", 2)
    assert (c2.window_start, c2.window_end) == window
    assert c2.details[cal_.NO_WORKING_DAY] == {"before": "2026-02-14", "after": "2026-02-24", "planned": "2026-02-24"}
    assert c2.planned == D(2026, 2, 24)
    assert cal_.plan_choice_outside_window(c2.details, D(2026, 2, 24))
    assert not cal_.plan_choice_outside_window(c2.details, D(2026, 2, 25))
    flagged = [e.key for e in plan if cal_.NO_WORKING_DAY in e.details]
    assert flagged == [c2.key]


def test_no_flag_when_the_window_has_a_working_day() -> None:
    plan = build_plan(_rules(), arm="experimental", scrt_start=D(2026, 3, 4), cal=CN)
    assert not any(cal_.NO_WORKING_DAY in e.details for e in plan)
    assert CN.nearest_working_days((D(2026, 2, 13), D(2026, 2, 16))) is None  # Fri 13 Feb works


@pytest.mark.parametrize(
    ("dates", "days"),
    [
        ([D(2026, 3, 2), D(2026, 3, 3), D(2026, 3, 4), D(2026, 3, 5), D(2026, 3, 6)], 5),
        ([D(2026, 3, 4), D(2026, 3, 5), D(2026, 3, 6), D(2026, 3, 9), D(2026, 3, 11)], 8),
        ([D(2026, 3, 4), D(2026, 3, 5), D(2026, 3, 6), D(2026, 3, 9), D(2026, 3, 12)], 9),
        ([], 0),
    ],
)
def test_scrt_overall_days_counts_both_ends(dates: list[dt.date], days: int) -> None:
    assert cal_.scrt_overall_days(dates) == days


def test_a_published_notice_replaces_the_package_for_its_year() -> None:
    # A synthetic notice for 2026 (test data, not a real notice): only 2 Feb off, Sat 7 Feb worked.
    notice = cal_.NationalYear(2026, frozenset({D(2026, 2, 2)}), frozenset({D(2026, 2, 7)}))
    cal = public_calendar("CN", [2026, 2027], notices={2026: notice})
    assert not cal.is_working_day(D(2026, 2, 2))
    assert cal.is_working_day(D(2026, 2, 7))
    assert cal.is_working_day(D(2026, 2, 17))  # the package's Spring Festival no longer applies
    assert not cal.is_working_day(D(2026, 2, 14))  # nor its make-up Saturday
    assert not cal.is_working_day(D(2027, 2, 8))  # 2027 still from the package


def test_a_site_make_up_working_day_and_a_closure() -> None:
    cal = public_calendar("CN", [2026], [D(2026, 3, 4)], site_workdays=[D(2026, 3, 7), D(2026, 2, 17)])
    assert cal.is_working_day(D(2026, 3, 7))  # a Saturday the site works
    assert cal.is_working_day(D(2026, 2, 17))  # a holiday the site works
    assert not cal.is_working_day(D(2026, 3, 4))  # a closed Wednesday
    assert cal.with_closures([D(2026, 3, 5)]).is_working_day(D(2026, 3, 7))


def test_a_given_first_fraction_is_not_checked_again() -> None:
    # Fraction 1 was given on Wed 4 March; the site records a closure on that day afterwards.
    closed = CN.with_closures([D(2026, 3, 4)])
    fixed = {EventKey(FRACTION, "scrt", 1): Fixed(D(2026, 3, 4))}
    plan = build_plan(_rules(), arm="experimental", scrt_start=D(2026, 3, 4), cal=closed, fixed=fixed)
    assert [e.planned for e in plan if e.key.kind == FRACTION] == [
        D(2026, 3, 4),
        D(2026, 3, 5),
        D(2026, 3, 6),
        D(2026, 3, 9),
        D(2026, 3, 10),
    ]
