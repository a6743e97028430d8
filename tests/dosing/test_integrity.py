"""A written dose sheet stays what it was (issue 12 §5, issue 13 "the immutability trigger covers
every column"): with the triggers on, the application role cannot change any column of a
released, superseded or void sheet; with them off (the superuser, replica mode), a sheet whose
content was changed is refused wherever it is served (API JSON, PDF even when cached, admin page)
and by verify_dose_sheets, loudly, without showing a dose."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, models, transaction
from django.test import Client
from rest_framework.test import APIClient

from dosing import receivers, services
from dosing.models import DoseSheet, SheetStatus
from dosing.services import sheets
from tests.dosing.conftest import SheetMaker, dose, randomize, record_inputs
from tests.factories import ParticipantFactory
from tests.support.signatures import signed
from trialsite import services as registry
from trialsite.models import Participant, Site
from trialsite.phrases import code, phrase

Api = Callable[[Any], APIClient]
FROZEN = r"cannot be edited|final|can only be superseded|only its supersession"


@pytest.fixture
def control_patient(participant: Participant) -> Participant:
    """Control arm, 170 cm / 70 kg: Mosteller BSA √(170·70/3600) = 1.82 m², capecitabine 1800 mg a
    dose (Xeloda EU SmPC §4.2 Table 2, 1000 mg/m²: band 1.79–1.92 m² → 1800 mg)."""
    randomize(participant, arm="control")
    record_inputs(participant, height="170", weight="70")
    return participant


@pytest.fixture
def released(
    control_patient: Participant, make_sheet: SheetMaker, pharmacist: User, pharmacist2: User, now: Any
) -> DoseSheet:
    sheet = make_sheet(control_patient)
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=now, signature=signed(pharmacist, "verify_sheet", at=now)
    )
    return services.dose_sheet_release(
        sheet=sheet, by=pharmacist2, now=now, signature=signed(pharmacist2, "release_sheet", at=now)
    )


def _another_sheet(trial: Any, site: Site, make_sheet: SheetMaker) -> DoseSheet:
    """A prepared sheet of a second participant with the same inputs."""
    other = randomize(ParticipantFactory(trial=trial, site=site), arm="control", number=2)
    record_inputs(other, height="170", weight="70")
    return make_sheet(other)


def _frozen_sheet(status: str, released: DoseSheet, make_sheet: SheetMaker, now: Any) -> DoseSheet:
    if status == SheetStatus.RELEASED:
        return released
    if status == SheetStatus.SUPERSEDED:
        # what a re-preparation does
        sheets._end(released, reason=phrase(receivers.END_NEW_RECORD, kind=code("recorded_data", "weight")), now=now)
        return DoseSheet.objects.get(pk=released.pk)
    other = _another_sheet(released.participant.trial, released.site, make_sheet)
    return services.dose_sheet_void(by=None, sheet=other, reason="entered in error", now=now)


def _other_value(sheet: DoseSheet, field: Any, users: list[User], site: Site, participant: Participant) -> Any:
    """A different, well-formed value for each column (so that only the trigger can refuse it)."""
    value = getattr(sheet, field.attname)
    if field.name == "status":
        return SheetStatus.PREPARED
    if isinstance(field, models.ForeignKey):
        target = field.related_model
        if target is Site:
            return site.pk
        if target is Participant:
            return participant.pk
        return next(u.pk for u in users if u.pk != value)
    if isinstance(field, models.BooleanField):
        return not value
    if isinstance(field, models.DateTimeField):
        return (value or dt.datetime(2026, 3, 1, tzinfo=dt.UTC)) + dt.timedelta(days=1)
    if isinstance(field, models.DateField):
        return value + dt.timedelta(days=1)
    if isinstance(field, models.DecimalField):
        return (value or Decimal(0)) + 1
    if isinstance(field, models.IntegerField):
        return value + 1
    if isinstance(field, models.JSONField):
        return json.dumps({**(value or {}), "tampered": True})
    if isinstance(field, models.CharField):
        return (value[:-1] + ("y" if value.endswith("x") else "x")) if value else "x"
    raise AssertionError(f"no other value for {field.name}")


@pytest.mark.parametrize("status", [SheetStatus.RELEASED, SheetStatus.SUPERSEDED, SheetStatus.VOID])
def test_the_application_role_cannot_change_any_column_of_a_frozen_sheet(
    status: str,
    released: DoseSheet,
    make_sheet: SheetMaker,
    now: Any,
    pharmacist: User,
    pharmacist2: User,
    investigator: User,
    other_site: Site,
    trial: Any,
    request: pytest.FixtureRequest,
) -> None:
    sheet = _frozen_sheet(status, released, make_sheet, now)
    someone_else = ParticipantFactory(trial=trial, site=other_site)
    users = [pharmacist, pharmacist2, investigator]
    request.getfixturevalue("as_app_role")
    # every column of the model, so that a column added later is held to this too
    columns = [f for f in DoseSheet._meta.concrete_fields if not f.primary_key]
    assert {"site", "cycle_seq", "cumulative_drug_mg_m2", "releasable", "ended_at", "end_reason", "prepared_by"} <= {
        f.name for f in columns
    }
    changed = []
    for field in columns:
        value = _other_value(sheet, field, users, other_site, someone_else)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE dosing_dosesheet SET {connection.ops.quote_name(field.column)} = %s WHERE id = %s",  # noqa: S608
                    [value, sheet.pk],
                )
        except DatabaseError as exc:
            assert any(word in str(exc) for word in FROZEN.split("|")), (field.name, exc)
        else:
            changed.append(field.name)
    assert changed == []
    # nor can it delete one
    with pytest.raises(DatabaseError, match="never deleted"), transaction.atomic():
        DoseSheet.objects.filter(pk=sheet.pk).delete()


def test_a_released_sheet_is_still_superseded_by_the_services(released: DoseSheet, as_app_role: str) -> None:
    # the one change a released sheet accepts: status, ended_at and end_reason, together
    on = dt.date(2026, 3, 2)
    registry.measurement_record(
        participant=released.participant, kind="weight", value="60", measured_on=on, by=None, today=on
    )
    old = DoseSheet.objects.get(pk=released.pk)
    assert old.status == SheetStatus.SUPERSEDED and old.ended_at is not None and old.end_reason
    new = DoseSheet.objects.get(participant=old.participant, cycle_number=1, status=SheetStatus.PREPARED)
    assert new.version == 2


# --- Content changed with the triggers off ---------------------------------------------------------


def _tamper_capecitabine(sheet: DoseSheet, mg: int) -> None:
    index = [d["drug"] for d in sheet.content["doses"]].index("capecitabine")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE dosing_dosesheet SET content = jsonb_set(content, %s, %s::jsonb) WHERE id = %s",
            [["doses", str(index), "dose_mg"], json.dumps(mg), sheet.pk],
        )
        cursor.execute("SET LOCAL session_replication_role = origin")


def _refused(response: Any, caplog: Any) -> None:
    assert response.status_code == 500
    assert b"3600" not in response.content and b"1800" not in response.content  # no dose at all
    assert any(r.levelname == "CRITICAL" and "does not match its fingerprint" in r.getMessage() for r in caplog.records)


def test_a_sheet_whose_content_changed_is_refused_by_the_api_and_the_pdf(
    released: DoseSheet, api: Api, pharmacist: User, caplog: Any
) -> None:
    assert dose(released, "capecitabine")["dose_mg"] == 1800
    client = api(pharmacist)
    pdf_before = client.get(f"/api/v1/dose-sheets/{released.pk}.pdf")  # rendered and cached
    assert pdf_before.status_code == 200 and client.get(f"/api/v1/dose-sheets/{released.pk}/").status_code == 200

    _tamper_capecitabine(released, 3600)

    for url in (
        f"/api/v1/dose-sheets/{released.pk}/",
        "/api/v1/dose-sheets/",
        f"/api/v1/dose-sheets/{released.pk}.pdf",
    ):
        caplog.clear()
        response = client.get(url)
        _refused(response, caplog)
        assert response.json()["code"] == "dose_sheet_integrity", url
    # the API client sees released sheets: it is refused too
    assert client.get(f"/api/v1/dose-sheets/{released.pk}/pdf/").status_code == 500


def test_a_sheet_whose_content_changed_is_refused_by_the_admin(
    released: DoseSheet, client: Client, pharmacist: User, caplog: Any
) -> None:
    client.force_login(pharmacist, backend="django.contrib.auth.backends.ModelBackend")
    assert b"1800" in client.get(f"/admin/dosing/dosesheet/{released.pk}/change/").content
    client.get(f"/admin/dosing/dosesheet/{released.pk}/pdf/")  # cached
    _tamper_capecitabine(released, 3600)
    for url in (f"/admin/dosing/dosesheet/{released.pk}/change/", f"/admin/dosing/dosesheet/{released.pk}/pdf/"):
        caplog.clear()
        page = client.get(url)
        _refused(page, caplog)
        assert b"dose_sheet_integrity" in page.content and b"failed its integrity check" in page.content


def test_a_sheet_whose_content_changed_cannot_be_verified_or_released(
    control_patient: Participant, make_sheet: SheetMaker, pharmacist: User, api: Api
) -> None:
    sheet = make_sheet(control_patient)
    _tamper_capecitabine(sheet, 3600)
    response = api(pharmacist).post(f"/api/v1/dose-sheets/{sheet.pk}/verify/")
    assert response.status_code == 500 and response.json()["code"] == "dose_sheet_integrity"
    assert DoseSheet.objects.get(pk=sheet.pk).status == SheetStatus.PREPARED


def test_verify_dose_sheets_finds_a_changed_sheet(
    released: DoseSheet, make_sheet: SheetMaker, capsys: pytest.CaptureFixture[str]
) -> None:
    _another_sheet(released.participant.trial, released.site, make_sheet)
    call_command("verify_dose_sheets")
    assert "OK — 2 dose sheets match their fingerprints" in capsys.readouterr().out
    _tamper_capecitabine(released, 3600)
    with pytest.raises(CommandError, match=rf"MISMATCH: 1 of 2 dose sheets .*: {released.pk}$"):
        call_command("verify_dose_sheets")
