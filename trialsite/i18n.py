"""Words a reader sees that are stored as codes or as English: protocol codes (arms, phases,
drugs, routes) in the reader's language (lab analytes: trialsite/labs.py), the BCP 47 tag of
a language for `<html lang>`, and a stored message id (English) in the reader's language.

Stored text stays English on purpose: a dose sheet's content is fingerprinted and must not depend
on who prepared it, and a row written by a Celery task has no reader yet. A sentence with
parameters is stored as a phrase (trialsite.phrases: a message id and its parameters), rendered
when read; a fixed one (a dose level's label, a change reason the system wrote) may be stored as
its message id itself, which `translate_stored` says in the active language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import get_language, gettext, gettext_noop, pgettext_lazy, to_locale

from trialsite import protocol_names

TIMES_OF_DAY: dict[str, Promise] = {
    "morning": pgettext_lazy("time of day", "morning"),
    "evening": pgettext_lazy("time of day", "evening"),
}
ROUTE_NAMES: dict[str, Promise] = {
    "oral": pgettext_lazy("route", "oral"),
    "iv": pgettext_lazy("route", "IV infusion"),
}


# Words of other packages that have no Simplified Chinese yet, translated in our catalogue (which
# Django reads first): the admin index's screen-reader table headers (Django 5.2) and the model
# names of django-axes (the login lock-out records).
OTHER_PACKAGES = (
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
)


# The protocol's codes of arms, phases and drugs are named by the protocol itself (`label` and
# `label_zh`, trialsite/protocol_names.py); a code no protocol labels is shown as it is.
def arm_name(code: str) -> str:
    return protocol_names.name("arm", code, get_language())


def phase_name(code: str) -> str:
    return protocol_names.name("phase", code, get_language())


def drug_name(code: str) -> str:
    return protocol_names.name("drug", code, get_language())


def route_name(code: str) -> str:
    return str(ROUTE_NAMES.get(code, code))


def html_lang(language: str | None = None) -> str:
    """The BCP 47 tag of a Django language code, for `<html lang>`: zh-hans → zh-Hans (the script
    subtag picks Simplified Chinese glyphs in browsers and WeasyPrint), en → en, en-us → en-US."""
    return to_locale(language or get_language() or "en").replace("_", "-")


def translate_stored(text: str) -> str:
    """`text` in the active language when it is a message id of the catalogue (stored English the
    system wrote, e.g. "visit moved"); anything else (text a person typed) is shown as stored."""
    return gettext(text) if text else text


PROJECT_APPS = ("trialsite", "randomization", "dosing", "schedules", "reminders")


def field_label(name: str) -> str:
    """A field's name as a reader sees it (its verbose name in the active language), for an error
    that names fields by their code ("consent_date"): the first project model field so named, or
    "" for errors about no field ("__all__", "non_field_errors"), or the code when none matches."""
    if name in ("__all__", "non_field_errors", ""):
        return ""
    from django.apps import apps
    from django.core.exceptions import FieldDoesNotExist

    for label in PROJECT_APPS:
        for model in apps.get_app_config(label).get_models():
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            verbose = getattr(field, "verbose_name", None)
            if verbose:
                return str(verbose)
    return name


def administration_course(course: Mapping[str, object], first_date: object = None, last_date: object = None) -> str:
    """An oral drug's course in the reader's language (protocol.administration_course): "from
    the evening of day 1 to the morning of day 15 (28 administrations)", with the dates when
    given. One wording for the sheet, the timeline, the calendar feed and the reminders."""
    params = {
        "first_time": TIMES_OF_DAY.get(str(course["first_time"]), course["first_time"]),
        "first_day": course["first_day"],
        "last_time": TIMES_OF_DAY.get(str(course["last_time"]), course["last_time"]),
        "last_day": course["last_day"],
        "n": course["administrations"],
        "first_date": first_date,
        "last_date": last_date,
    }
    if first_date is not None and last_date is not None:
        return (
            gettext(
                "from the %(first_time)s of day %(first_day)s (%(first_date)s) to the %(last_time)s of day "
                "%(last_day)s (%(last_date)s), %(n)s administrations"
            )
            % params
        )
    return (
        gettext(
            "from the %(first_time)s of day %(first_day)s to the %(last_time)s of day %(last_day)s, "
            "%(n)s administrations"
        )
        % params
    )


def oral_course(oral: Mapping[str, Any]) -> str:
    """A plan's oral-drug entry (schedules.calendar: drug, from, to and the protocol's course)."""
    if oral.get("course"):
        return f"{drug_name(oral['drug'])} {administration_course(oral['course'], oral['from'], oral['to'])}"
    return f"{drug_name(oral['drug'])} {oral['from']} – {oral['to']}"


def _register_kinds() -> None:
    from trialsite import phrases

    phrases.register_kind("arm", arm_name)
    phrases.register_kind("phase", phase_name)
    phrases.register_kind("drug", drug_name)
    phrases.register_kind("route", route_name)
    phrases.register_kind("time", lambda code: str(TIMES_OF_DAY.get(code, code)))


_register_kinds()
