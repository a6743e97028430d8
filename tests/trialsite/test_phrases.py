"""Stored phrases (trialsite.phrases): English in storage, the reader's language when shown."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.utils import translation

from trialsite import i18n
from trialsite.phrases import code, english, phrase, render, typed


def test_a_phrase_is_plain_json_and_said_in_the_readers_language() -> None:
    stored = phrase("visit moved")
    assert json.loads(json.dumps(stored)) == {"msgid": "visit moved"}
    with translation.override("zh-hans"):
        assert render(stored) == "访视已改期"
    assert english(stored) == "visit moved"


def test_code_parameters_are_translated_and_plain_ones_kept() -> None:
    stored = phrase("%(drug)s %(n)s", drug=code("drug", "capecitabine"), n=28)
    assert english(stored) == "capecitabine 28"
    with translation.override("zh-hans"):
        assert render(stored) == f"{i18n.drug_name('capecitabine')} 28"
        assert render(stored) != "capecitabine 28"


def test_typed_text_is_shown_as_typed_in_every_language() -> None:
    with translation.override("zh-hans"):
        assert render(typed("visit moved")) == "visit moved"
        assert render("older plain text") == "older plain text"
    assert render(None) == "" and render("") == ""


def test_an_unknown_kind_shows_the_code() -> None:
    assert render(code("unheard-of", "x1")) == "x1"


@pytest.mark.django_db
def test_a_withdrawal_reason_is_a_phrase_typed_reasons_stay_typed(participant: Any) -> None:
    import datetime as dt

    from trialsite import services
    from trialsite.admin import ParticipantAdmin

    now = dt.datetime(2026, 5, 4, 2, 0, tzinfo=dt.UTC)
    services.participant_record_death(
        participant=participant, died_on=dt.date(2026, 5, 2), by=None, now=now, today=dt.date(2026, 5, 4)
    )
    participant.refresh_from_db()
    # given the system's own reason, stored as a message id (English), said in the reader's language
    assert participant.withdrawal == {"msgid": "died"}
    assert participant.withdrawal_reason == "died"
    with translation.override("zh-hans"):
        shown = ParticipantAdmin.withdrawal_reason_text(None, participant)  # type: ignore[arg-type]
    assert shown == "死亡"
    # and a typed reason, kept as typed in every language
    participant.withdrawal = typed("died at home, says the family")
    with translation.override("zh-hans"):
        assert ParticipantAdmin.withdrawal_reason_text(None, participant) == "died at home, says the family"  # type: ignore[arg-type]
