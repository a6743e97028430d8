"""A dose sheet's stored phrases in the reader's language.

A sheet's content is written once and fingerprinted (a new language must never make a new
version): its phrases are stored as a message id and parameters (trialsite.phrases) and rendered
here in the active language. An end reason and a modification's rule are still English text in
CharFields (DoseSheet.end_reason, DoseModification.rule): those are recognised by their templates.
Free text typed by a person (toxicity terms, an investigator's reason) and literature sources
are shown as written."""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language, gettext, gettext_noop, pgettext_lazy

from dosing import document, receivers
from dosing.calculations import modifications
from dosing.models import ModificationAction
from dosing.services import decisions, sheets
from dosing.services import document as sheet_reading
from trialsite.i18n import drug_name, translate_stored
from trialsite.labs import analyte_label
from trialsite.models import MeasurementKind
from trialsite.phrases import english, is_phrase, register_kind, render

# The protocol file's dosing frequencies (drugs.<code>.frequency). A phrase not listed here is
# shown as written in the protocol until it is added and translated.
FREQUENCIES = {
    "twice daily": pgettext_lazy("dosing frequency", "twice daily"),
    "once": pgettext_lazy("dosing frequency", "once"),
    "once, over 2 h": pgettext_lazy("dosing frequency", "once, over 2 h"),
}
BSA_FORMULA_NAMES = {
    "mosteller": "Mosteller",
    "dubois": "DuBois",
    "haycock": "Haycock",
    "gehan_george": "Gehan & George",
    "boyd": "Boyd",
}


def _drug(name: str) -> str:
    """A drug given by code ("capecitabine") or by the protocol's display name ("Capecitabine")."""
    return drug_name(name.lower())


def action_name(code: str) -> str:
    return str(ModificationAction(code).label) if code in ModificationAction.values else code


def _kind(code: str) -> str:
    """What was recorded: a measurement kind, or "lab"."""
    if code in MeasurementKind.values:
        return str(MeasurementKind(code).label)
    if code == "lab":
        return str(pgettext_lazy("recorded data", "lab result"))
    return analyte_label(code)


def rule(text: str) -> str:
    """A modification's rule, stored as English text in DoseModification.rule (a CharField, so
    recognised by its template until the field holds a phrase)."""
    return translate_stored(text, modifications.RULE_TEMPLATES, {"drug": _drug})


def phrase(value: Any) -> str:
    """A stored phrase (trialsite.phrases) in the reader's language; a dose level label stored
    as text ("75 %", "discontinued") is its own message id."""
    return render(value) if is_phrase(value) else translate_stored(value)


# A sheet's level reasons, rounding notes and sources are stored phrases: rendered when read.
level_reason = rounding = source_what = phrase


def frequency(text: str) -> str:
    return str(FREQUENCIES.get(text, text))


def refusal(text: str) -> str:
    """Why a sheet could not be prepared, stored in English (services.dose_sheets_refresh)."""
    return translate_stored(text, (sheet_reading.MEASUREMENT_MISSING,), {"kind": lambda kind: str(gettext(kind))})


def end_reason(text: str) -> str:
    """Why a sheet was voided or superseded (nested: "…; not re-prepared: …")."""
    return translate_stored(
        text,
        (
            sheets.END_NOT_REPREPARED,
            decisions.END_MODIFICATION,
            receivers.END_NEW_RECORD,
            receivers.END_ENTERED_IN_ERROR,
            receivers.END_REDATED,
        ),
        {"reason": end_reason, "drug": _drug, "action": action_name, "kind": _kind, "detail": refusal},
    )


# What each of a sheet's literature sources is, said in the reader's language before the
# citation (which stays as published, marked lang="en"): keyed by the source's message id, so a
# new drug's table gets its label without a new entry here.
SOURCE_TITLES = {
    document.SOURCE_BSA: gettext_noop("original publication of the formula"),
    document.SOURCE_CRCL: gettext_noop("original publication of the formula"),
    document.SOURCE_DOSE_BANDS: gettext_noop("%(drug)s product label: standard and reduced doses by body surface area"),
    document.SOURCE_TOXICITY_TABLE: gettext_noop("%(drug)s product labels: dose changes for toxicity"),
    document.SOURCE_ROUNDING: gettext_noop("the protocol's rounding rule for %(drug)s and its basis"),
}


def source_title(what: Any) -> str:
    """The source's title in the reader's language; "" for an English reader (the citation says
    it) and for a source this list does not know."""
    if (get_language() or "en").startswith("en") or not is_phrase(what):
        return ""
    title = SOURCE_TITLES.get(what.get("msgid", ""))
    if title is None:
        return ""
    return render({"msgid": title, "params": what.get("params") or {}})


register_kind("modification_action", action_name)
register_kind("modification_rule", rule)
register_kind("dose_level", phrase)


def in_english(value: Any) -> Any:
    """A document with each stored phrase said in English, as the API has always given a sheet's
    content (its clients read the English text, whatever the phrase's storage)."""
    if is_phrase(value):
        return english(value)
    if isinstance(value, dict):
        return {k: in_english(v) for k, v in value.items()}
    if isinstance(value, list):
        return [in_english(v) for v in value]
    return value
