"""Admin of the dosing app: the pharmacists' queue of dose sheets (verify, release, PDF, prepare on
demand) and the investigators' dose modifications and renal decisions. Every write goes through
dosing.services; staff see only their sites' sheets; nothing is deleted."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext, gettext_noop, pgettext
from django.utils.translation import gettext_lazy as _

from adverse_events.models import AdverseEvent
from dosing import pdf, services, wording
from dosing.calculations import drug_doses, formulas
from dosing.models import DoseModification, DoseSheet, ModificationAction, RenalDecision, SheetStatus
from trialsite import clock, confirm, i18n, protocol_names, roles, selectors, signatures
from trialsite.admin import (
    DRUG_COLUMN,
    DRUG_FILTER,
    PHASE_COLUMN,
    PHASE_FILTER,
    NoDeleteMixin,
    SiteScopedAdminMixin,
)
from trialsite.admin_forms import (
    SIGNATURE_FIELD,
    ServiceFormAdminMixin,
    SignedAddAdminMixin,
    attempt,
    show_error,
    sign_from_post,
    signature_field,
)
from trialsite.admin_guard import GuardedHistoryAdmin
from trialsite.error_codes import CommonErrorCode
from trialsite.errors import ApplicationError
from trialsite.models import Participant
from trialsite.phrases import phrase


class DueFilter(admin.SimpleListFilter):
    """The queue opens on the sheets due in the next 7 days; a participant's list (the link from
    the participant's page) opens on all their sheets."""

    title = _("day 1")
    parameter_name = "due"

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        self.default = "all" if "participant__id__exact" in request.GET else "7"
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("7", _("next 7 days")), ("past", _("before today")), ("all", _("any date"))]

    def choices(self, changelist: Any) -> Iterator[Any]:
        current = self.value() or self.default
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        today = clock.today()
        value = self.value() or self.default
        if value == "7":
            return queryset.filter(day1__gte=today, day1__lte=today + dt.timedelta(days=7))
        if value == "past":
            return queryset.filter(day1__lt=today)
        return queryset


Definitions = list[dict[str, Any]] | None  # the loaded trials' current protocols (None: read them)


def systemic_phases(definitions: Definitions = None) -> list[tuple[str, str]]:
    """The loaded protocols' systemic phases in the reader's language (read when a form renders)."""
    return protocol_names.choices("phase", get_language(), phase_kind="systemic", definitions=definitions)


def protocol_drugs(definitions: Definitions = None) -> list[tuple[str, str]]:
    """The loaded protocols' drugs in the reader's language (read when a form renders)."""
    return protocol_names.choices("drug", get_language(), definitions=definitions)


def _drug_specs(definitions: list[dict[str, Any]]) -> dict[str, drug_doses.DrugSpec]:
    """The loaded protocols' drugs as the dosing maths reads them, in protocol order."""
    out: dict[str, drug_doses.DrugSpec] = {}
    for definition in definitions:
        for code in protocol_names.drug_order(definition):
            if code not in out:
                out[code] = drug_doses.DrugSpec.from_definition(code, definition["drugs"][code])
    return out


def _sentences(parts: list[str]) -> str:
    """Parts joined into one sentence (the first letter a capital)."""
    if not parts:
        return ""
    text = gettext("%(parts)s.") % {"parts": pgettext("list of rules", "; ").join(parts)}
    return text[:1].upper() + text[1:]


def modification_choice_help(definitions: Definitions = None) -> str:
    """What the investigator's choice can do, from the protocol: a drug with a toxicity table
    resumes at its lowest level on 'reduce' at grade 4; a drug never reduced is withheld or
    discontinued only (dosing.calculations.modifications)."""
    parts = []
    for code, spec in _drug_specs(definitions or protocol_names.current_definitions()).items():
        if spec.toxicity_table and spec.levels_are_pct:
            parts.append(
                gettext("%(drug)s grade 4: 'reduce' resumes at %(level)s %%")
                % {"drug": i18n.drug_name(code), "level": formulas.format_number(min(spec.levels))}
            )
        elif not spec.reducible:
            parts.append(gettext("%(drug)s: withhold or discontinue only") % {"drug": i18n.drug_name(code)})
    return _sentences(parts)


