"""How the audit trail (django-simple-history's history pages) reads: times in the record's site's
time zone, people by name ("system" when no person acted), field names and values in the reader's
language (choices by their label, protocol codes by their name, stored phrases in the reader's
language, typed text as typed), and every value in full. Presentation only: which
records a user may see, and that nothing is reverted, are the admin's and the services' concern.

Used by the templates in templates/simple_history/ through trialsite.templatetags.history_display."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from simple_history.models import DeletedObject

from trialsite import i18n, phrases

EMPTY = "—"
# Stored protocol codes shown by their name in the reader's language.
CODE_NAMES = {"arm": i18n.arm_name, "phase": i18n.phase_name, "drug": i18n.drug_name}


def person(user: Any) -> str:
    """A person's name as staff know it; "system" for a write no person made (a task, a signal)."""
    if user is None or (isinstance(user, DeletedObject) and user.pk is None):
        return _("system")
    if isinstance(user, DeletedObject):
        return _("former user (id %(pk)s)") % {"pk": user.pk}
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return str(full or getattr(user, "username", user))


def zone_for(obj: Any) -> ZoneInfo:
    """The time zone of the record's site (the record itself, its `site` or its participant's),
    else the project's (settings.TIME_ZONE)."""
    for candidate in (obj, getattr(obj, "site", None), getattr(getattr(obj, "participant", None), "site", None)):
        name = getattr(candidate, "time_zone", None)
        if isinstance(name, str) and name:
            try:
                return ZoneInfo(name)
            except (KeyError, ValueError):
                break
    return ZoneInfo(settings.TIME_ZONE)


def moment(value: dt.datetime, zone: ZoneInfo) -> str:
    return timezone.localtime(value, zone).strftime("%Y-%m-%d %H:%M:%S")


def value_text(field: models.Field[Any, Any] | None, value: Any, zone: ZoneInfo) -> str:
    """One stored value, in full, as the reader should see it."""
    if isinstance(value, DeletedObject):
        return EMPTY if value.pk is None else _("deleted record (id %(pk)s)") % {"pk": value.pk}
    if value is None or value == "":
        return EMPTY
    if isinstance(value, AbstractBaseUser):
        return person(value)
    if phrases.is_phrase(value):
        return phrases.render(value)
    if field is not None and field.name in CODE_NAMES and isinstance(value, str):
        return CODE_NAMES[field.name](value)
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.datetime):
        return moment(value, zone)
    if isinstance(value, dt.date):
        return value.isoformat()
    if phrases.is_phrase(value):
        return phrases.render(value)  # a stored phrase (a reason): in the reader's language
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, cls=DjangoJSONEncoder)
    if isinstance(value, str):
        return _plain_text(field, value)
    return str(value)


def _plain_text(field: models.Field[Any, Any] | None, value: str) -> str:
    """Plain text as stored: the registry stores its own words as phrases (above), so its text is
    typed text. The other apps store a sentence with parameters as a phrase too; a fixed one (a
    dose level's label, a change reason the system wrote) may be its message id, said in the
    reader's language (i18n.translate_stored); other text is shown as stored."""
    model = getattr(field, "model", None)
    if model is not None and model._meta.app_label == "trialsite":
        return value
    return i18n.translate_stored(value)


def field_label(model: type[models.Model], name: str) -> str:
    try:
        field = model._meta.get_field(name)
    except Exception:  # a field the model no longer has
        return name
    return str(capfirst(getattr(field, "verbose_name", name)))


def changes(record: Any, zone: ZoneInfo) -> list[dict[str, str]]:
    """What this history row changed against the one before it: [{field, old, new}], in full."""
    previous = record.prev_record
    if previous is None:
        return []
    model = record.instance_type
    delta = record.diff_against(previous, foreign_keys_are_objs=True)
    out = []
    for change in delta.changes:
        try:
            field: Any = model._meta.get_field(change.field)
        except Exception:
            field = None
        out.append(
            {
                "field": field_label(model, change.field),
                "old": value_text(field, change.old, zone),
                "new": value_text(field, change.new, zone),
            }
        )
    return out
