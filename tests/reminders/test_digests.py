"""Staff morning digests: what the nurses and pharmacists of a site get, once a day, after 07:00
in the site's time zone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from dosing import services as dosing
from reminders import digests
from reminders.models import StaffDigest
from schedules.models import TreatmentPlan
from tests.dosing.conftest import record_inputs
from tests.schedules.conftest import NOW
from trialsite.transports import OutgoingMessage, TemporaryTransportError

TUESDAY_0900 = dt.datetime(2026, 3, 3, 1, 0, tzinfo=dt.UTC)  # 09:00 Tuesday 3 March in Shanghai


class Outbox:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> str:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message)
        return "ok"


@pytest.fixture(autouse=True)
def _frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def staff(nurse: Any, pharmacist: Any) -> tuple[Any, Any]:
    for user, address in ((nurse, "nurse@example.org"), (pharmacist, "pharma@example.org")):
        user.email = address
        user.save(update_fields=["email"])
    return nurse, pharmacist


def _send(at: dt.datetime, outbox: Outbox) -> dict[str, int]:
    return digests.digests_send_due(now=at, get_transport=lambda channel: outbox)


def test_nurse_digest_lists_tomorrows_visits_once_a_day(plan: TreatmentPlan, staff: Any) -> None:
    outbox = Outbox()

    _send(TUESDAY_0900, outbox)
    _send(TUESDAY_0900 + dt.timedelta(minutes=15), outbox)  # the next beat tick

    [message] = [m for m in outbox.sent if m.to == "nurse@example.org"]
    assert "nurse digest for 2026-03-03" in message.subject
    tomorrow = message.body.split("Unbooked")[0]
    assert f"{plan.participant} SCRT fraction 1 2026-03-04" in tomorrow
    assert StaffDigest.objects.filter(user=staff[0], status="sent").count() == 1


def test_nothing_before_seven_in_the_sites_morning(plan: TreatmentPlan, staff: Any) -> None:
    outbox = Outbox()
    assert _send(dt.datetime(2026, 3, 2, 22, 59, tzinfo=dt.UTC), outbox)["sent"] == 0  # 06:59 Shanghai
    assert outbox.sent == []
    _send(dt.datetime(2026, 3, 2, 23, 0, tzinfo=dt.UTC), outbox)  # 07:00 Shanghai
    assert len([m for m in outbox.sent if m.to == "nurse@example.org"]) == 1


def test_closing_windows_and_overdue_labs(plan: TreatmentPlan, staff: Any) -> None:
    c1 = plan.events.get(kind="cycle_day1", phase="neoadjuvant", number=1)
    labs = plan.events.get(kind="pre_cycle_labs", phase="neoadjuvant", number=1)
    today = c1.window_end - dt.timedelta(days=2)
    assert labs.planned_date < today

    content = digests.nurse_digest(site=plan.participant.site, today=today)

    assert c1 in content.closing_unbooked
    assert labs in content.overdue_labs


def test_a_temporary_smtp_error_retries_at_the_next_tick(plan: TreatmentPlan, staff: Any) -> None:
    outbox = Outbox(TemporaryTransportError("421 busy"))
    _send(TUESDAY_0900, outbox)
    assert StaffDigest.objects.get(user=staff[0]).status == "pending"
    _send(TUESDAY_0900 + dt.timedelta(minutes=15), outbox)
    assert StaffDigest.objects.get(user=staff[0]).status == "sent"


def test_pharmacist_digest_lists_unreleased_sheets_due_within_3_days(
    plan: TreatmentPlan, staff: Any, now: dt.datetime
) -> None:
    participant = plan.participant
    record_inputs(participant)
    sheet = dosing.dose_sheet_prepare(
        by=None, participant=participant, phase="neoadjuvant", cycle_number=1, day1=dt.date(2026, 3, 5), now=now
    )
    outbox = Outbox()

    _send(TUESDAY_0900, outbox)

    [message] = [m for m in outbox.sent if m.to == "pharma@example.org"]
    assert f"{participant} neoadjuvant C1 day 1 2026-03-05" in message.body
    assert sheet.get_status_display() in message.body


def test_a_digest_left_sending_by_a_dead_worker_is_sent_after_its_lease(plan: TreatmentPlan, staff: Any) -> None:
    class Dies(Outbox):
        def send(self, message: OutgoingMessage) -> str:
            raise SystemExit  # the worker is killed while the email is on its way

    # given a tick whose worker dies in the middle of the nurse's digest: the row stays `sending`
    with pytest.raises(SystemExit):
        _send(TUESDAY_0900, Dies())
    row = StaffDigest.objects.get(user=staff[0])
    assert row.status == "sending" and row.lease_until == TUESDAY_0900 + digests.DIGEST_LEASE
    outbox = Outbox()

    # then a tick within the lease leaves it alone (the send may still be running) ...
    _send(TUESDAY_0900 + digests.DIGEST_LEASE - dt.timedelta(seconds=1), outbox)
    assert [m for m in outbox.sent if m.to == "nurse@example.org"] == []

    # ... and the first tick after it sends it, once
    _send(TUESDAY_0900 + digests.DIGEST_LEASE + dt.timedelta(seconds=1), outbox)
    _send(TUESDAY_0900 + digests.DIGEST_LEASE + dt.timedelta(minutes=15), outbox)
    assert len([m for m in outbox.sent if m.to == "nurse@example.org"]) == 1
    row.refresh_from_db()
    assert (row.status, row.lease_until) == ("sent", None)
