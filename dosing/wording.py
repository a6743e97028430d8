"""A dose sheet's stored phrases in the reader's language.

A sheet's content is written once and fingerprinted (a new language must never make a new
version): its phrases are stored as a message id and parameters (trialsite.phrases) and rendered
here in the active language, and so are a sheet's end reason (DoseSheet.end_reason) and a
modification's rule (DoseModification.rule). Free text typed by a person (toxicity terms, an
investigator's reason, a void reason) and literature sources are shown as written."""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language, gettext_noop, pgettext_lazy

from dosing import document
from dosing.models import ModificationAction
from trialsite.i18n import translate_stored
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


def action_name(code: str) -> str:
    return str(ModificationAction(code).label) if code in ModificationAction.values else code


def _kind(code: str) -> str:
    """What was recorded: a measurement kind, or "lab"."""
    if code in MeasurementKind.values:
        return str(MeasurementKind(code).label)
    if code == "lab":
        return str(pgettext_lazy("recorded data", "lab result"))
    return analyte_label(code)


def rule(value: Any) -> str:
    """A modification's rule (DoseModification.rule, a stored phrase) in the reader's language."""
    return render(value)


def phrase(value: Any) -> str:
    """A stored phrase (trialsite.phrases) in the reader's language; a dose level label stored
    as text ("75 %", "discontinued") is its own message id."""
    return render(value) if is_phrase(value) else translate_stored(value)


# A sheet's level reasons, rounding notes and sources are stored phrases: rendered when read.
level_reason = rounding = source_what = phrase


def frequency(text: str) -> str:
    return str(FREQUENCIES.get(text, text))


def end_reason(value: Any) -> str:
    """Why a sheet was voided or superseded (DoseSheet.end_reason, a stored phrase, nested for
    "…; not re-prepared: …"; a reason a person typed as typed)."""
    return render(value)


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
register_kind("recorded_data", _kind)
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
