"""The datasets staff can export (API `/api/v1/exports/<name>.csv|.xlsx`, and the admin lists'
"Export" actions), one declaration each. Values are the stored codes (arm, status, phase: the
protocol's codes, what analysis scripts match on), dates as ISO dates, datetimes in the row's
site time zone (exports/tables.py). The README's "Exports" table documents every column;
tests/exports/test_datasets.py fails when a declared column is missing there.

Adding a dataset (the adverse-event log, say) is one more `register(Dataset(...))` here: the
model, the query with its relations, the lookup to the site, the view permission and the
columns."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from adverse_events.models import AdverseEvent
from dosing.models import DoseSheet, SheetStatus
from randomization.models import ScreeningAssessment
from reminders.models import Reminder, ReminderStatus
from schedules.models import Booking, ScheduledEvent
from trialsite import roles
from trialsite.models import Participant

from .tables import Column, Dataset, register

# Columns every participant-level dataset starts with.
PARTICIPANT_ID = Column("participant_id", "TrialSite's participant id", lambda r: r.participant_id)
SCREENING_NUMBER = Column("screening_number", "the site's screening number", lambda r: r.participant.screening_number)


def _site(row: Any) -> Any:
    """The row's site, or its participant's for records without one (a toxicity)."""
    return getattr(row, "site", None) or row.participant.site


def _site_code(row: Any) -> str:
    return str(_site(row).code)


SITE = Column("site", "site code", _site_code)
TIME_ZONE = Column(
    "time_zone", "the site's time zone: every date and time of the row is in it", lambda r: _site(r).time_zone
)


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


participants = register(
    Dataset(
        name="participants",
        title=_("participants"),
        model=Participant,
        queryset=lambda: Participant.objects.select_related("site", "trial").order_by("site__code", "screening_number"),
        site="site",
        permission="trialsite.view_participant",
        columns=[
            Column("participant_id", "TrialSite's participant id", lambda p: p.pk),
            Column("trial", "registry id of the trial", lambda p: p.trial.registry_id),
            SITE,
            Column("screening_number", "the site's screening number", lambda p: p.screening_number),
            Column(
                "full_name",
                "full name (only for readers allowed to see identity)",
                lambda p: p.full_name,
                shown=roles.can_see_identity,
            ),
            Column(
                "birth_date",
                "birth date (only for readers allowed to see identity)",
                lambda p: p.birth_date,
                shown=roles.can_see_identity,
            ),
            Column("sex", "female or male", lambda p: p.sex),
            Column("consent_date", "date of informed consent", lambda p: p.consent_date),
            Column("status", "screening … deceased (the registry's status codes)", lambda p: p.status),
            Column("arm", "allocated arm code, empty before randomization", lambda p: p.arm),
            Column("randomization_number", "randomization number", lambda p: p.randomization_number),
            Column("randomized_at", "time of randomization", lambda p: p.randomized_at),
            Column("withdrawn_at", "time of withdrawal", lambda p: p.withdrawn_at),
            Column("withdrawal_reason", "reason for withdrawal", lambda p: p.withdrawal_reason),
            Column("died_on", "date of death", lambda p: p.died_on),
            Column("preferred_language", "language of the participant's reminders", lambda p: p.preferred_language),
            Column("created_at", "time of registration", lambda p: p.created_at),
            TIME_ZONE,
        ],
    )
)


def _unmet(assessment: ScreeningAssessment) -> str:
    return ";".join(c["code"] for c in assessment.criteria or () if c.get("status") != "met")


screening = register(
    Dataset(
        name="screening",
        title=_("screening outcomes"),
        model=ScreeningAssessment,
        queryset=lambda: ScreeningAssessment.objects.select_related(
            "participant", "participant__site", "assessed_by"
        ).order_by("participant__site__code", "participant__screening_number", "assessed_on", "id"),
        site="participant__site",
        permission="randomization.view_screeningassessment",
        columns=[
            Column("assessment_id", "TrialSite's assessment id", lambda a: a.pk),
            PARTICIPANT_ID,
            Column("site", "site code", lambda a: a.participant.site.code),
            SCREENING_NUMBER,
            Column("assessed_on", "date of the assessment", lambda a: a.assessed_on),
            Column("outcome", "eligible, not_eligible or not_assessable", lambda a: a.outcome),
            Column(
                "criteria_not_met",
                "codes of the criteria not met or not assessable, separated by ;",
                _unmet,
            ),
            Column("age_years", "age at consent", lambda a: a.age_years),
            Column("weight_kg", "weight used (kg)", lambda a: a.weight_kg),
            Column(
                "creatinine_clearance_ml_min",
                "Cockcroft–Gault creatinine clearance (mL/min)",
                lambda a: a.creatinine_clearance_ml_min,
            ),
            Column("assessed_at", "time the assessment was recorded", lambda a: a.assessed_at),
            Column("assessed_by", "user name of who recorded it", lambda a: _username(a.assessed_by)),
            Column(
                "time_zone",
                "the site's time zone: every date and time of the row is in it",
                lambda a: a.participant.site.time_zone,
            ),
        ],
    )
)


visits = register(
    Dataset(
        name="visits",
        title=_("visits (planned, actual, window)"),
        model=ScheduledEvent,
        queryset=lambda: ScheduledEvent.objects.select_related("participant", "site").order_by(
            "site__code", "participant__screening_number", "order"
        ),
        site="site",
        permission="schedules.view_scheduledevent",
        columns=[
            Column("event_id", "TrialSite's event id", lambda e: e.pk),
            PARTICIPANT_ID,
            SITE,
            SCREENING_NUMBER,
            Column(
                "kind", "scrt_fraction, pre_cycle_labs, cycle_day1, restaging, surgery, follow_up", lambda e: e.kind
            ),
            Column("phase", "protocol phase code (cycles), else empty", lambda e: e.phase),
            Column("number", "fraction, cycle or visit number", lambda e: e.number),
            Column("target_date", "the protocol's target date", lambda e: e.target_date),
            Column("window_start", "first day of the protocol window", lambda e: e.window_start),
            Column("window_end", "last day of the protocol window", lambda e: e.window_end),
            Column("original_planned_date", "the date the plan first gave", lambda e: e.original_planned_date),
            Column("planned_date", "the planned (or booked) date now", lambda e: e.planned_date),
            Column("actual_date", "the date it happened", lambda e: e.actual_date),
            Column("status", "planned, booked, done or cancelled", lambda e: e.status),
            Column("delayed", "true if delayed", lambda e: e.delayed),
            Column("delay_reason", "reason for the delay", lambda e: e.delay_reason),
            Column("deviation_reason", "protocol deviation recorded for it", lambda e: e.deviation_reason),
            TIME_ZONE,
        ],
    )
)


bookings = register(
    Dataset(
        name="bookings",
        title=_("bookings"),
        model=Booking,
        queryset=lambda: Booking.objects.select_related("participant", "site", "event", "created_by").order_by(
            "site__code", "date", "time", "id"
        ),
        site="site",
        permission="schedules.view_booking",
        columns=[
            Column("booking_id", "TrialSite's booking id", lambda b: b.pk),
            Column("event_id", "the visit booked (visits.event_id)", lambda b: b.event_id),
            PARTICIPANT_ID,
            SITE,
            SCREENING_NUMBER,
            Column("event_kind", "kind of the visit", lambda b: b.event.kind),
            Column("event_phase", "phase of the visit", lambda b: b.event.phase),
            Column("event_number", "number of the visit", lambda b: b.event.number),
            Column("date", "booked date", lambda b: b.date),
            Column("time", "booked time, site time", lambda b: b.time),
            Column("uses_infusion_chair", "true if it takes an infusion chair", lambda b: b.uses_infusion_chair),
            Column("status", "active or cancelled", lambda b: b.status),
            Column(
                "deviation_reason", "protocol deviation for a date outside the window", lambda b: b.deviation_reason
            ),
            Column("created_at", "time the booking was made", lambda b: b.created_at),
            Column("created_by", "user name of who booked", lambda b: _username(b.created_by)),
            Column("cancelled_at", "time of cancellation", lambda b: b.cancelled_at),
            Column("cancel_reason", "reason for cancelling", lambda b: b.cancel_reason),
            TIME_ZONE,
        ],
    )
)


def _doses(sheet: DoseSheet) -> list[tuple[DoseSheet, dict[str, Any]]]:
    """One record per drug of a released sheet (the doses as released: the sheet's content)."""
    return [(sheet, dose) for dose in sheet.content.get("doses", [])]


def _tablets(size: str) -> Any:
    return lambda r: (r[1].get("tablets") or {}).get(size)


dose_sheets = register(
    Dataset(
        name="dose_sheets",
        title=_("released doses per cycle"),
        model=DoseSheet,
        queryset=lambda: (
            DoseSheet.objects.filter(status=SheetStatus.RELEASED)
            .select_related("participant", "site", "verified_by", "released_by")
            .order_by("site__code", "participant__screening_number", "cycle_seq")
        ),
        site="site",
        permission="dosing.view_dosesheet",
        records=_doses,
        record_site=lambda r: r[0].site,
        columns=[
            Column("sheet_id", "TrialSite's dose sheet id", lambda r: r[0].pk),
            Column("version", "version of the sheet (a new version supersedes)", lambda r: r[0].version),
            Column("participant_id", "TrialSite's participant id", lambda r: r[0].participant_id),
            Column("site", "site code", lambda r: r[0].site.code),
            Column("screening_number", "the site's screening number", lambda r: r[0].participant.screening_number),
            Column("arm", "the participant's arm code", lambda r: r[0].content.get("arm")),
            Column("phase", "protocol phase code", lambda r: r[0].phase),
            Column("cycle_number", "cycle within the phase", lambda r: r[0].cycle_number),
            Column("cycle_seq", "cycle counted across the phases", lambda r: r[0].cycle_seq),
            Column("day1", "day 1 of the cycle", lambda r: r[0].day1),
            Column(
                "weight_kg", "weight the doses use (kg)", lambda r: r[0].content.get("dose_basis", {}).get("weight_kg")
            ),
            Column("bsa_m2", "BSA the doses use (m²)", lambda r: r[0].content.get("bsa_m2")),
            Column("drug", "drug code", lambda r: r[1].get("drug")),
            Column("dose_status", "give, withheld or discontinued", lambda r: r[1].get("status")),
            Column("dose_level", "dose level (0 = full dose)", lambda r: r[1].get("level")),
            Column("dose_mg", "dose per administration (mg), empty if not given", lambda r: r[1].get("dose_mg")),
            Column("tablets_500", "500 mg tablets per administration (oral drugs)", _tablets("500")),
            Column("tablets_150", "150 mg tablets per administration (oral drugs)", _tablets("150")),
            Column("verified_at", "time of the first pharmacist's check", lambda r: r[0].verified_at),
            Column("verified_by", "user name of the first pharmacist", lambda r: _username(r[0].verified_by)),
            Column("released_at", "time of release", lambda r: r[0].released_at),
            Column("released_by", "user name of the releasing pharmacist", lambda r: _username(r[0].released_by)),
            Column(
                "time_zone",
                "the site's time zone: every date and time of the row is in it",
                lambda r: r[0].site.time_zone,
            ),
        ],
    )
)


# Reminders that went out or were given up: pending, queued and cancelled ones were never sent.
REMINDERS_SENT = (ReminderStatus.SENT, ReminderStatus.FAILED, ReminderStatus.EXPIRED)

reminders = register(
    Dataset(
        name="reminders",
        title=_("reminders sent"),
        model=Reminder,
        queryset=lambda: (
            Reminder.objects.filter(status__in=REMINDERS_SENT)
            .select_related("participant", "site", "event")
            .order_by("site__code", "send_at", "id")
        ),
        site="site",
        permission="reminders.view_reminder",
        columns=[
            Column("reminder_id", "TrialSite's reminder id", lambda m: m.pk),
            PARTICIPANT_ID,
            SITE,
            SCREENING_NUMBER,
            Column("event_id", "the visit (visits.event_id)", lambda m: m.event_id),
            Column("event_kind", "kind of the visit", lambda m: m.event.kind),
            Column("event_date", "date of the visit the reminder was for", lambda m: m.event_date),
            Column("channel", "sms or email", lambda m: m.channel),
            Column("status", "sent, failed or expired", lambda m: m.status),
            Column("attempts", "sending attempts", lambda m: m.attempts),
            Column("send_at", "time it was due to go", lambda m: m.send_at),
            Column("sent_at", "time the provider accepted it", lambda m: m.sent_at),
            TIME_ZONE,
        ],
    )
)


def _attribution(event: Any) -> str:
    """Each drug's attribution, "drug:relatedness" joined by ";" (codes, as stored)."""
    return ";".join(f"{a.drug}:{a.relatedness}" for a in event.attributions.all())


toxicities = register(
    Dataset(
        name="toxicities",
        title=_("toxicities"),
        model=AdverseEvent,
        queryset=lambda: (
            AdverseEvent.objects.select_related("participant__site", "term", "recorded_by", "acknowledged_by")
            .prefetch_related("attributions")
            .order_by("participant__site__code", "onset_date", "id")
        ),
        site="participant__site",
        permission="adverse_events.view_adverseevent",
        record_site=_site,
        columns=[
            Column("adverse_event_id", "TrialSite's toxicity id", lambda e: e.pk),
            PARTICIPANT_ID,
            SITE,
            SCREENING_NUMBER,
            Column("ctcae_term", "CTCAE v5.0 term (English)", lambda e: e.term.term),
            Column("meddra_code", "MedDRA code of the term", lambda e: e.term.meddra_code),
            Column("grade", "CTCAE grade 1–5", lambda e: e.grade),
            Column("onset_date", "date of onset", lambda e: e.onset_date),
            Column("resolution_date", "date of resolution, empty while ongoing", lambda e: e.resolution_date),
            Column("cycle_phase", "protocol phase code of the cycle, else empty", lambda e: e.phase),
            Column("cycle_number", "cycle in which it was seen", lambda e: e.cycle_number),
            Column("serious", "true for a serious adverse event (SAE)", lambda e: e.serious),
            Column("attribution", "drug:relatedness for each drug, joined by ;", _attribution),
            Column("recorded_at", "time it was recorded", lambda e: e.recorded_at),
            Column("recorded_by", "user name of who recorded it", lambda e: _username(e.recorded_by)),
            Column("acknowledged_at", "time an investigator acknowledged the SAE", lambda e: e.acknowledged_at),
            Column("acknowledged_by", "user name of the investigator", lambda e: _username(e.acknowledged_by)),
            TIME_ZONE,
        ],
    )
)
