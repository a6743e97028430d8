"""Saved measurements and lab results are read-only on the participant's page; a wrong one is
marked entered in error with a reason, and the right value is a new row; both stay in the
history (issue 14)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from tests.trialsite.test_admin import _change_form
from tests.trialsite.test_api_plausibility import NOW
from trialsite import selectors, services
from trialsite.errors import Conflict, InvalidInput, NotFound, NotPermitted
from trialsite.models import LabResult, Measurement, Participant


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def login(client: Client, user: User) -> Client:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def weight(participant: Participant, nurse: User) -> Measurement:
    return services.measurement_record(
        participant=participant, kind="weight", value="62", measured_on=NOW.date(), by=nurse, today=NOW.date()
    )


@pytest.fixture
def creatinine(participant: Participant, nurse: User) -> LabResult:
    row = services.lab_result_record(
        participant=participant,
        analyte="creatinine",
        value="80",
        unit="umol/L",
        collected_on=NOW.date(),
        by=nurse,
        today=NOW.date(),
    )
    assert isinstance(row, LabResult)
    return row


def page_of(client: Client, participant: Participant) -> str:
    return client.get(f"/admin/trialsite/participant/{participant.pk}/change/").content.decode()


def test_saved_rows_are_not_inputs_and_new_rows_are(
    client: Client, nurse: User, participant: Participant, weight: Measurement, creatinine: LabResult
) -> None:
    page = page_of(login(client, nurse), participant)

    # Row 0 is the saved one: shown, not offered as an input; row 1 is the empty new row.
    assert 'name="measurements-0-value"' not in page and 'name="measurements-1-value"' in page
    assert 'name="lab_results-0-value"' not in page and 'name="lab_results-1-value"' in page
    assert "62.00" in page and "80.000" in page
    assert f"/entered-in-error/measurement/{weight.pk}/" in page
    assert f"/entered-in-error/lab/{creatinine.pk}/" in page


def test_a_value_posted_for_a_saved_row_changes_nothing(
    client: Client, nurse: User, participant: Participant, weight: Measurement
) -> None:
    form = _change_form(
        participant,
        **{
            "measurements-TOTAL_FORMS": "1",
            "measurements-INITIAL_FORMS": "1",
            "measurements-0-id": str(weight.pk),
            "measurements-0-participant": str(participant.pk),
            "measurements-0-kind": "weight",
            "measurements-0-value": "75",
            "measurements-0-measured_on": NOW.date().isoformat(),
        },
    )
    login(client, nurse).post(f"/admin/trialsite/participant/{participant.pk}/change/", form)

    weight.refresh_from_db()
    assert weight.value == Decimal("62.00")
    assert Measurement.objects.count() == 1


def test_entered_in_error_with_a_reason_then_the_right_value(
    client: Client, nurse: User, participant: Participant, weight: Measurement
) -> None:
    login(client, nurse)
    url = f"/admin/trialsite/participant/{participant.pk}/entered-in-error/measurement/{weight.pk}/"

    # given: no reason, nothing changes
    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 200 and "This field is required." in refused.content.decode()
    weight.refresh_from_db()
    assert not weight.entered_in_error

    # when: a reason
    done = client.post(url, {"reason": "weighed with coat and boots"})
    assert done.status_code == 302 and done["Location"].endswith(f"/{participant.pk}/change/#measurements-group")
    weight.refresh_from_db()
    assert weight.entered_in_error and weight.error_reason == "weighed with coat and boots"
    assert selectors.latest_measurement(participant, "weight") is None

    # then: the right value as a new row; both stay, the flagged one with its reason
    form = _change_form(
        participant,
        **{
            "measurements-TOTAL_FORMS": "2",
            "measurements-INITIAL_FORMS": "1",
            "measurements-0-id": str(weight.pk),
            "measurements-0-participant": str(participant.pk),
            "measurements-1-kind": "weight",
            "measurements-1-value": "60.5",
            "measurements-1-measured_on": NOW.date().isoformat(),
        },
    )
    assert client.post(f"/admin/trialsite/participant/{participant.pk}/change/", form).status_code == 302
    latest = selectors.latest_measurement(participant, "weight")
    assert latest is not None and latest.value == Decimal("60.50")
    assert Measurement.objects.count() == 2
    page = page_of(client, participant)
    assert "weighed with coat and boots" in page and "60.50" in page
    # the history keeps the value as recorded and the flag
    assert [h.entered_in_error for h in weight.history.order_by("history_id")] == [False, True]
    assert client.post(url, {"reason": "again"}).status_code == 200  # already marked: said, not repeated


def test_a_lab_result_is_corrected_the_same_way(
    client: Client, nurse: User, participant: Participant, creatinine: LabResult
) -> None:
    url = f"/admin/trialsite/participant/{participant.pk}/entered-in-error/lab/{creatinine.pk}/"
    assert login(client, nurse).post(url, {"reason": "sample of another patient"}).status_code == 302
    creatinine.refresh_from_db()
    assert creatinine.entered_in_error and selectors.latest_labs(participant) == {}


def test_only_roles_that_record_values_at_the_site_may_correct_them(
    client: Client, pharmacist: User, other_nurse: User, participant: Participant, weight: Measurement
) -> None:
    url = f"/admin/trialsite/participant/{participant.pk}/entered-in-error/measurement/{weight.pk}/"
    assert login(client, pharmacist).post(url, {"reason": "x"}).status_code == 403
    assert login(Client(), other_nurse).post(url, {"reason": "x"}).status_code == 404
    with pytest.raises(NotPermitted):
        services.record_mark_entered_in_error(record=weight, reason="x", by=pharmacist)
    with pytest.raises(NotFound):
        services.record_mark_entered_in_error(record=weight, reason="x", by=other_nurse)
    with pytest.raises(InvalidInput):
        services.record_mark_entered_in_error(record=weight, reason="  ", by=None)
    weight.refresh_from_db()
    assert not weight.entered_in_error


def test_marking_twice_is_refused(participant: Participant, nurse: User, weight: Measurement) -> None:
    services.record_mark_entered_in_error(record=weight, reason="wrong scale", by=nurse)
    with pytest.raises(Conflict):
        services.record_mark_entered_in_error(record=weight, reason="again", by=nurse)
    weight.refresh_from_db()
    assert weight.error_reason == "wrong scale"


def test_the_list_action_asks_for_the_reason_one_value_at_a_time(
    client: Client, nurse: User, participant: Participant, weight: Measurement
) -> None:
    response = login(client, nurse).post(
        "/admin/trialsite/measurement/", {"action": "mark_entered_in_error", "_selected_action": [weight.pk]}
    )
    assert response.status_code == 302 and response["Location"].endswith(f"/measurement/{weight.pk}/")
    weight.refresh_from_db()
    assert not weight.entered_in_error
