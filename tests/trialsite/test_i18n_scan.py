"""A Chinese-speaking user's pages, scanned for English left behind.

One participant goes through the whole workflow (screening, randomization, plan, booking, delay,
reminders, dose sheets, a dose modification, a site closure); then a superuser whose language is
zh-hans opens every admin list, add and change page, the custom admin pages and the main API
answers, and the test collects the English words in what a reader sees. Codes, units, names
of people and literature sources are allowed; anything else is a string that escaped the
catalogue."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.urls import reverse

from adverse_events import services as ae_services
from adverse_events.models import Term
from dosing import services as dosing
from dosing.models import DoseSheet
from randomization import services as rs
from reminders.models import Reminder
from schedules.models import EventKind, ScheduledEvent
from schedules.services.bookings import booking_create
from schedules.services.closures import site_closure_create
from schedules.services.plans import event_delay
from tests.factories import ParticipantFactory, record_labs
from tests.randomization.conftest import GOOD_LABS, good_findings
from tests.support.i18n import english_words, visible_text
from tests.support.signatures import signed
from trialsite import services as registry
from trialsite.models import Participant, Site, StaffProfile, Trial

PROJECT_APPS = ("trialsite", "randomization", "dosing", "schedules", "reminders", "adverse_events")
NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Shanghai
TODAY = dt.date(2026, 3, 2)


@pytest.fixture
def journey(
    trial: Trial, site: Site, nurse: User, investigator: User, statistician: User, pharmacist: User
) -> Iterator[Participant]:
    """One participant through the whole workflow, as the services do it."""
    with time_machine.travel(NOW, tick=False):
        scheme = rs.scheme_create(trial=trial, by=statistician)
        rs.scheme_activate(scheme=scheme, by=statistician, now=NOW - dt.timedelta(days=30))
        participant = ParticipantFactory(trial=trial, site=site, email="p@example.org", reminders_by_email=True)
        record_labs(participant, GOOD_LABS, on=TODAY)
        for kind, value in (("weight", "68"), ("height", "170")):
            registry.measurement_record(
                participant=participant, kind=kind, value=value, measured_on=TODAY, by=None, today=TODAY
            )
        rs.screening_assessment_record(
            participant=participant, assessed_on=TODAY, findings=good_findings(trial.definition), by=nurse, today=TODAY
        )
        participant.refresh_from_db()
        rs.participant_randomize(
            participant=participant,
            by=nurse,
            now=NOW,
            scrt_start_date=dt.date(2026, 3, 4),
            signature=signed(nurse, "randomize", at=NOW),
        )
        participant.refresh_from_db()
        events = ScheduledEvent.objects.filter(participant=participant)
        cycle1 = events.get(kind=EventKind.CYCLE_DAY1, phase="neoadjuvant", number=1)
        booking_create(event=cycle1, date=cycle1.planned_date, time=dt.time(8, 30), by=nurse, today=TODAY)
        cycle2 = events.get(kind=EventKind.CYCLE_DAY1, phase="neoadjuvant", number=2)
        event_delay(event=cycle2, reason="ANC 1.2", by=nurse, now=NOW)
        site_closure_create(site=site, date=dt.date(2026, 6, 3), reason="设备维护", by=nurse)
        # Labs and measurements in each cycle's day-1 window; cycle 2's sheet carries cycle 1's
        # dose modification.
        for number, by in ((1, pharmacist), (2, None)):
            day1 = ScheduledEvent.objects.get(pk=(cycle1 if number == 1 else cycle2).pk).planned_date
            on = day1 - dt.timedelta(days=1)
            with time_machine.travel(dt.datetime.combine(on, dt.time(2, 0), tzinfo=dt.UTC), tick=False):
                record_labs(participant, {a: GOOD_LABS[a] for a in ("anc", "platelets", "creatinine")}, on=on)
                for kind, value in (("weight", "68"), ("height", "170")):
                    registry.measurement_record(
                        participant=participant, kind=kind, value=value, measured_on=on, by=None, today=on
                    )
            dosing.dose_sheet_prepare(
                participant=participant, phase="neoadjuvant", cycle_number=number, day1=day1, now=NOW, by=by
            )
        dosing.dose_modification_record(
            participant=participant,
            drug="capecitabine",
            phase="neoadjuvant",
            cycle_number=1,
            toxicity_term="手足综合征",
            ctcae_grade=3,
            reason="3级手足综合征",
            by=investigator,
            now=NOW,
            signature=signed(investigator, "dose_modification", at=NOW),
        )
        # A serious toxicity, with its alert to the site's investigator, not acknowledged yet.
        investigator.email = "pi@example.org"
        investigator.save()
        ae_services.ae_record(
            participant=participant,
            term=Term.objects.get(term="Palmar-plantar erythrodysesthesia syndrome"),
            grade=3,
            onset_date=TODAY,
            phase="neoadjuvant",
            cycle_number=1,
            serious=True,
            attribution={"capecitabine": "probable"},
            notes="手足脱皮、疼痛",
            by=nurse,
            now=NOW,
            today=TODAY,
        )
        # A second participant, randomized and waiting for a plan (the plan picker lists them).
        waiting = ParticipantFactory(trial=trial, site=site)
        Participant.objects.filter(pk=waiting.pk).update(
            status="randomized", arm="control", randomization_number=99, randomized_at=NOW
        )
        assert Reminder.objects.filter(participant=participant).exists()
        assert DoseSheet.objects.filter(participant=participant).exists()
        yield participant


def _chinese_superuser() -> User:
    user = User.objects.create_superuser("chief", "chief@example.org", "pw-for-tests-1")
    StaffProfile.objects.create(user=user, language="zh-hans")
    return user


def _admin_urls(participant: Participant, user: User) -> list[str]:
    """The admin's index, every list, add and change page of the project's models (the newest
    row), and the custom pages of the workflow."""
    request = RequestFactory().get("/admin/")
    request.user = user
    urls = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        if meta.app_label not in PROJECT_APPS:
            continue
        base = f"admin:{meta.app_label}_{meta.model_name}"
        urls.append(reverse(f"{base}_changelist"))
        if model_admin.has_add_permission(request):
            urls.append(reverse(f"{base}_add"))
        obj = model_admin.get_queryset(request).order_by("-pk").first()
        if obj is not None:
            urls.append(reverse(f"{base}_change", args=[obj.pk]))
    return [
        *urls,
        reverse("admin:schedules_timeline", args=[participant.pk]),
        reverse("admin:schedules_site_calendar") + "?site=ZJU1&date=2026-03-09&view=week",
        # The site calendar's month view (issue 14); the landing page's worklist is the index.
        reverse("admin:schedules_site_calendar") + "?site=ZJU1&date=2026-03-09&view=month",
        reverse("admin:randomization_participanttorandomize_randomize", args=[participant.pk]),
        reverse("admin:dosing_dosesheet_prepare"),
        reverse("admin:trialsite_participant_death", args=[participant.pk]),
        # Issue 14: the reason page of a correction, and the screening form with what it will
        # read, started from the last assessment.
        reverse(
            "admin:trialsite_participant_entered_in_error",
            args=[participant.pk, "measurement", participant.measurements.order_by("pk").first().pk],
        ),
        reverse("admin:randomization_screeningassessment_add")
        + f"?participant={participant.pk}&copy_from={participant.screening_assessments.get().pk}",
        reverse("admin:randomization_screeningassessment_inputs") + f"?participant={participant.pk}",
    ]


# Pages that show stored source data in English on purpose.
EXCLUDED = {
    # The protocol definition file as loaded: the English registry texts beside their Chinese.
    r"^/admin/trialsite/protocolversion/\d+/change/$",
    # The sites' list has a column for the English name and one for the Chinese name.
    r"^/admin/trialsite/site/$",
    # The CTCAE terms as loaded: the NCI's English term (and its SOC) beside the Chinese term.
    r"^/admin/adverse_events/term/",
}
# Words still English on a page, known and accepted (say why).
PAGE_ALLOWED = {
    # Units that are words ("grade" of a dipstick, "ratio" of the INR) in the lab rows of the
    # participant's page: Django's inline shows a stored row's field as stored.
    r"^/admin/trialsite/participant/\d+/change/$": frozenset({"grade", "ratio"}),
    # The allocation shows the identifier of the chain key that signed it: an identifier, not
    # a word; the development and test settings name their key "dev".
    r"^/admin/randomization/allocation/\d+/change/$": frozenset({"dev"}),
}


def _allowed(url: str) -> frozenset[str]:
    return frozenset().union(*(words for pattern, words in PAGE_ALLOWED.items() if re.match(pattern, url)))


def test_admin_pages_show_a_chinese_reader_no_english(journey: Participant) -> None:
    # given a superuser (every page) whose language is Simplified Chinese
    user = _chinese_superuser()
    client = Client()
    client.force_login(user)
    report: dict[str, set[str]] = {}
    # when they open every page
    with time_machine.travel(NOW, tick=False):
        urls = _admin_urls(journey, user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            if any(re.match(pattern, url) for pattern in EXCLUDED):
                continue
            words = english_words(visible_text(response.content.decode()), _allowed(url))
            if words:
                report[url] = words
    # then no English is left in what they read
    assert len(urls) > 40  # every model's pages were opened
    assert not report, "\n".join(f"{url}: {' '.join(sorted(words))}" for url, words in report.items())


def _messages(body: Any) -> list[str]:
    """The human-readable strings of an API answer: error details and field messages, labels."""
    out: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ("detail", "label", "event_label", "message") and isinstance(value, str):
                out.append(value)
            elif key == "errors" and isinstance(value, dict):
                out += [m for messages in value.values() for m in messages]
            else:
                out += _messages(value)
    elif isinstance(body, list):
        for item in body:
            out += _messages(item)
    return out


def test_api_answers_a_chinese_client_in_chinese(journey: Participant, api: Any, nurse: User) -> None:
    # given a client that asks for Simplified Chinese
    client = api(nurse)
    headers = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
    pk = journey.pk
    sheet = DoseSheet.objects.filter(participant=journey).order_by("-pk").first()
    assert sheet is not None
    with time_machine.travel(NOW, tick=False):
        answers = {
            "schedule": client.get(f"/api/v1/participants/{pk}/schedule/", **headers),
            "bookings": client.get("/api/v1/bookings/", **headers),
            "sheet": client.get(f"/api/v1/dose-sheets/{sheet.pk}/", **headers),
            "bad measurement": client.post(
                f"/api/v1/participants/{pk}/measurements/", {"kind": "weight", "value": "x"}, **headers
            ),
            "bad site": client.post("/api/v1/participants/", {"site": "NOPE", "screening_number": "X"}, **headers),
            "unknown unit": client.post(
                f"/api/v1/participants/{pk}/labs/",
                {"analyte": "anc", "value": "2", "unit": "mg", "collected_on": "2026-03-02"},
                **headers,
            ),
            "not randomizable": client.post(f"/api/v1/participants/{pk}/randomize/", {}, **headers),
            "no such thing": client.get("/api/v1/no-such-thing/", **headers),
        }
    # then every message and label they get is Chinese
    report = {}
    for name, response in answers.items():
        texts = _messages(response.json())
        assert texts, name
        words = set().union(*(english_words(t) for t in texts))
        if words:
            report[name] = words
    assert not report, report
