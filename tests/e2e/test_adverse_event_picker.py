"""The CTCAE term picker in a real browser: a nurse working in Chinese finds a term by its
Chinese name or its MedDRA code, records the toxicity with its attribution, and a grade the term
does not define is refused on the form with everything she typed kept."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from adverse_events import ctcae, services
from adverse_events.models import AdverseEvent, Term
from adverse_events.selectors import participant_drugs
from tests.adverse_events.conftest import randomize
from tests.e2e.conftest import admin_login
from trialsite.models import Participant, StaffProfile

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def pick_term(page: Any, typed: str, expected: str) -> None:
    page.click("#id_term + .select2 .select2-selection")
    page.fill(".select2-search__field", typed)
    option = page.locator(".select2-results__option", has_text=expected)
    option.first.wait_for()
    option.first.click()


def test_a_nurse_finds_a_term_in_chinese_or_by_code_and_records_it(
    page: Any, live_server: Any, nurse: User, participant: Participant
) -> None:
    if not Term.objects.exists():  # a transactional test before this one emptied the table
        services.terms_load(specs=ctcae.read(ctcae.SHIPPED), source="shipped", by=None)
    treated = randomize(participant)
    first_drug = participant_drugs(treated)[0]
    StaffProfile.objects.create(user=nurse, language="zh-hans")
    admin_login(page, live_server, "nurse")
    page.goto(f"{live_server.url}/admin/adverse_events/adverseevent/add/")
    today = timezone.localdate().isoformat()

    page.select_option("#id_participant", str(treated.pk))
    # By the MedDRA code's beginning, then by the Chinese name.
    pick_term(page, "1002881", "恶心")
    assert "恶心 (10028813)" in page.inner_text("#id_term + .select2")
    page.fill("#id_grade", "4")  # Nausea has grades 1–3 only
    page.fill("#id_onset_date", today)
    page.select_option(f"#id_attribution_{first_drug}", "probable")
    page.click("input[name=_save]")

    page.wait_for_selector(".errorlist")
    assert "没有4级" in page.content()
    assert page.input_value("#id_onset_date") == today
    assert page.input_value(f"#id_attribution_{first_drug}") == "probable"
    assert not AdverseEvent.objects.exists()

    pick_term(page, "手足", "手足综合征")
    page.fill("#id_grade", "2")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    event = AdverseEvent.objects.get()
    assert (event.term.term, event.grade, event.recorded_by) == ("Palmar-plantar erythrodysesthesia syndrome", 2, nurse)
    assert dict(event.attributions.values_list("drug", "relatedness")) == {first_drug: "probable"}
