"""Rows that only services write (records, allocations, sheets, calendars, reminders) have admin
pages that show them and edit nothing: a field swapped for a translated display column must also
leave the form, or the raw field comes back as an input."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import RequestFactory

from adverse_events.models import SaeAlert, Term
from dosing.models import DoseSheet, RenalDecision
from randomization.models import Allocation
from reminders.models import Reminder, StaffDigest
from schedules.models import Booking, ScheduledEvent, TreatmentPlan
from trialsite.models import LabResult, Measurement, ProtocolVersion

SERVICE_WRITTEN: list[type[Model]] = [
    ProtocolVersion,
    Measurement,
    LabResult,
    Allocation,
    DoseSheet,
    RenalDecision,
    TreatmentPlan,
    ScheduledEvent,
    Booking,
    Reminder,
    StaffDigest,
    Term,
    SaeAlert,
]


@pytest.mark.parametrize("model", SERVICE_WRITTEN, ids=lambda m: m._meta.label)
def test_the_change_form_of_a_service_written_row_has_no_input(model: type[Model], db: Any) -> None:
    request = RequestFactory().get("/")
    request.user = User(is_superuser=True, is_staff=True)
    form = admin.site._registry[model].get_form(request, None, change=True)
    assert list(form.base_fields) == []
