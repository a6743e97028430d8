"""The printable A4 dose sheet: a Django template rendered to PDF by WeasyPrint. Chinese names
need a CJK font on the machine (README set-up: fonts-wqy-microhei; the stylesheet names it first
with fallbacks)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from dosing import selectors, wording
from dosing.calculations import drug_doses, formulas, regimen_doses
from dosing.models import DoseSheet, SheetStatus
from trialsite import signatures
from trialsite.cache import cache_get, cache_set
from trialsite.i18n import administration_course, drug_name, html_lang, phase_name, route_name
from trialsite.labs import analyte_label
from trialsite.models import Sex
from trialsite.pdf import html_to_pdf


def _cumulative(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The sheet's cumulative section with numbers as text and the drug's name, or None when the
    protocol totals no drug. Sheets made before the section had a drug code name the drug in
    their key ("cumulative_<drug>")."""
    section = doc.get("cumulative")
    drug = section.get("drug") if isinstance(section, dict) else None
    if section is None:
        legacy = next((k for k in doc if k.startswith("cumulative_") and isinstance(doc[k], dict)), None)
        if legacy is None:
            return None
        section, drug = doc[legacy], legacy.removeprefix("cumulative_")
    out: dict[str, Any] = {k: _num(v) for k, v in section.items() if k != "drug"}
    out["drug_text"] = drug_name(str(drug or ""))
    return out


def _num(value: Any, places: int | None = None) -> str:
    """ISMP style: leading zero, no trailing zero; `places` fixes the decimals (BSA: 2)."""
    if value is None:
        return "—"
    number = Decimal(str(value))
    if places is not None:
        return str(formulas.round_half_up(number, places))
    return formulas.format_number(number)


DRUG_STATUS_LABELS = {
    regimen_doses.GIVE: _("give"),
    regimen_doses.WITHHELD: _("withheld"),
    regimen_doses.DISCONTINUED: _("discontinued"),
    regimen_doses.CONTRAINDICATED: _("contraindicated"),
    regimen_doses.AWAITING_DECISION: _("awaiting the investigator's renal decision"),
}


def _protocol_names(sheet: DoseSheet, doc: dict[str, Any]) -> tuple[str, str]:
    """The arm's and the phase's names from the protocol file, in Chinese for a Chinese reader
    (the sheet stores the English names and the codes)."""
    chinese = translation.get_language() == "zh-hans"
    phase = (doc.get("phase_name_zh") if chinese else "") or doc.get("phase_name") or doc.get("phase", "")
    arm = doc.get("arm_name") or doc.get("arm", "")
    if chinese:
        arms = sheet.participant.protocol_version.definition.get("arms", [])
        arm = next((a.get("name_zh") or arm for a in arms if a.get("code") == doc.get("arm")), arm)
    return arm, phase


def sheet_context(sheet: DoseSheet) -> dict[str, Any]:
    """What the sheet templates show, in the active language: the stored document plus every
    stored code and English phrase said again for the reader (dosing.wording)."""
    doc = selectors.dose_sheet_document(sheet)
    chinese = translation.get_language() == "zh-hans"
    arm_display, phase_display = _protocol_names(sheet, doc)
    doses = []
    for d in doc["doses"]:
        tablets = d.get("tablets")
        per_cycle = d.get("tablets_per_cycle")
        doses.append(
            {
                **d,
                # The drug in the reader's language first, the other one beside it (both are
                # printed: a pharmacist checks the name against the product).
                "name_first": (d.get("name_zh") or d["name"]) if chinese else d["name"],
                "name_second": d["name"] if chinese else d.get("name_zh", ""),
                "route_text": route_name(d["route"]),
                "frequency_text": wording.frequency(d.get("frequency", "")),
                "level_text": wording.phrase(d.get("level_label", "")),
                "level_reason_text": wording.level_reason(d.get("level_reason", "")),
                "rounding_text": wording.rounding(d.get("rounding", "")),
                "status_label": DRUG_STATUS_LABELS.get(d["status"], d["status"]),
                "dose_text": (
                    _num(d.get("dose_mg")) + " mg"
                    if d.get("dose_mg") is not None
                    else str(DRUG_STATUS_LABELS.get(d["status"], d["status"]))
                ),
                "per_unit_text": f"{_num(d.get('dose_per_unit'))} {drug_doses.BASIS_UNITS[d['basis']]}",
                "days_text": _days(d.get("days", [])),
                "course_text": administration_course(d["course"]) if d.get("course") else "",
                "calculation_text": _calculation(d),
                "tablets_text": (
                    " + ".join(f"{n} × {s} mg" for s, n in sorted(tablets.items(), key=lambda kv: -int(kv[0])) if n)
                    if tablets
                    else ""
                ),
                "dispense_text": (
                    ", ".join(f"{n} × {s} mg" for s, n in sorted(per_cycle.items(), key=lambda kv: -int(kv[0])) if n)
                    if per_cycle
                    else ""
                ),
            }
        )
    return {
        "doc": doc,
        "html_lang": html_lang(),
        "arm_display": arm_display,
        "phase_display": phase_display,
        "bsa_formula_name": wording.BSA_FORMULA_NAMES.get(doc.get("bsa_formula", ""), doc.get("bsa_formula", "")),
        "sources": [
            {**s, "what_text": wording.source_what(s["what"]), "title_text": wording.source_title(s["what"])}
            for s in doc.get("sources", [])
        ],
        "doses": doses,
        "released": sheet.status == SheetStatus.RELEASED,
        # The electronic signatures' manifestations (21 CFR 11.50): name, site time, meaning.
        "manifestations": signatures.manifestations(sheet),
        "status_label": SheetStatus(sheet.status).label,
        "sex_label": Sex(doc["participant"]["sex"]).label if doc["participant"]["sex"] in Sex.values else "",
        "bsa_text": _num(doc.get("bsa_m2"), 2),
        "basis_text": _basis(doc),
        "crcl_text": _num(doc.get("creatinine_clearance_ml_min")),
        "height_text": _num(doc.get("height_cm")),
        "weight_text": _num(doc.get("weight_kg")),
        "bmi_text": _num(doc.get("bmi")),
        "cumulative": _cumulative(doc),
        # Dose-changing decisions only (maintained doses are in the JSON's full history).
        "modifications": [
            {
                **m,
                "drug_text": drug_name(m["drug"]),
                "phase_text": phase_name(m["phase"]),
                "action_text": wording.action_name(m["action"]),
                "dose_text": wording.phrase(m.get("dose_from_next_cycle", "")),
            }
            for m in doc.get("modifications", [])
            if m.get("action") != "maintain"
        ],
        "labs": [
            {
                **row,
                "analyte_text": analyte_label(row["analyte"]),
                "reason_text": wording.phrase(row.get("reason", "")),
                "value_text": _num(row.get("value")),
                "min_text": _num(row.get("minimum")),
            }
            for row in doc["day1_labs"]
        ],
    }


