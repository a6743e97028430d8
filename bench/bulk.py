"""Plans for thousands of participants at once, for the benchmarks (bench/scale.py, load.py,
schedules.py): the service's calendar arithmetic, with the events and their history rows written
by a hand-made COPY. It lives here, not in schedules/, because it is a second, hand-kept copy of
what the ORM and django-simple-history write (issue 15); the product makes plans one by one
(schedules.services.plans.treatment_plan_create), and tests/bench/test_bulk.py checks that the
two agree."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from schedules import calendar, selectors
from schedules.models import ScheduledEvent, TreatmentPlan
from schedules.services.replanning import new_event, refuse_start, send_plan_changed
from trialsite import roles
from trialsite.models import RANDOMIZED_STATUSES, Participant
from trialsite.selectors import user_site_ids


@transaction.atomic
def treatment_plans_create_bulk(
    *, starts: Mapping[int, dt.date], now: dt.datetime, by: User | None = None, batch_size: int = 5000
) -> tuple[int, dict[int, str]]:
    """Make the plans of many participants at once (load tests): the same
    calendar arithmetic as treatment_plan_create, with rules and holiday calendars computed once
    per protocol version and site, and rows inserted in bulk (with their history rows).

    `starts` maps participant ids to SCRT start dates. Participants that are not randomized,
    withdrawn or already planned are skipped; refused start dates are returned as
    {participant_id: message}. Returns (plans created, refusals)."""
    roles.require(by, "schedules.add_treatmentplan")  # and only the user's sites' participants, below
    today = timezone.localdate(now)
    participants = list(
        Participant.objects.select_for_update(of=("self",))
        .filter(pk__in=list(starts), status__in=RANDOMIZED_STATUSES)
        .exclude(arm="")
        .exclude(pk__in=TreatmentPlan.objects.values("participant_id"))
        .select_related("site")
        .order_by("pk")
    )
    if by is not None and not by.is_superuser:
        allowed = user_site_ids(by)
        participants = [p for p in participants if p.site_id in allowed]
    calendars: dict[tuple[int, tuple[int, ...]], calendar.WorkingCalendar] = {}
    rules_by_version: dict[int, calendar.ScheduleRules] = {}
    refused: dict[int, str] = {}
    plans: list[TreatmentPlan] = []
    built_by_plan: list[tuple[Participant, list[calendar.PlannedEvent]]] = []
    for participant in participants:
        start = starts[participant.pk]
        if start < today:
            refused[participant.pk] = str(_("The SCRT start date cannot be in the past."))
            continue
        rules = rules_by_version.get(participant.protocol_version_id)
        if rules is None:
            rules = rules_by_version[participant.protocol_version_id] = selectors.schedule_rules(
                participant.protocol_version_id
            )
        years = tuple(calendar.plan_years(start, rules))
        cal = calendars.get((participant.site_id, years))
        if cal is None:
            cal = calendars[(participant.site_id, years)] = selectors.working_calendar(participant.site, years)
        try:
            built = calendar.build_plan(rules, arm=participant.arm, scrt_start=start, cal=cal)
        except calendar.ScrtStartRefused as exc:
            refused[participant.pk] = refuse_start(exc).detail
            continue
        plans.append(TreatmentPlan(participant=participant, arm=participant.arm, scrt_start_date=start, created_by=by))
        built_by_plan.append((participant, built))
    bulk_create_with_history(plans, TreatmentPlan, batch_size=batch_size, default_user=by)
    _insert_events_with_history(plans, built_by_plan, now=now, by=by, batch_size=batch_size)
    for participant, _built in built_by_plan:
        send_plan_changed(participant)
    return len(plans), refused


def _insert_events_with_history(
    plans: list[TreatmentPlan],
    built_by_plan: list[tuple[Participant, list[calendar.PlannedEvent]]],
    *,
    now: dt.datetime,
    by: User | None,
    batch_size: int,
) -> None:
    """Insert the plans' events and their "created" history rows. On PostgreSQL with COPY from
    plain tuples (an order of magnitude faster than model instances and INSERT for ~37 rows per
    plan × thousands of plans), with ids reserved from the table's sequence so that each history
    row points at its event; elsewhere (the embedded SQLite of `make run`) through
    simple-history's bulk_create_with_history."""
    pairs = [
        (plan, participant, item)
        for plan, (participant, built) in zip(plans, built_by_plan, strict=True)
        for item in built
    ]
    if connection.vendor != "postgresql":
        events = [new_event(plan, participant, item) for plan, participant, item in pairs]
        bulk_create_with_history(events, ScheduledEvent, batch_size=batch_size, default_user=by)
        return
    if not pairs:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [ScheduledEvent._meta.db_table, len(pairs)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    columns = [
        "id", "plan_id", "participant_id", "site_id", "kind", "phase", "number", "order", "target_date",
        "window_start", "window_end", "planned_date", "original_planned_date", "actual_date", "status",
        "delayed", "delay_reason", "deviation_reason", "details", "uid", "ics_sequence", "updated_at",
    ]  # fmt: skip
    history = ScheduledEvent.history.model
    history_columns = [*columns, "history_date", "history_change_reason", "history_type", "history_user_id"]
    # COPY's text format, written by hand: psycopg's per-row formatting was the bottleneck. Codes
    # (kind, phase) match the schema's ^[a-z][a-z0-9_]*$ and dates are ISO; only the JSON needs
    # COPY escaping (it contains backslashes: \uXXXX escapes).
    stamp = now.isoformat()
    user = str(by.pk) if by is not None else r"\N"
    lines: list[str] = []
    history_lines: list[str] = []
    for pk, (plan, participant, item) in zip(ids, pairs, strict=True):
        details = _copy_escape(json.dumps(item.details)) if item.details else "{}"
        row = (
            f"{pk}\t{plan.pk}\t{participant.pk}\t{participant.site_id}\t{item.key.kind}\t{item.key.phase}\t"
            f"{item.key.number}\t{item.order}\t{item.target}\t{item.window_start}\t{item.window_end}\t"
            f"{item.planned}\t{item.planned}\t\\N\tplanned\tf\t\t\t{details}\t{uuid.uuid4()}\t0\t{stamp}"
        )
        lines.append(row + "\n")
        history_lines.append(f"{row}\t{stamp}\t\\N\t+\t{user}\n")
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, cols, data in (
            (ScheduledEvent._meta.db_table, columns, lines),
            (history._meta.db_table, history_columns, history_lines),
        ):
            with cursor.cursor.copy(f"COPY {q(table)} ({', '.join(map(q, cols))}) FROM STDIN") as copy:
                for start in range(0, len(data), batch_size):
                    copy.write("".join(data[start : start + batch_size]))


def _copy_escape(text: str) -> str:
    """Escape a value for PostgreSQL's COPY text format."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
