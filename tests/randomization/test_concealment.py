"""Allocation concealment, scanned: for every role but the statistician, no API response and no
admin page contains the seed, block contents or sizes, minimization scores or draws. The
statistician's own pages are the positive control (the markers are real)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from randomization import services as rs
from randomization.models import Allocation, SchemeSecret
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import signed
from trialsite import roles
from trialsite.models import Site, Trial

# Keys of the allocation record's decision details and of the scheme's configuration that a
# non-statistician must never see (tests/randomization methods: minimization and blocks).
MARKERS = ["minimizing_arms", "chose_minimizing", "left_in_block", "new_block", "block_sizes"]


def _routes() -> list[str]:
    out: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                out.append(prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "")
    return [r for r in out if r.startswith("api/v1/")]


def _api_urls(ids: dict[str, Any]) -> list[str]:
    urls = []
    for route in _routes():
        url = "/" + route
        url = re.sub(r"<int:pk>", str(ids["participant"]), url)
        url = re.sub(r"<str:registry_id>|<registry_id>", ids["trial"], url)
        if "<" in url:
            continue  # other objects' ids: covered by the list endpoints
        urls.append(url)
    return urls


def _admin_urls() -> list[str]:
    urls = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        urls.append(base)
        for obj in model_admin.model._default_manager.all()[:3]:
            urls += [f"{base}{obj.pk}/change/", f"{base}{obj.pk}/history/"]
    return urls


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _text(response: Any) -> str:
    """The body as text; an Excel export (a zip) as the text of its cells, so the scan reads it."""
    if response.get("Content-Type") == XLSX:
        import io

        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(response.content))
        return "\n".join(str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row)
    return str(response.content.decode("utf-8", "replace"))


def _crawl(user: User, ids: dict[str, Any]) -> dict[str, str]:
    api = APIClient()
    api.force_authenticate(user)
    pages = {url: _text(api.get(url)) for url in _api_urls(ids)}
    browser = Client()
    browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    for url in _admin_urls():
        pages[url] = browser.get(url, follow=True).content.decode("utf-8", "replace")
    return pages


@pytest.mark.parametrize("method", ["minimization", "blocks"])
def test_no_page_shows_allocation_secrets_to_non_statisticians(
    method: str,
    trial: Trial,
    site: Site,
    statistician: User,
    nurse: User,
    make_user: Any,
    make_eligible: ParticipantMaker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    scheme = rs.scheme_activate(
        scheme=rs.scheme_create(trial=trial, by=statistician, overrides={"method": method, "block_sizes": [4, 6]}),
        by=statistician,
        now=NOW,
    )
    participants = [make_eligible() for _ in range(3)]
    for p in participants:
        rs.participant_randomize(participant=p, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW))
    seed = SchemeSecret.objects.get(scheme=scheme).seed().hex()
    ids = {"participant": participants[0].pk, "trial": trial.registry_id}
    markers = [seed, *MARKERS]

    for role in (roles.RESEARCH_NURSE, roles.PHARMACIST, roles.INVESTIGATOR, roles.API_CLIENT):
        user = nurse if role == roles.RESEARCH_NURSE else make_user(role, [site])
        for url, body in _crawl(user, ids).items():
            leaked = [m for m in markers if m in body]
            assert not leaked, f"{role} sees {leaked} at {url}"

    # Positive control: the statistician's allocation record does show the decision details.
    record = _crawl(statistician, ids)
    allocation_page = record[f"/admin/randomization/allocation/{Allocation.objects.first().pk}/change/"]  # type: ignore[union-attr]
    expected = "minimizing_arms" if method == "minimization" else "left_in_block"
    assert expected in allocation_page
    # …and so does the allocation record's export (CSV and ODM), which the others were refused.
    assert expected in record["/api/v1/trials/NCT06850103/allocations.csv"]
    assert expected in record["/api/v1/trials/NCT06850103/allocations.odm.xml"]
    assert any(url.startswith("/api/v1/exports/") and url.endswith(".xlsx") for url in record)
    assert seed not in "".join(record.values())  # not even the statistician's pages print the seed
    # …and no log line, at any level, carries it (activation, randomization and every page above).
    assert seed not in caplog.text
