"""Real threads against PostgreSQL: one release per sheet, one current sheet per cycle."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from dosing import services
from dosing.models import DoseSheet
from tests.dosing.conftest import DAY1, NOW
from tests.support.signatures import signed
from trialsite.errors import ApplicationError
from trialsite.models import Participant


def _race(workers: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = workers[i]()
        except ApplicationError as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_pharmacists_releasing_at_once_release_once(
    patient: Participant, pharmacist: Any, pharmacist2: Any, make_user: Any, site: Any, other_site: Any
) -> None:
    third = make_user("pharmacist", [site, other_site], username="pharmacist3")
    sheet = services.dose_sheet_prepare(
        by=None, participant=patient, phase="neoadjuvant", cycle_number=1, day1=DAY1, now=NOW
    )
    services.dose_sheet_verify(
        sheet=sheet, by=pharmacist, now=NOW, signature=signed(pharmacist, "verify_sheet", at=NOW)
    )
    results = _race(
        [
            lambda: services.dose_sheet_release(
                sheet=sheet, by=pharmacist2, now=NOW, signature=signed(pharmacist2, "release_sheet", at=NOW)
            ),
            lambda: services.dose_sheet_release(
                sheet=sheet, by=third, now=NOW, signature=signed(third, "release_sheet", at=NOW)
            ),
        ]
    )
    released = [r for r in results if isinstance(r, DoseSheet)]
    refused = [r for r in results if isinstance(r, ApplicationError)]
    assert len(released) == 1 and len(refused) == 1 and refused[0].code == "sheet_not_verified"
    sheet.refresh_from_db()
    assert sheet.status == "released" and sheet.released_by == released[0].released_by


@pytest.mark.django_db(transaction=True)
def test_concurrent_preparations_make_one_current_sheet(patient: Participant) -> None:
    def prepare() -> DoseSheet:
        return services.dose_sheet_prepare(
            by=None,
            participant=patient,
            phase="neoadjuvant",
            cycle_number=1,
            day1=DAY1,
            now=NOW + dt.timedelta(seconds=1),
        )

    results = _race([prepare, prepare, prepare])
    assert all(isinstance(r, DoseSheet) for r in results)
    assert len({r.pk for r in results}) == 1  # the others waited for the lock and found it unchanged
    assert DoseSheet.objects.filter(status__in=["prepared", "verified", "released"]).count() == 1
