"""Template filters that show the protocol's codes in the reader's language:
`{% load trialsite_i18n %}{{ sheet.phase|phase_name }}`."""

from __future__ import annotations

from typing import Any

from django import template

from trialsite import i18n, phrases

register = template.Library()


@register.filter
def phase_name(code: str) -> str:
    return i18n.phase_name(code)


@register.filter
def drug_name(code: str) -> str:
    return i18n.drug_name(code)


@register.filter
def arm_name(code: str) -> str:
    return i18n.arm_name(code) if code else ""


@register.filter
def stored_text(value: Any) -> str:
    """A stored phrase (trialsite.phrases) in the reader's language, typed text as typed. Plain
    text that is a message id of the catalogue (a fixed wording the system stored, e.g. a dose
    level's label) is said in the reader's language too (i18n.translate_stored)."""
    if phrases.is_phrase(value):
        return phrases.render(value)
    return i18n.translate_stored(value) if value else ""


@register.filter
def oral_course(oral: dict[str, Any]) -> str:
    return i18n.oral_course(oral)
