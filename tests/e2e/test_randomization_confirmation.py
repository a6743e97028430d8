"""Issue 17, the printable randomization confirmation, in a real browser: after randomizing, the
nurse lands on the one-page confirmation marked "original", prints it (the print button leaves
the printed page), downloads its A4 PDF, and any later opening says "copy"."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pypdf import PdfReader

from randomization import services as rs
from randomization.models import Allocation, ConfirmationPrint
from tests.e2e.conftest import ARTIFACTS, admin_login
from tests.factories import ParticipantFactory, record_labs
from tests.randomization.conftest import GOOD_LABS, good_findings
from trialsite import services
from trialsite.models import Site, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_randomize_then_print_the_original_and_see_copies(
    page: Any, live_server: Any, trial: Trial, site: Site, nurse: User, statistician: User
) -> None:
    today = timezone.localdate()
    rs.scheme_activate(scheme=rs.scheme_create(trial=trial, by=statistician), by=statistician, now=timezone.now())
    participant = ParticipantFactory(
        trial=trial, site=site, consent_date=today - dt.timedelta(days=2), full_name="陈静"
    )
    record_labs(participant, GOOD_LABS, on=today)
    services.measurement_record(
        participant=participant, kind="weight", value="61", measured_on=today, by=None, today=today
    )
    rs.screening_assessment_record(
        participant=participant, assessed_on=today, findings=good_findings(trial.definition), by=nurse, today=today
    )

    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/randomization/participanttorandomize/{participant.pk}/randomize/")
    page.check("#id_confirm")
    page.fill("#id_signature_password", "pw-for-tests-1")
    page.click("#content-main input[type=submit]")
    page.wait_for_selector("#original-mark")
    allocation = Allocation.objects.get(participant=participant)
    assert page.url.endswith(f"/participanttorandomize/{participant.pk}/confirmation/")
    text = page.inner_text("body")
    assert f"R{allocation.sequence}" in text and "陈静" in text and allocation.scheme.commitment in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "randomization_confirmation.png"), full_page=True)

    # The printed page has no buttons (print media), and fits one A4 page.
    assert page.locator(".print-button").is_visible()
    page.emulate_media(media="print")
    assert not page.locator(".print-button").is_visible()
    page.emulate_media(media="screen")

    pdf = page.request.get(
        f"{live_server.url}/admin/randomization/participanttorandomize/{participant.pk}/confirmation.pdf"
    )
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.body()))
    assert len(reader.pages) == 1
    assert "COPY 1" in " ".join(reader.pages[0].extract_text().split())  # the page was the original

    page.reload()
    page.wait_for_selector("#copy-mark")
    assert "2" in page.inner_text("#copy-mark")  # the third printing: COPY 2
    assert ConfirmationPrint.objects.filter(allocation=allocation).count() == 3
