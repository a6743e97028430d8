"""Template tags of the history pages (templates/simple_history/): see trialsite.history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

from trialsite import history, signatures

register = template.Library()


@register.simple_tag
def history_zone(obj: Any) -> str:
    return str(history.zone_for(obj))


@register.simple_tag
def history_moment(value: dt.datetime, obj: Any) -> str:
    return history.moment(value, history.zone_for(obj))


@register.filter
def history_person(user: Any) -> str:
    return history.person(user)


@register.filter
def history_reason(text: str | None) -> str:
    """A change reason: typed text as typed, the system's English phrase translated (a
    signature's manifestation too)."""
    if not text:
        return ""
    signed = signatures.reason_text(text)
    return signed if signed != text else history.value_text(None, text, history.zone_for(None))


@register.simple_tag
def history_changes(record: Any, obj: Any) -> list[dict[str, str]]:
    return history.changes(record, history.zone_for(obj))
