"""The history pages and the confirmation pages of issue 14, scanned for English left behind,
for a Chinese-speaking reader (the same journey and rules as test_i18n_scan)."""

from __future__ import annotations

import re

import time_machine
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin

from schedules.models import EventKind, ScheduledEvent
from tests.support.i18n import english_words, visible_text
from tests.trialsite.test_i18n_scan import (  # noqa: F401  (journey is a fixture)
    NOW,
    PAGE_ALLOWED,
    PROJECT_APPS,
    _chinese_superuser,
    journey,
)
from trialsite.models import Participant

# Stored values that are codes or identifiers, not words: a history row shows each field.
HISTORY_ALLOWED = frozenset({"dev", "grade", "ratio", "sha256", "json"})
# A past version of the trial shows its stored fields, among them the registry's English title
# (source data, as on the protocol-version page the main scan excludes).
# A site's version page shows its English name beside the Chinese one (as the sites' list,
# which the main scan excludes for the same reason).
EXCLUDED = (r"^/admin/trialsite/trial/\d+/history/\d+/$", r"^/admin/trialsite/site/\d+/history/\d+/$")


def _words(url: str, html: str) -> set[str]:
    allowed = frozenset().union(HISTORY_ALLOWED, *(w for p, w in PAGE_ALLOWED.items() if re.match(p, url)))
    return english_words(visible_text(html), allowed)


def test_history_pages_read_in_chinese(journey: Participant) -> None:  # noqa: F811
    user = _chinese_superuser()
    client = Client()
    client.force_login(user)
    report: dict[str, set[str]] = {}
    opened = 0
    with time_machine.travel(NOW, tick=False):
        for model, model_admin in admin.site._registry.items():
            meta = model._meta
            if meta.app_label not in PROJECT_APPS or not isinstance(model_admin, SimpleHistoryAdmin):
                continue
            obj = model._default_manager.order_by("-pk").first()
            if obj is None:
                continue
            base = f"admin:{meta.app_label}_{meta.model_name}"
            urls = [reverse(f"{base}_history", args=[obj.pk])]
            first = obj.history.order_by("history_id").first()  # type: ignore[attr-defined]
            if first is not None:
                urls.append(reverse(f"{base}_simple_history", args=[obj.pk, first.history_id]))
            for url in urls:
                response = client.get(url)
                assert response.status_code == 200, url
                opened += 1
                html = response.content.decode()
                assert "Revert" not in html and 'name="_save"' not in html, url
                words = set() if any(re.match(p, url) for p in EXCLUDED) else _words(url, html)
                if words:
                    report[url] = words
    assert opened > 20
    assert not report, "\n".join(f"{url}: {' '.join(sorted(words))}" for url, words in report.items())


def test_confirmation_pages_read_in_chinese(journey: Participant) -> None:  # noqa: F811
    user = _chinese_superuser()
    client = Client()
    client.force_login(user)
    fraction = ScheduledEvent.objects.get(participant=journey, kind=EventKind.SCRT_FRACTION, number=1)
    with time_machine.travel(NOW, tick=False):
        pages = {
            "withdraw": client.post(
                "/admin/trialsite/participant/", {"action": "withdraw_selected", "_selected_action": [journey.pk]}
            ),
            "actual date": client.post(
                reverse("admin:schedules_timeline", args=[journey.pk]),
                {"action": "actual", "event": fraction.pk, "actual_date": "2026-03-02"},
            ),
        }
    report = {}
    for name, response in pages.items():
        assert response.status_code == 200 and 'name="confirm_submit"' in response.content.decode(), name
        words = _words(name, response.content.decode())
        if words:
            report[name] = words
    assert not report, report
