"""Reminder maths, without Django: which reminders a participant should have, when each is due
(a wall-clock time in the site's time zone, turned into an instant), when it is too late to send
it, and how long to wait before retrying a failed send.

`now` is always an argument. The database rows (reminders.models.Reminder) are the
source of truth; `plan` compares what should exist with what exists and says what to cancel,
create and re-time, so a moved visit cancels its pending reminders and gets new ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

SMS = "sms"
EMAIL = "email"
CHANNELS = (SMS, EMAIL)
PREFERRED = "preferred"  # a rule's channel: every channel the participant opted in to

# Events that never get reminders (a closed event) and the ones whose reminders still matter.
CANCELLED = "cancelled"


@dataclass(frozen=True)
class Rule:
    """One reminder rule of a trial: for events of `event_kind` (optionally only number
    `event_number`, e.g. fraction 1 = SCRT start; optionally only cycles with an oral drug),
    send on the event's date + `days_from_event` (negative: before) at `time_of_day` in the
    site's time zone, through `channel` (sms, email or the participant's preferred channels)."""

    id: int
    event_kind: str
    days_from_event: int
    time_of_day: dt.time
    channel: str = PREFERRED
    event_number: int | None = None
    oral_drug: str = ""
    grace: dt.timedelta = dt.timedelta(hours=6)

    def applies_to(self, event: Event) -> bool:
        if event.kind != self.event_kind:
            return False
        if self.event_number is not None and event.number != self.event_number:
            return False
        if self.oral_drug:
            oral = event.details.get("oral") or []
            return any(isinstance(o, Mapping) and o.get("drug") == self.oral_drug for o in oral)
        return True


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    number: int
    date: dt.date  # the actual date once it happened, else the planned (or booked) date
    status: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipient:
    """What the participant allows: `active` is False once withdrawn or the plan is stopped;
    a channel is usable when opted in and its address is known."""

    active: bool
    sms: bool
    email: bool

    def channels(self, rule_channel: str) -> tuple[str, ...]:
        usable = tuple(c for c in CHANNELS if getattr(self, c))
        if rule_channel == PREFERRED:
            return usable
        return (rule_channel,) if rule_channel in usable else ()


@dataclass(frozen=True)
class Desired:
    event_id: int
    rule_id: int
    channel: str
    event_date: dt.date
    send_at: dt.datetime
    expires_at: dt.datetime

    @property
    def key(self) -> Key:
        return (self.event_id, self.rule_id, self.channel, self.event_date)


Key = tuple[int, int, str, dt.date]


@dataclass(frozen=True)
class Existing:
    id: int
    event_id: int
    rule_id: int
    channel: str
    event_date: dt.date
    status: str
    send_at: dt.datetime

    @property
    def key(self) -> Key:
        return (self.event_id, self.rule_id, self.channel, self.event_date)


@dataclass(frozen=True)
class Changes:
    create: list[Desired]
    cancel: list[int]  # ids of pending/queued rows nobody wants any more
    retime: list[tuple[int, Desired]]  # pending rows whose rule's time changed


# Rows the sync may still change: not yet handed to a transport.
CHANGEABLE = ("pending", "queued")


def local_moment(day: dt.date, time_of_day: dt.time, time_zone: str) -> dt.datetime:
    """`time_of_day` on `day` on the wall clocks of `time_zone`, as an aware UTC instant.

    The time-zone trap: the server's own TZ (or Django's TIME_ZONE) must not matter; 09:00 at
    a Shanghai site is 01:00 UTC whatever the machine's clock says. zoneinfo resolves gaps and
    folds of DST zones (fold=0: the first of two ambiguous instants)."""
    return dt.datetime.combine(day, time_of_day, tzinfo=ZoneInfo(time_zone)).astimezone(dt.UTC)


def desired_reminders(
    *,
    events: Iterable[Event],
    rules: Sequence[Rule],
    recipient: Recipient,
    time_zone: str,
    now: dt.datetime,
) -> list[Desired]:
    """Every reminder that should exist now: one per (event, rule, channel) whose moment has
    not passed by more than the rule's grace. Nothing for a cancelled event or a participant
    who is no longer active."""
    if not recipient.active:
        return []
    out: list[Desired] = []
    for event in events:
        if event.status == CANCELLED:
            continue
        for rule in rules:
            if not rule.applies_to(event):
                continue
            send_at = local_moment(event.date + dt.timedelta(days=rule.days_from_event), rule.time_of_day, time_zone)
            expires_at = send_at + rule.grace
            if expires_at <= now:
                continue  # too late already: never created, never sent late
            for channel in recipient.channels(rule.channel):
                out.append(Desired(event.id, rule.id, channel, event.date, send_at, expires_at))
    return out


def plan_changes(*, desired: Iterable[Desired], existing: Iterable[Existing]) -> Changes:
    """The diff between what should exist and the (non-cancelled) rows that exist.

    A row is identified by (event, rule, channel, event date): a moved visit has a new date, so
    its old pending rows are cancelled and new ones are made; a row already sent, failed or
    expired for the same date stays as it is and is never made again."""
    wanted = {d.key: d for d in desired}
    have = {e.key: e for e in existing}
    create = [d for k, d in wanted.items() if k not in have]
    cancel = sorted(e.id for k, e in have.items() if k not in wanted and e.status in CHANGEABLE)
    retime = sorted(
        (
            (e.id, wanted[k])
            for k, e in have.items()
            if k in wanted and e.status == "pending" and e.send_at != wanted[k].send_at
        ),
        key=lambda pair: pair[0],
    )
    return Changes(create=create, cancel=cancel, retime=retime)


def is_expired(*, expires_at: dt.datetime, now: dt.datetime) -> bool:
    return now >= expires_at


def backoff(attempt: int, *, base: float = 60.0, cap: float = 3600.0) -> dt.timedelta:
    """Wait before retry number `attempt` (1 = the first retry): base·2^(attempt−1), capped.
    60 s, 2 min, 4 min, 8 min … gives a provider time to recover without delaying a 09:00
    reminder past its grace."""
    if attempt < 1:
        return dt.timedelta(0)
    return dt.timedelta(seconds=min(cap, base * 2 ** (attempt - 1)))
