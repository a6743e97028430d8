"""Messages in English and Simplified Chinese."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.utils import translation

from trialsite.models import Participant, ParticipantStatus

PO = Path(__file__).resolve().parents[2] / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def test_api_errors_follow_the_request_language(nurse: User, api: Any, participant: Participant) -> None:
    url = f"/api/v1/participants/{participant.pk}/measurements/"
    body = {"kind": "height", "value": "17.5", "measured_on": "2026-03-01"}

    english = api(nurse).post(url, body, HTTP_ACCEPT_LANGUAGE="en").json()
    chinese = api(nurse).post(url, body, HTTP_ACCEPT_LANGUAGE="zh-hans").json()

    assert english["errors"]["value"] == ["height (cm) must be between 100 and 230 cm."]
    assert chinese["errors"]["value"] == ["身高 (cm) 必须在 100 到 230 cm 之间。"]


def test_status_labels_are_translated() -> None:
    with translation.override("zh-hans"):
        assert str(ParticipantStatus.RANDOMIZED.label) == "已随机"
    with translation.override("en"):
        assert str(ParticipantStatus.RANDOMIZED.label) == "randomized"


def test_the_catalogue_has_no_untranslated_or_fuzzy_entries() -> None:
    text = PO.read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]  # the first block is the header
    untranslated = [e for e in entries if e.rstrip().endswith('msgstr ""') and "msgid_plural" not in e]
    fuzzy = [e for e in entries if "#, fuzzy" in e]
    assert not untranslated, untranslated[:5]
    assert not fuzzy, fuzzy[:5]
