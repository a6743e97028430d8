"""The history pages read as an audit trail (issue 14): times in the site's time zone, people by
name ("system" when none acted), field names and values in the reader's language, every value in
full, and no revert button (the records are written through the services)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client

from schedules.models import ScheduledEvent, TreatmentPlan
from schedules.services.actual_dates import event_record_actual
from tests.schedules.conftest import NOW
from trialsite import history
from trialsite import services as registry
from trialsite.models import StaffProfile

D = dt.date


@pytest.fixture
def zh_nurse(nurse: User) -> Client:
    StaffProfile.objects.create(user=nurse, language="zh-hans")
    User.objects.filter(pk=nurse.pk).update(first_name="芳", last_name="林")
    client = Client()
    client.force_login(nurse, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_an_events_history_in_chinese(plan: TreatmentPlan, nurse: User, zh_nurse: Client) -> None:
    fraction = ScheduledEvent.objects.get(plan=plan, kind="scrt_fraction", number=1)
    event_record_actual(event=fraction, actual_date=D(2026, 3, 4), by=nurse, today=D(2026, 3, 4), confirm=True)
    event_record_actual(
        event=fraction, actual_date=D(2026, 3, 3), by=nurse, today=D(2026, 3, 4), confirm=True, reason="录入错误"
    )
    corrected = fraction.history.filter(history_change_reason="录入错误").order_by("history_id").first()
    assert corrected is not None
    page = zh_nurse.get(f"/admin/schedules/scheduledevent/{fraction.pk}/history/").content.decode()
    # The time in Shanghai (UTC+8, no daylight saving time), whatever the server's zone.
    shanghai = corrected.history_date.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert shanghai.strftime("%Y-%m-%d %H:%M:%S") in page and "Asia/Shanghai" in page
    assert "芳 林" in page  # the person, by name (Django's full name: first, last)
    assert "系统" in page  # the plan's first rows, written by no person
    assert "Deleted user" not in page and "pk=None" not in page
    assert "录入错误" in page  # the reason, as typed
    assert "实际日期" in page and "2026-03-04" in page and "2026-03-03" in page  # field name translated, values
    assert "已完成" in page and ">done<" not in page  # the status by its label
    assert "Revert" not in page and "还原" not in page and "恢复" not in page

    version = fraction.history.order_by("history_id").first()
    assert version is not None
    form = zh_nurse.get(f"/admin/schedules/scheduledevent/{fraction.pk}/history/{version.history_id}/").content.decode()
    assert 'name="_save"' not in form and "Revert" not in form


def test_long_text_is_shown_in_full(plan: TreatmentPlan, nurse: User, zh_nurse: Client) -> None:
    reason = "患者电话告知撤回知情同意，" * 20  # 260 characters, beyond simple-history's 100 shortening
    registry.participant_withdraw(participant=plan.participant, reason=reason, by=nurse, now=NOW)
    page = zh_nurse.get(f"/admin/trialsite/participant/{plan.participant_id}/history/").content.decode()
    assert reason in page
    assert "2026-03-02 09:00:00" in page  # withdrawn_at (01:00 UTC) in Shanghai time


def test_values_read_in_the_readers_language() -> None:
    from django.utils import translation

    field = ScheduledEvent._meta.get_field("status")
    zone = history.zone_for(None)
    with translation.override("zh-hans"):
        assert history.value_text(field, "done", zone) != "done"
        assert history.value_text(None, None, zone) == "—"
        assert history.person(None) == "系统"
        assert history.value_text(None, dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC), zone) == "2026-03-02 09:00:00"
        assert history.value_text(None, True, zone) != "True"