def renal_reduce_help(definitions: Definitions = None) -> str:
    """The reduced dose levels an investigator may choose for the drugs whose renal rule asks
    for a decision, from the protocol (e.g. "<drug> 75 or 50 %" for levels in per cent)."""
    definitions = definitions or protocol_names.current_definitions()
    specs = _drug_specs(definitions)
    drugs: dict[str, None] = {}
    for definition in definitions:
        for rule in (definition.get("dosing") or {}).get("renal_rules") or []:
            if rule.get("action") == "investigator":
                drugs.setdefault(rule["drug"], None)
    parts = []
    for code in drugs:
        spec = specs.get(code)
        if spec is None or len(spec.levels) < 2:
            continue
        levels = pgettext("between dose levels", " or ").join(formulas.format_number(v) for v in spec.levels[1:])
        parts.append(f"{i18n.drug_name(code)} {levels} {drug_doses.level_unit(spec)}")
    if not parts:
        return gettext("With 'reduce' only: the dose level as the protocol lists it.")
    return gettext("With 'reduce' only: the dose level as the protocol lists it (%(levels)s).") % {
        "levels": pgettext("list of rules", "; ").join(parts)
    }


class ProtocolChoicesForm(forms.ModelForm[Any]):
    """An add form whose drug and phase lists (and `protocol_help_texts`) come from the loaded protocols,
    read once per form."""

    protocol_help_texts: dict[str, Callable[[Definitions], str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not {"drug", "phase", *self.protocol_help_texts} & set(self.fields):
            return  # a record's page: its values only
        definitions = protocol_names.current_definitions()
        for name, options in (("drug", protocol_drugs), ("phase", systemic_phases)):
            if name in self.fields:
                self.fields[name].widget = forms.Select(choices=options(definitions))
        for name, help_text in self.protocol_help_texts.items():
            if name in self.fields:
                self.fields[name].help_text = help_text(definitions)


class PrepareForm(forms.Form):
    # The admin's autocomplete widget (as on the model forms), searching ParticipantAdmin's
    # site-scoped list; the queryset set by the view (randomized, the user's sites) validates.
    participant = forms.ModelChoiceField(
        queryset=Participant.objects.none(),
        label=_("participant"),
        widget=AutocompleteSelect(DoseSheet._meta.get_field("participant"), admin.site),
    )
    phase = forms.ChoiceField(choices=systemic_phases, label=_("phase"))
    cycle_number = forms.IntegerField(min_value=1, label=_("cycle"))
    day1 = forms.DateField(
        label=_("day 1"),
        required=False,
        help_text=_("YYYY-MM-DD. Leave empty for the cycle's planned day 1 in the treatment plan."),
    )
    day1_reason = forms.CharField(
        label=_("why another day 1"),
        required=False,
        max_length=300,
        help_text=_("Required when day 1 is not the cycle's planned day 1; printed on the sheet."),
    )


@admin.register(DoseSheet)
class DoseSheetAdmin(SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    list_display = [
        "day1",
        "participant_link",
        "site",
        PHASE_COLUMN,
        "cycle_number",
        "version",
        "status",
        "releasable",
        "verified_by",
        "released_by",
    ]
    list_filter = [DueFilter, "site", "status", PHASE_FILTER]
    list_select_related = ["participant", "site", "verified_by", "released_by"]
    search_fields = ["participant__screening_number", "participant__full_name"]
    ordering = ["day1", "participant__screening_number"]
    # No bulk actions: each sheet is verified and released on its own page, which shows it, so
    # the second pharmacist's check is an independent look at that sheet (issue 13).
    actions = None
    fields = ["sheet", "status", "version", "end_reason_text"]
    readonly_fields = ["sheet", "status", "version", "end_reason_text"]
    change_form_template = "admin/dosing/dosesheet/change_form.html"
    change_list_template = "admin/dosing/dosesheet/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sheets are prepared by the task or "Prepare on demand", through the service

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read only: verify and release are actions

    @admin.display(description=_("participant"), ordering="participant__screening_number")
    def participant_link(self, obj: DoseSheet) -> str:
        return f"{obj.participant.screening_number} {obj.participant.full_name}"

    @admin.display(description=_("why voided or superseded"))
    def end_reason_text(self, obj: DoseSheet) -> str:
        return wording.end_reason(obj.end_reason) or "—"

    @admin.display(description=_("sheet"))
    def sheet(self, obj: DoseSheet) -> SafeString:
        return mark_safe(pdf.render_sheet_fragment(obj))  # noqa: S308 - rendered by our template with autoescape

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("prepare/", self.admin_site.admin_view(self.prepare_view), name="dosing_dosesheet_prepare"),
            path("<int:pk>/pdf/", self.admin_site.admin_view(self.pdf_view), name="dosing_dosesheet_pdf"),
            path("<int:pk>/verify/", self.admin_site.admin_view(self.verify_view), name="dosing_dosesheet_verify"),
            path("<int:pk>/release/", self.admin_site.admin_view(self.release_view), name="dosing_dosesheet_release"),
        ]
        return own + super().get_urls()

    def _get(self, request: HttpRequest, pk: int) -> DoseSheet:
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def pdf_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        sheet = self._get(request, pk)
        response = HttpResponse(pdf.render_sheet_pdf(sheet), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{pdf.filename(sheet)}"'
        return response

    def _transition(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        sheet = self._get(request, pk)
        if request.method == "POST":
            if action == "release":
                page = self._release_confirmation(request, sheet)
                if page is not None:
                    return page
            else:
                signed = sign_from_post(request, signatures.VERIFY_SHEET)
                if isinstance(signed, ApplicationError):
                    show_error(request, signed)
                else:
                    self._apply(request, sheet, action, signature=signed)
        return HttpResponseRedirect(reverse("admin:dosing_dosesheet_change", args=[sheet.pk]))

    def verify_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._transition(request, pk, "verify")

    def release_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The second pharmacist's page: the sheet being released, in full, with the one button
        that releases it (a POST from this page) after the password is re-entered (signed)."""
        if request.method == "POST":
            return self._transition(request, pk, "release")
        return self._release_page(request, self._get(request, pk))

    def _release_page(self, request: HttpRequest, sheet: DoseSheet, *, note: str = "") -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": _("Double-check and release %(sheet)s") % {"sheet": sheet},
            "opts": self.model._meta,
            "original": sheet,
            "sheet_html": self.sheet(sheet),
            "can_release": sheet.status == SheetStatus.VERIFIED and sheet.releasable,
            "verified_by_you": sheet.verified_by_id == request.user.pk,
            "note": note,
            "signature_label": signatures.password_label(signatures.RELEASE_SHEET),
        }
        return TemplateResponse(request, "admin/dosing/dosesheet/release.html", context)

    def _release_confirmation(self, request: HttpRequest, sheet: DoseSheet) -> HttpResponse | None:
        """Release is final: a POST without `confirm` (not from the release page) gets a page that
        says what release does, with a note field and the password; a sheet the service would
        refuse is named at once (tried and rolled back). A wrong password brings the release page
        back with the typed note (nothing is signed or released)."""
        by = roles.actor(request.user)
        note = request.POST.get("release_note", "")
        if request.POST.get("confirm"):
            signed = sign_from_post(request, signatures.RELEASE_SHEET)
            if isinstance(signed, ApplicationError):
                show_error(request, signed)
                return self._release_page(request, sheet, note=note)
            self._apply(request, sheet, "release", note=note, signature=signed)
            return None
        attempt = functools.partial(services.dose_sheet_release, sheet=sheet, by=by, now=clock.now())
        refused = confirm.refusal(attempt)
        # The password is asked on the next page: a refusal for want of it is not one.
        if refused is not None and refused.code != CommonErrorCode.SIGNATURE_REQUIRED:
            show_error(request, refused)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Release dose sheets"),
            "opts": self.model._meta,
            "sheets": [sheet],
            "note": note,
            "signature_label": signatures.password_label(signatures.RELEASE_SHEET),
        }
        return TemplateResponse(request, "admin/dosing/dosesheet/release_confirm.html", context)

    def _apply(
        self, request: HttpRequest, sheet: DoseSheet, action: str, *, note: str = "", signature: Any = None
    ) -> bool:
        by = roles.actor(request.user)
        if action == "verify":
            call = functools.partial(
                services.dose_sheet_verify, sheet=sheet, by=by, now=clock.now(), signature=signature
            )
        else:
            call = functools.partial(
                services.dose_sheet_release, sheet=sheet, by=by, now=clock.now(), reason=note, signature=signature
            )
        done = _("verified") if action == "verify" else _("released")
        return attempt(request, call, _("%(sheet)s %(done)s.") % {"sheet": sheet, "done": done})

    def prepare_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("dosing.prepare_dosesheet"):
            messages.error(request, _("Your role does not allow preparing dose sheets."))
            return HttpResponseRedirect(reverse("admin:dosing_dosesheet_changelist"))
        form = PrepareForm(request.POST or None)
        form.fields["participant"].queryset = selectors.participants_for_user(request.user).exclude(arm="")  # type: ignore[attr-defined]
        if request.method == "POST" and form.is_valid():
            try:
                sheet = services.dose_sheet_prepare(
                    participant=form.cleaned_data["participant"],
                    phase=form.cleaned_data["phase"],
                    cycle_number=form.cleaned_data["cycle_number"],
                    day1=form.cleaned_data["day1"],
                    day1_reason=form.cleaned_data["day1_reason"],
                    by=roles.actor(request.user),
                    now=clock.now(),
                    reason=phrase(gettext_noop("prepared again on demand")),
                )
            except ApplicationError as exc:
                show_error(request, exc)
            else:
                messages.success(request, _("Sheet %(sheet)s prepared.") % {"sheet": sheet})
                return HttpResponseRedirect(reverse("admin:dosing_dosesheet_change", args=[sheet.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Prepare a dose sheet"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/dosing/dosesheet/prepare.html", context)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> Any:
        extra = dict(extra_context or {})
        if object_id:
            sheet = self.get_object(request, object_id)
            if sheet is not None:
                extra.update(
                    can_verify=sheet.status == SheetStatus.PREPARED and sheet.releasable,
                    can_release=sheet.status == SheetStatus.VERIFIED,
                    is_pharmacist=request.user.has_perm("dosing.verify_dosesheet"),
                    verify_label=signatures.password_label(signatures.VERIFY_SHEET),
                )
        return super().changeform_view(request, object_id, form_url, extra)


class ServiceAddAdmin(ServiceFormAdminMixin, SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    """Records are added through a service and never edited."""

    site_lookup = "participant__site"
    # A search box, not a dropdown of every participant (issue 16); the admin's autocomplete
    # answers from ParticipantAdmin's site-scoped list, and the form's queryset still decides.
    autocomplete_fields = ["participant"]
    # Stored codes and English phrases, shown in the reader's language on the read-only page.
    display_columns: dict[str, Any] = {"phase": PHASE_COLUMN, "drug": DRUG_COLUMN}

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        return [self.display_columns.get(f.name, f.name) for f in self.model._meta.fields]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return super().get_fields(request, obj) if obj is None else self.get_readonly_fields(request, obj)


class DoseModificationForm(ProtocolChoicesForm):
    protocol_help_texts = {"requested_action": modification_choice_help}

    requested_action = forms.ChoiceField(
        choices=[("", _("as the protocol's rule says")), *ModificationAction.choices],
        required=False,
        label=_("investigator's choice"),
    )
    signature_password = signature_field(signatures.DOSE_MODIFICATION)

    # The toxicity of the log the decision answers (set by the link on its page); the service
    # refuses one of another participant, and another site's does not exist for the user.
    adverse_event = forms.ModelChoiceField(
        queryset=AdverseEvent.objects.select_related("term"),
        required=False,
        widget=forms.HiddenInput,
        label=_("toxicity of the log"),
    )

    class Meta:
        model = DoseModification
        fields = ["participant", "drug", "phase", "cycle_number", "toxicity_term", "ctcae_grade", "reason"]


@admin.register(DoseModification)
class DoseModificationAdmin(SignedAddAdminMixin, ServiceAddAdmin):
    form = DoseModificationForm
    signature_meaning = signatures.DOSE_MODIFICATION
    list_display = [
        "participant",
        DRUG_COLUMN,
        PHASE_COLUMN,
        "cycle_number",
        "toxicity_term",
        "ctcae_grade",
        "action",
        "next_dose",
        "decided_by",
        "decided_at",
    ]
    list_select_related = ["participant", "decided_by"]
    display_columns = {
        **ServiceAddAdmin.display_columns,
        "level_label": "next_dose",
        "rule": "rule_text",
    }
    list_filter = [DRUG_FILTER, "action", PHASE_FILTER]
    search_fields = ["participant__screening_number", "toxicity_term"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [*DoseModificationForm.Meta.fields, "requested_action", "adverse_event", SIGNATURE_FIELD]
        return super().get_fields(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """From a toxicity of the log (`?adverse_event=ID&drug=CODE`, the link on its page): the
        form starts from its participant, cycle, term and grade, and says what the protocol's
        table proposes with the appearance counted from the log; the investigator confirms it or
        chooses otherwise with a reason."""
        initial: dict[str, Any] = dict(super().get_changeform_initial_data(request))
        event_id, drug = request.GET.get("adverse_event"), request.GET.get("drug")
        if not (event_id and drug and event_id.isdigit()):
            return initial
        event = (
            AdverseEvent.objects.select_related("participant__protocol_version", "term")
            .filter(participant__in=selectors.participants_for_user(request.user), pk=int(event_id))
            .first()
        )
        if event is None:
            messages.error(request, _("That toxicity is not in the log of your sites."))
            return initial
        try:
            proposal = services.dose_modification_proposal(adverse_event=event, drug=drug, by=roles.actor(request.user))
        except ApplicationError as exc:
            show_error(request, exc)
            return initial
        initial.update(
            participant=event.participant_id,
            drug=drug,
            phase=proposal["phase"],
            cycle_number=proposal["cycle_number"],
            toxicity_term=proposal["toxicity_term"],
            ctcae_grade=proposal["ctcae_grade"],
            adverse_event=event.pk,
        )
        if proposal.get("proposal"):
            offer = proposal["proposal"]
            messages.info(
                request,
                _(
                    "Appearance %(n)s of this toxicity at this grade (from the log). The protocol "
                    "proposes: %(action)s, %(dose)s (%(rule)s)."
                )
                % {
                    "n": proposal["appearance"],
                    "action": ModificationAction(offer["action"]).label,
                    "dose": wording.phrase(offer["level_label"]),
                    "rule": wording.rule(offer["rule"]),
                },
            )
        elif proposal.get("proposal_refused"):
            messages.warning(request, proposal["proposal_refused"])
        return initial

    @admin.display(description=_("dose from the next cycle"))
    def next_dose(self, obj: DoseModification) -> str:
        return wording.phrase(obj.level_label)

    @admin.display(description=_("rule applied"))
    def rule_text(self, obj: DoseModification) -> str:
        return wording.rule(obj.rule)

    def save_model(self, request: HttpRequest, obj: DoseModification, form: Any, change: bool) -> None:
        data = form.cleaned_data
        with self.refusal(request, form):
            row = services.dose_modification_record(
                participant=data["participant"],
                drug=data["drug"],
                phase=data["phase"],
                cycle_number=data["cycle_number"],
                toxicity_term=data["toxicity_term"],
                ctcae_grade=data["ctcae_grade"],
                reason=data["reason"],
                requested_action=data.get("requested_action") or None,
                adverse_event=data.get("adverse_event"),
                by=roles.actor(request.user),
                now=clock.now(),
                signature=getattr(request, "signature", None),
            )
        obj.pk = row.pk
        obj.refresh_from_db()


class RenalDecisionForm(ProtocolChoicesForm):
    protocol_help_texts = {"reduce_to": renal_reduce_help}

    reduce_to = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=8,
        decimal_places=2,
        label=_("reduce to"),
    )
    signature_password = signature_field(signatures.RENAL_DECISION)

    class Meta:
        model = RenalDecision
        fields = ["participant", "phase", "cycle_number", "drug", "decision", "reason"]


@admin.register(RenalDecision)
class RenalDecisionAdmin(SignedAddAdminMixin, ServiceAddAdmin):
    form = RenalDecisionForm
    signature_meaning = signatures.RENAL_DECISION
    list_display = [
        "participant",
        PHASE_COLUMN,
        "cycle_number",
        DRUG_COLUMN,
        "band",
        "decision",
        "level_label",
        "decided_by",
        "decided_at",
    ]
    list_select_related = ["participant", "decided_by"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [*RenalDecisionForm.Meta.fields[:-1], "reduce_to", "reason", SIGNATURE_FIELD]
        return super().get_fields(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if change:
            form.base_fields.pop("reduce_to", None)  # a recorded decision is never edited
            form.base_fields.pop(SIGNATURE_FIELD, None)
        return form

    def save_model(self, request: HttpRequest, obj: RenalDecision, form: Any, change: bool) -> None:
        data = form.cleaned_data
        with self.refusal(request, form):
            row = services.renal_decision_record(
                participant=data["participant"],
                phase=data["phase"],
                cycle_number=data["cycle_number"],
                drug=data["drug"],
                decision=data["decision"],
                reduce_to=data.get("reduce_to"),
                reason=data["reason"],
                by=roles.actor(request.user),
                now=clock.now(),
                signature=getattr(request, "signature", None),
            )
        obj.pk = row.pk
        obj.refresh_from_db()
