"""A dose sheet's stored phrases in the reader's language.

A sheet's content is written once, in English, and fingerprinted (a new language must never make
a new version). The phrases in it come from the templates in calculations.py, services.py and
receivers.py; these functions recognise them and say them again in the active language.
Free text typed by a person (toxicity terms, an investigator's reason) and literature sources
are shown as written."""

from __future__ import annotations

from django.utils.translation import get_language, gettext, gettext_noop, pgettext_lazy

from dosing import document, receivers
from dosing.calculations import drug_doses, modifications, regimen_doses
from dosing.models import ModificationAction
from dosing.services import decisions, sheets
from dosing.services import document as sheet_reading
from trialsite.i18n import _pattern, drug_name, phase_name, translate_stored
from trialsite.labs import analyte_label
from trialsite.models import MeasurementKind

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
    return translate_stored(text, modifications.RULE_TEMPLATES, {"drug": _drug})


def phrase(text: str) -> str:
    """A stored English phrase with no parts to translate apart (a dose level, a lab's reason)."""
    return translate_stored(text)


def level_reason(text: str) -> str:
    return translate_stored(
        text,
        (
            regimen_doses.REASON_RENAL,
            regimen_doses.REASON_RENAL_REDUCED,
            regimen_doses.REASON_RENAL_CONFIRMED,
            document.MODIFICATION_REASON,
            document.MODIFICATION_REASON_GIVEN,
        ),
        {"action": action_name, "phase": phase_name, "rule": rule, "level": phrase},
    )


def rounding(text: str) -> str:
    return translate_stored(text, (drug_doses.ROUNDING_STEP, drug_doses.ROUNDING_BAND))


def source_what(text: str) -> str:
    return translate_stored(
        text,
        (document.SOURCE_DOSE_BANDS, document.SOURCE_TOXICITY_TABLE, document.SOURCE_ROUNDING),
        {"drug": _drug},
    )


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
# citation (which stays as published, marked lang="en"): keyed by the source's "what" template,
# so a new drug's table gets its label without a new entry here.
SOURCE_TITLES = {
    document.SOURCE_BSA: gettext_noop("original publication of the formula"),
    document.SOURCE_CRCL: gettext_noop("original publication of the formula"),
    document.SOURCE_DOSE_BANDS: gettext_noop("%(drug)s product label: standard and reduced doses by body surface area"),
    document.SOURCE_TOXICITY_TABLE: gettext_noop("%(drug)s product labels: dose changes for toxicity"),
    document.SOURCE_ROUNDING: gettext_noop("the protocol's rounding rule for %(drug)s and its basis"),
}


def source_title(what: str) -> str:
    """The source's title in the reader's language; "" for an English reader (the citation says
    it) and for a source this list does not know."""
    if (get_language() or "en").startswith("en"):
        return ""
    for template, title in SOURCE_TITLES.items():
        match = _pattern(template).fullmatch(what)
        if match is not None:
            return gettext(title) % {k: _drug(v) for k, v in match.groupdict().items()}
    return ""
