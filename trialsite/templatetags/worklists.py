"""`{% worklist_sections as sections %}`: the signed-in user's worklist sections (trialsite/worklists.py)
with their rows, for the admin's index (the landing page after login)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from trialsite import clock, worklists

register = template.Library()


@register.simple_tag(takes_context=True)
def worklist_sections(context: dict[str, Any]) -> list[dict[str, Any]]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    out = []
    for section, rows in worklists.build(user, today=clock.today()):
        try:
            more = reverse(section.more_url) + section.more_query if section.more_url else ""
        except NoReverseMatch:
            more = ""
        out.append({"section": section, "rows": rows, "more": more})
    return out
