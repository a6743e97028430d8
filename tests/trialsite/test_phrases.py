"""Stored phrases (trialsite.phrases): English in storage, the reader's language when shown."""

from __future__ import annotations

import json

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
