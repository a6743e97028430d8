"""Template tags of the history pages (templates/simple_history/): see trialsite.history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

from trialsite import history, signatures
from trialsite.models import Signature

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


@register.simple_tag
def history_signatures(records: Any) -> dict[int, list[Signature]]:
    """The signatures of a page of history rows, by history id (one query for the page): those
    whose manifestation the rows' reasons may end with (signatures.history_signatures)."""
    rows = [r for r in records if r.history_change_reason]
    return {r.history_id: found for r, found in zip(rows, signatures.history_signatures(rows), strict=True)}


@register.simple_tag
def history_reason(record: Any, signed: dict[int, list[Signature]], obj: Any) -> str:
    """A change reason: typed text as typed, the system's English message id translated, a
    signature's manifestation said again from its Signature row (signatures.reason_text)."""
    text = record.history_change_reason
    if not text:
        return ""
    found = signed.get(record.history_id, [])
    said = signatures.reason_text(text, found, time_zone=signatures.site_time_zone(obj))
    return said if said != text else history.value_text(None, text, history.zone_for(None))


@register.simple_tag
def history_changes(record: Any, obj: Any) -> list[dict[str, str]]:
    return history.changes(record, history.zone_for(obj))
