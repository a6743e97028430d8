"""The datasets' exports, opened with the library that reads each format (csv, openpyxl): columns
and values, the site time zone, site isolation, identity and concealment, bad input."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.contrib.auth.models import User
from django.test import Client

from exports import datasets
from exports.tables import REGISTRY
from tests.randomization.conftest import NOW

pytestmark = pytest.mark.django_db

SHANGHAI_NOW = "2026-03-02T10:00:00+08:00"  # NOW (02:00 UTC) on the clinic's clock


def rows_of(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode())  # Excel needs the BOM to read Chinese names
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def sheet_of(body: bytes) -> list[dict[str, Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_participants_csv_in_site_time_with_only_the_users_sites(api: Any, nurse: User, world: dict[str, Any]) -> None:
    response = api(nurse).get("/api/v1/exports/participants.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="participants-')
    rows = rows_of(response.content)
    assert [r["screening_number"] for r in rows] == sorted(p.screening_number for p in world["ours"])
    assert "NBH2-HIDDEN" not in response.content.decode("utf-8-sig")
    first = next(r for r in rows if r["participant_id"] == str(world["ours"][0].pk))
    assert list(rows[0]) == [c.name for c in datasets.participants.columns]
    assert first["site"] == "ZJU1" and first["trial"] == "NCT06850103" and first["time_zone"] == "Asia/Shanghai"
    assert first["randomized_at"] == SHANGHAI_NOW
    assert first["status"] == "randomized" and first["randomization_number"] in ("1", "2")
    assert first["full_name"] == world["ours"][0].full_name  # staff see identity
    # Concealment: the participant's own arm, exactly as the API shows it to this nurse; nothing of
    # the allocation's decision (scores, draws, hashes) is in the export.
    shown = api(nurse).get(f"/api/v1/participants/{world['ours'][0].pk}/").json()
    assert first["arm"] == shown["arm"] != ""
    body = response.content.decode("utf-8-sig")
    assert not re.search(r"minimizing|draws|entry_hash|left_in_block|[0-9a-f]{64}", body)


def test_participants_xlsx_has_typed_cells_in_site_time(api: Any, nurse: User, world: dict[str, Any]) -> None:
    response = api(nurse).get("/api/v1/exports/participants.xlsx")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = sheet_of(response.content)
    assert {r["screening_number"] for r in rows} == {p.screening_number for p in world["ours"]}
    first = next(r for r in rows if r["participant_id"] == world["ours"][0].pk)
    assert first["randomized_at"] == dt.datetime(2026, 3, 2, 10, 0)  # Shanghai wall clock (Excel has no zones)
    assert first["time_zone"] == "Asia/Shanghai"
    assert first["birth_date"] == dt.datetime(1966, 5, 17)  # openpyxl reads dates back as datetimes


def test_a_site_filter_and_another_sites_nurse(api: Any, other_nurse: User, world: dict[str, Any]) -> None:
    theirs = rows_of(api(other_nurse).get("/api/v1/exports/participants.csv?site=NBH2").content)
    assert [r["screening_number"] for r in theirs] == ["NBH2-HIDDEN"]
    refused = api(other_nurse).get("/api/v1/exports/participants.csv?site=ZJU1")
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid" and "site" in refused.json()["errors"]
    for name in REGISTRY:
        body = api(other_nurse).get(f"/api/v1/exports/{name}.csv")
        if body.status_code == 200:
            assert not any(p.screening_number in body.content.decode("utf-8-sig") for p in world["ours"]), name


def test_visits_bookings_sheets_and_reminders(api: Any, nurse: User, investigator: User, world: dict[str, Any]) -> None:
    event, booking, sheet, reminder = world["event"], world["booking"], world["sheet"], world["reminder"]
    visits = rows_of(api(nurse).get("/api/v1/exports/visits.csv").content)
    row = next(r for r in visits if r["event_id"] == str(event.pk))
    assert (row["kind"], row["phase"], row["number"]) == ("cycle_day1", "neoadjuvant", "1")
    assert row["window_start"] == event.window_start.isoformat() and row["window_end"] == event.window_end.isoformat()
    assert row["planned_date"] == booking.date.isoformat() and row["actual_date"] == "" and row["status"] == "booked"

    [b] = rows_of(api(nurse).get("/api/v1/exports/bookings.csv").content)
    assert (b["booking_id"], b["event_id"], b["time"], b["status"]) == (
        str(booking.pk),
        str(event.pk),
        "09:30:00",
        "active",
    )
    assert b["created_by"] == "nurse" and b["uses_infusion_chair"] == "true"

    doses = rows_of(api(investigator).get("/api/v1/exports/dose_sheets.csv").content)
    assert {d["drug"] for d in doses} == {dose["drug"] for dose in sheet.content["doses"]}
    assert all(d["sheet_id"] == str(sheet.pk) and d["released_by"] == "pharmacist2" for d in doses)
    assert all(d["released_at"] == "2026-03-02T11:00:00+08:00" for d in doses)
    oral = [d for d in doses if d["tablets_500"]]
    assert oral and all(d["dose_status"] == "give" and d["dose_mg"] for d in oral)

    [m] = rows_of(api(nurse).get("/api/v1/exports/reminders.csv").content)
    assert (m["reminder_id"], m["status"], m["channel"]) == (str(reminder.pk), "sent", reminder.channel)
    assert m["sent_at"] == reminder.sent_at.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()


def test_roles_without_the_datasets_permission_are_refused(
    api: Any, pharmacist: User, api_client_user: User, world: Any
) -> None:
    refused = api(pharmacist).get("/api/v1/exports/reminders.csv")  # pharmacists do not see reminders
    assert refused.status_code == 403 and refused.json()["code"] == "role_required"
    assert api(api_client_user).get("/api/v1/exports/participants.csv").status_code == 403
    index = api(pharmacist).get("/api/v1/exports/").json()
    assert "reminders" not in {d["name"] for d in index} and "dose_sheets" in {d["name"] for d in index}


def test_identity_columns_only_for_readers_allowed_to_see_identity(nurse: User, api_client_user: User) -> None:
    assert {"full_name", "birth_date"} <= {c.name for c in datasets.participants.columns_for(nurse)}
    assert not {"full_name", "birth_date"} & {c.name for c in datasets.participants.columns_for(api_client_user)}


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/api/v1/exports/nothing.csv", 404, "unknown_export"),
        ("/api/v1/exports/participants.pdf", 400, "unknown_export_format"),
        ("/api/v1/exports/participants", 400, "unknown_export_format"),
        ("/api/v1/exports/../participants.csv", 404, "unknown_export"),
        ("/api/v1/exports/participants.csv?site=%00", 400, "invalid"),
    ],
)
def test_bad_input_answers_in_the_error_shape(api: Any, nurse: User, url: str, status: int, code: str) -> None:
    response = api(nurse).get(url, HTTP_ACCEPT="text/csv")
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == code and set(response.json()) >= {"code", "detail", "errors"}


def test_the_admin_action_exports_the_selection(client: Client, nurse: User, world: dict[str, Any]) -> None:
    client.force_login(nurse, backend="django.contrib.auth.backends.ModelBackend")
    chosen = world["ours"][0]
    response = client.post(
        "/admin/trialsite/participant/",
        {"action": "export_participants_csv", "_selected_action": [chosen.pk, world["theirs"].pk]},
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert [r["screening_number"] for r in rows_of(response.content)] == [chosen.screening_number]
    excel = client.post(
        "/admin/schedules/booking/", {"action": "export_bookings_xlsx", "_selected_action": [world["booking"].pk]}
    )
    assert [r["booking_id"] for r in sheet_of(excel.content)] == [world["booking"].pk]


def test_every_column_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Exports") :]
    for dataset in REGISTRY.values():
        assert f"`{dataset.name}`" in section, dataset.name
        for column in dataset.columns:
            assert f"`{column.name}`" in section, f"{dataset.name}.{column.name}"


def test_now_is_ten_in_shanghai() -> None:
    assert NOW.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat() == SHANGHAI_NOW


def test_the_dose_sheet_queue_links_to_its_export(client: Client, pharmacist: User, world: dict[str, Any]) -> None:
    client.force_login(pharmacist, backend="django.contrib.auth.backends.ModelBackend")
    queue = client.get("/admin/dosing/dosesheet/", {"due": "all"}).content.decode()
    assert 'href="/api/v1/exports/dose_sheets.csv"' in queue and 'href="/api/v1/exports/dose_sheets.xlsx"' in queue
    doses = rows_of(client.get("/api/v1/exports/dose_sheets.csv").content)  # the browser's session
    assert doses and {d["sheet_id"] for d in doses} == {str(world["sheet"].pk)}


def test_an_export_reads_in_a_few_queries_however_many_rows(
    api: Any, nurse: User, world: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    client = api(nurse)
    for name in REGISTRY:
        with django_assert_max_num_queries(5):  # token, roles, permissions, the rows (sites: a subquery)
            assert client.get(f"/api/v1/exports/{name}.csv").status_code == 200


def test_an_excel_file_too_large_is_refused_with_the_error_shape(
    api: Any, nurse: User, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from exports import selectors

    monkeypatch.setattr(selectors, "XLSX_MAX_ROWS", 1)
    refused = api(nurse).get("/api/v1/exports/participants.xlsx")
    assert refused.status_code == 400 and refused.json()["code"] == "export_too_large"
    assert api(nurse).get("/api/v1/exports/participants.csv").status_code == 200


def test_each_row_is_in_its_own_sites_time_zone(api: Any, other_nurse: User, world: dict[str, Any]) -> None:
    site = world["theirs"].site
    site.time_zone = "Europe/London"
    site.save(update_fields=["time_zone"])
    [row] = rows_of(api(other_nurse).get("/api/v1/exports/participants.csv").content)
    assert row["randomized_at"] == "2026-03-02T02:00:00+00:00" and row["time_zone"] == "Europe/London"
    [cell] = sheet_of(api(other_nurse).get("/api/v1/exports/participants.xlsx").content)
    assert cell["randomized_at"] == dt.datetime(2026, 3, 2, 2, 0)
