"""Finding one's way (issue 14), in a real browser: the landing page of a research nurse and of a
pharmacist, and the layout at 1366 px (a common hospital laptop width) in Simplified Chinese:
no page's main content scrolls sideways and no table header wraps one character a line.
Screenshots under var/e2e/."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from dosing import services as dosing
from dosing.models import DoseSheet
from schedules.models import ScheduledEvent
from schedules.services.plans import treatment_plan_create
from tests.e2e.conftest import ARTIFACTS, admin_login
from tests.factories import ParticipantFactory, record_labs
from trialsite import services
from trialsite.models import Participant, Site, StaffProfile, Trial

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _randomized(trial: Trial, site: Site, number: int, **kw: Any) -> Participant:
    participant = ParticipantFactory(trial=trial, site=site, **kw)
    Participant.objects.filter(pk=participant.pk).update(
        status="randomized", arm="experimental", randomization_number=number, randomized_at=timezone.now()
    )
    participant.refresh_from_db()
    return participant


def _inputs(participant: Participant, today: dt.date, *, platelets: str = "150") -> None:
    for kind, value in (("height", "180"), ("weight", "80")):
        services.measurement_record(
            participant=participant, kind=kind, value=value, measured_on=today, by=None, today=today
        )
    record_labs(participant, {"creatinine": "80", "anc": "2.0", "platelets": platelets}, on=today)


def _start_date(today: dt.date) -> dt.date:
    """Today on Monday to Thursday (fractions today and tomorrow), else the next Monday."""
    return today if today.weekday() <= 3 else today + dt.timedelta(days=7 - today.weekday())


@pytest.fixture
def busy_site(trial: Trial, site: Site, nurse: User) -> dict[str, Any]:
    """A planned participant (SCRT from today), an eligible one, two dose sheets (one blocked)."""
    today = timezone.localdate()
    planned = _randomized(trial, site, 1, full_name="王立新")
    treatment_plan_create(participant=planned, scrt_start_date=_start_date(today), by=nurse, now=timezone.now())
    eligible = ParticipantFactory(trial=trial, site=site, status="eligible", full_name="李秀英")
    ready = _randomized(trial, site, 2, full_name="黄建国")
    _inputs(ready, today)
    stuck = _randomized(trial, site, 3, full_name="赵敏")
    _inputs(stuck, today, platelets="90")
    sheets = [
        dosing.dose_sheet_prepare(
            participant=p,
            phase="neoadjuvant",
            cycle_number=1,
            day1=today + dt.timedelta(days=1),
            now=timezone.now(),
            by=None,
        )
        for p in (ready, stuck)
    ]
    return {"today": today, "planned": planned, "eligible": eligible, "ready": sheets[0], "stuck": sheets[1]}


def test_a_nurse_lands_on_her_worklist(page: Any, live_server: Any, nurse: User, busy_site: dict[str, Any]) -> None:
    StaffProfile.objects.create(user=nurse, language="zh-hans")
    admin_login(page, live_server, "nurse")
    page.wait_for_selector("#worklist")
    visits = page.inner_text("#worklist-visits")
    planned = busy_site["planned"]
    if _start_date(busy_site["today"]) == busy_site["today"]:
        assert planned.screening_number in visits and "今天" in visits and "明天" in visits
    waiting = page.inner_text("#worklist-waiting_randomization")
    assert busy_site["eligible"].screening_number in waiting
    assert page.query_selector("#worklist-sheets_to_verify") is None  # not a nurse's section
    # the worklist leads to the site calendar's month view
    page.click("#worklist .worklist-links a[href$='view=month']")
    page.wait_for_selector("#site-month")
    assert page.locator("#site-month .day-number").count() >= 28


def test_a_pharmacist_lands_on_hers(page: Any, live_server: Any, pharmacist: User, busy_site: dict[str, Any]) -> None:
    StaffProfile.objects.create(user=pharmacist, language="zh-hans")
    admin_login(page, live_server, "pharmacist")
    page.wait_for_selector("#worklist")
    ready, stuck = busy_site["ready"], busy_site["stuck"]
    assert ready.participant.screening_number in page.inner_text("#worklist-sheets_to_verify")
    blocked = page.inner_text("#worklist-sheets_blocked")
    assert stuck.participant.screening_number in blocked
    assert "第1天标准未达到" in blocked or "未达到" in blocked  # why, in Chinese
    assert page.query_selector("#worklist-visits") is None
    # a row leads to the sheet, where she verifies it
    page.click(f"#worklist-sheets_to_verify a[href$='/dosing/dosesheet/{ready.pk}/change/']")
    page.wait_for_selector("button[name=verify]")
    page.fill("#id_signature_password", "pw-for-tests-1")  # the signature (trialsite.signatures)
    page.click("button[name=verify]")
    page.wait_for_selector(".messagelist")
    assert DoseSheet.objects.get(pk=ready.pk).status == "verified"


OVERFLOW = r"""() => {
  const main = document.querySelector('#content') || document.querySelector('main');
  const right = main.getBoundingClientRect().right + 1;
  const tables = [...main.querySelectorAll('table')].filter(t => t.getBoundingClientRect().right > right)
    .map(t => t.id || t.className || t.querySelector('th')?.innerText || 'table');
  // A header "wraps inside a word" when one of its words (a text without spaces: a Chinese
  // label is one) spans more than one line.
  const split = node => {
    const range = document.createRange();
    range.selectNodeContents(node);
    return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size > 1;
  };
  const letterByLetter = [];
  for (const th of main.querySelectorAll('th')) {
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent.trim();
      if (text.length >= 2 && !/\s/.test(text) && split(node)) letterByLetter.push(text);
    }
  }
  return {scroll: main.scrollWidth, client: main.clientWidth,
          page: document.documentElement.scrollWidth, viewport: window.innerWidth, tables, letterByLetter};
}"""


def test_pages_fit_1366_px_in_chinese(
    browser: Any, live_server: Any, trial: Trial, site: Site, nurse: User, busy_site: dict[str, Any]
) -> None:
    # given a Chinese-speaking superuser (every page) on a 1366 × 768 screen
    chief = User.objects.create_superuser("chief", "chief@example.org", "pw-for-tests-1")
    StaffProfile.objects.create(user=chief, language="zh-hans")
    planned, ready = busy_site["planned"], busy_site["ready"]
    # many lab rows on the participant's page
    record_labs(ready.participant, {"alt": "30", "ast": "30", "total_bilirubin": "10"}, on=busy_site["today"])
    event = ScheduledEvent.objects.filter(participant=planned).order_by("order").first()
    assert event is not None
    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(15_000)
    admin_login(page, live_server, "chief")
    pages = {
        "index": "/admin/",
        "participant": f"/admin/trialsite/participant/{ready.participant.pk}/change/",
        "timeline": f"/admin/schedules/treatmentplan/participant/{planned.pk}/timeline/",
        "dose_sheet_queue": "/admin/dosing/dosesheet/?due=all",
        "dose_sheet": f"/admin/dosing/dosesheet/{ready.pk}/change/",
        "calendar_week": "/admin/schedules/treatmentplan/site-calendar/?view=week",
        "calendar_month": "/admin/schedules/treatmentplan/site-calendar/?view=month",
        "randomize_list": "/admin/randomization/participanttorandomize/",
        "events": "/admin/schedules/scheduledevent/",
        "lab_results": "/admin/trialsite/labresult/",
    }
    problems = {}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        page.wait_for_selector("#content")
        # then the main content does not scroll sideways and no header wraps letter by letter
        found = page.evaluate(OVERFLOW)
        page.screenshot(path=str(ARTIFACTS / f"layout_1366_{name}.png"), full_page=True)
        if (
            found["scroll"] > found["client"]
            or found["page"] > found["viewport"]
            or found["tables"]
            or found["letterByLetter"]
        ):
            problems[name] = found
    context.close()
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)


SPLIT_LABELS = """() => {
  const split = node => {
    const range = document.createRange();
    range.selectNodeContents(node);
    return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size > 1;
  };
  const cells = [...document.querySelectorAll('.dose-sheet th, .dose-sheet .grid td:nth-child(odd)')];
  const out = [];
  for (const cell of cells) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent.trim();
      if (text.length >= 2 && split(node)) out.push(text);
    }
  }
  return {labels: cells.length, split: out};
}"""


def test_the_pdf_header_labels_stay_on_one_line_in_chinese(browser: Any, busy_site: dict[str, Any]) -> None:
    from django.utils import translation

    from dosing import pdf

    # given the A4 sheet's HTML (what WeasyPrint lays out) in Chinese, 186 mm wide (A4 less the
    # 12 mm margins) at 96 px an inch
    with translation.override("zh-hans"):
        html = pdf.render_sheet_html(busy_site["ready"])
    context = browser.new_context(locale="zh-CN", viewport={"width": 703, "height": 1000})
    page = context.new_page()
    page.set_content(html)
    found = page.evaluate(SPLIT_LABELS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "layout_dose_sheet_a4_zh.png"), full_page=True)
    context.close()
    # then no label of the header grid and no column header breaks over lines
    assert found["labels"] > 10
    assert not found["split"], found["split"]