MULTIPLIER_UNITS = {"mg_per_m2": " m²", "mg_per_kg": " kg"}


def _calculation(d: dict[str, Any]) -> str:
    """How a given dose was reached, as the JSON holds it: "130 mg/m² × 1.75 m² = 227.5 → 230 mg"
    (the rounding or band rule is printed beside it). Nothing for a dose not given."""
    if d.get("status") != regimen_doses.GIVE or d.get("planned_dose_mg") is None:
        return ""
    if d["basis"] == "flat" or d.get("multiplied_by") is None or d.get("calculated_dose_mg") is None:
        return f"{_num(d['planned_dose_mg'])} mg"
    return (
        f"{_num(d['dose_per_unit'])} {drug_doses.BASIS_UNITS[d['basis']]}"
        f" × {_num(d['multiplied_by'])}{MULTIPLIER_UNITS[d['basis']]}"
        f" = {_num(d['calculated_dose_mg'])} → {_num(d['planned_dose_mg'])} mg"
    )


def _basis(doc: dict[str, Any]) -> str:
    """Which weight and BSA the doses use, and why (protocol `dosing.weight_change`)."""
    basis = doc.get("dose_basis")
    if not basis:
        return ""
    params = {
        "weight": _num(basis["weight_kg"]),
        "bsa": _num(basis["bsa_m2"], 2),
        "pct": _num(basis.get("change_pct")),
        "threshold": _num(basis.get("threshold_pct")),
        "measured": _num(doc.get("measured_bsa_m2"), 2),
    }
    if basis["rule"] == regimen_doses.BASIS_KEPT:
        return str(
            _(
                "%(weight)s kg, BSA %(bsa)s m²: the previous cycle's basis, kept (weight change %(pct)s %%, "
                "under %(threshold)s %%; BSA measured now %(measured)s m²)"
            )
            % params
        )
    if basis["rule"] == regimen_doses.BASIS_RECALCULATED:
        return str(
            _("%(weight)s kg, BSA %(bsa)s m²: recalculated (weight change %(pct)s %%, %(threshold)s %% or more)")
            % params
        )
    return str(_("%(weight)s kg, BSA %(bsa)s m²: this cycle's measurements") % params)


def _days(days: list[int]) -> str:
    if not days:
        return ""
    if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        return f"{days[0]}–{days[-1]}"
    return ", ".join(str(d) for d in days)


def render_sheet_html(sheet: DoseSheet) -> str:
    return render_to_string("dosing/sheet_pdf.html", sheet_context(sheet))


def render_sheet_pdf(sheet: DoseSheet, *, use_cache: bool = True) -> bytes:
    """The A4 PDF. A sheet's content never changes once written (a new input makes a new
    version), so the PDF is cached per sheet, fingerprint, workflow state and language:
    reprinting a sheet does not lay it out again. The content is checked against the
    fingerprint first, so a cached PDF is never served for a sheet altered since."""
    selectors.checked(sheet)
    key = ":".join(
        str(part)
        for part in (
            "dosing-pdf",
            sheet.pk,
            sheet.fingerprint,
            sheet.status,
            sheet.verified_by_id,
            sheet.released_by_id,
            translation.get_language(),
        )
    )
    if use_cache:
        cached = cache_get(key, what="dose-sheet PDF")
        if cached is not None:
            return bytes(cached)
    data = html_to_pdf(render_sheet_html(sheet))
    if use_cache:
        cache_set(key, data, timeout=3600, what="dose-sheet PDF")
    return data


def filename(sheet: DoseSheet) -> str:
    return f"dose-sheet-{sheet.participant.screening_number}-{sheet.phase}-c{sheet.cycle_number}-v{sheet.version}.pdf"


def render_sheet_fragment(sheet: DoseSheet) -> str:
    """The sheet for the admin page (same content as the PDF, styles scoped to the sheet)."""
    return render_to_string("dosing/sheet_body.html", sheet_context(sheet))
