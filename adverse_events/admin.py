"""Admin of the toxicity log. A nurse records a toxicity with a searchable CTCAE term picker
(English, Chinese, MedDRA code); a saved toxicity is read-only except what follows it (grade,
resolution date, seriousness, attribution), changed through adverse_events.services with a
reason; an investigator acknowledges an SAE on the same page or from the list."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from adverse_events import services
from adverse_events.models import RELATED, AdverseEvent, Relatedness, SaeAlert, Term
from trialsite import clock, i18n, roles
from trialsite.admin import NoDeleteMixin, SiteScopedAdminMixin
from trialsite.admin_forms import ServiceFormAdminMixin, show_error
from trialsite.admin_guard import GuardedAdmin, GuardedHistoryAdmin
from trialsite.errors import ApplicationError
from trialsite.models import Trial

ATTRIBUTION_PREFIX = "attribution_"
ACKNOWLEDGE = "adverse_events.acknowledge_adverseevent"


def protocol_drugs() -> list[str]:
    """Every drug code of the loaded trials' current protocols (a form field each; the service
    accepts only the drugs of the participant's own regimen)."""
    out: list[str] = []
    for trial in Trial.objects.select_related("current_protocol"):
        for drug in trial.definition.get("drugs") or {}:
            if drug not in out:
                out.append(drug)
    return out


def protocol_phases() -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    for trial in Trial.objects.select_related("current_protocol"):
        for phase in trial.definition.get("phases") or []:
            out.setdefault(phase["code"], i18n.phase_name(phase["code"]))
    return [("", "—"), *out.items()]


@admin.register(Term)
class TermAdmin(NoDeleteMixin, GuardedHistoryAdmin):
    """The CTCAE terms (loaded by `load_ctcae_terms`): searched by the picker, never edited here."""

    list_display = ["term", "term_zh", "meddra_code", "soc", "grades"]
    search_fields = ["term", "term_zh", "^meddra_code"]  # a code by its beginning
    list_filter = ["soc"]
    readonly_fields = ["term", "term_zh", "meddra_code", "soc", "grades", "ctcae_version", "source"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AcknowledgedFilter(admin.SimpleListFilter):
    title = _("SAE acknowledged")
    parameter_name = "acknowledged"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("no", _("awaiting acknowledgement")), ("yes", _("acknowledged"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "no":
            return queryset.filter(serious=True, acknowledged_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(acknowledged_at__isnull=False)
        return queryset


class AdverseEventForm(forms.ModelForm[AdverseEvent]):
    """The model's fields, plus one attribution choice per protocol drug, the reason of a change
    and (for investigators) the acknowledgement of an SAE."""

    reason = forms.CharField(
        label=_("reason for the change"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required when the grade or the seriousness changes; kept in the history."),
    )
    acknowledge = forms.BooleanField(label=_("I acknowledge this SAE"), required=False)

    class Meta:
        model = AdverseEvent
        fields = [
            "participant",
            "term",
            "grade",
            "onset_date",
            "resolution_date",
            "phase",
            "cycle_number",
            "serious",
            "notes",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "phase" in self.fields:
            self.fields["phase"].widget = forms.Select(choices=protocol_phases())
        current = dict(self.instance.attributions.values_list("drug", "relatedness")) if self.instance.pk else {}
        for drug in protocol_drugs():
            self.fields[ATTRIBUTION_PREFIX + drug] = forms.ChoiceField(
                label=_("attribution to %(drug)s") % {"drug": i18n.drug_name(drug)},
                choices=[("", _("not assessed / not given")), *Relatedness.choices],
                required=False,
                initial=current.get(drug, ""),
            )

    def attribution(self) -> dict[str, str]:
        data = self.cleaned_data
        return {
            name.removeprefix(ATTRIBUTION_PREFIX): value
            for name, value in data.items()
            if name.startswith(ATTRIBUTION_PREFIX) and value
        }


@admin.register(AdverseEvent)
class AdverseEventAdmin(ServiceFormAdminMixin, SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    form = AdverseEventForm
    site_lookup = "participant__site"
    autocomplete_fields = ["term"]
    list_display = [
        "participant",
        "term",
        "grade",
        "onset_date",
        "resolution_date",
        "serious",
        "acknowledged_at",
    ]
    list_select_related = ["participant", "term"]
    list_filter = ["serious", AcknowledgedFilter, "grade", "participant__site"]
    search_fields = ["participant__screening_number", "term__term", "term__term_zh", "term__meddra_code"]
    actions = ["acknowledge_selected"]
    # What a saved toxicity keeps: changed through ae_update (grade, resolution, seriousness,
    # attribution) or ae_acknowledge, never edited directly.
    FIXED = ["participant", "term", "onset_date", "phase_text", "cycle_number", "notes"]
    RECORD = ["attribution_text", "recorded_by", "recorded_at", "acknowledged_by", "acknowledged_at"]

    def _decision_links(self, request: HttpRequest) -> list[Any]:
        """For an investigator (who decides dose modifications): one link per drug to the
        dose-modification form pre-filled from this toxicity (dosing proposes the table's level).
        One display function per request, so that fields and read-only fields name the same."""
        if not request.user.has_perm("dosing.add_dosemodification"):
            return []
        cached = getattr(request, "_ae_decision_links", None)
        if cached is None:

            @admin.display(description=_("dose modification"))
            def decide(obj: AdverseEvent) -> str:
                url = reverse("admin:dosing_dosemodification_add")
                related = [a.drug for a in obj.attributions.all() if a.relatedness in RELATED]
                rows = [
                    (f"{url}?{urlencode({'adverse_event': str(obj.pk), 'drug': str(drug)})}", i18n.drug_name(drug))
                    for drug in (related or protocol_drugs())
                ]
                return format_html_join(" ", '<a class="button decide-modification" href="{}">{}</a>', rows)

            cached = [decide]
            request._ae_decision_links = cached  # type: ignore[attr-defined]
        return cached

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        if not self.has_change_permission(request, obj):
            return [*self.FIXED, "grade", "resolution_date", "serious", *self.RECORD, *self._decision_links(request)]
        return [*self.FIXED, *self.RECORD, *self._decision_links(request)]

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> HttpResponse:
        request._ae_version_page = True  # type: ignore[attr-defined]
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        drugs = [ATTRIBUTION_PREFIX + d for d in protocol_drugs()]
        if getattr(request, "_ae_version_page", False):
            # A past version: its own columns only (the form's inputs and the current
            # attributions are not part of it).
            return [*self.FIXED, "grade", "resolution_date", "serious", *self.RECORD[1:]]
        if obj is None:
            return [*AdverseEventForm.Meta.fields, *drugs]
        if not self.has_change_permission(request, obj):
            return [*self.FIXED, "grade", "resolution_date", "serious", *self.RECORD, *self._decision_links(request)]
        changeable = ["grade", "resolution_date", "serious", *drugs, "reason"]
        if obj.awaits_acknowledgement and request.user.has_perm(ACKNOWLEDGE):
            changeable.append("acknowledge")
        return [*self.FIXED, *changeable, *self.RECORD, *self._decision_links(request)]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        # The attribution fields are added by the form itself (one per protocol drug).
        readonly = self.get_readonly_fields(request, obj)
        kwargs["fields"] = [
            f
            for f in self.get_fields(request, obj)
            if f not in readonly and isinstance(f, str) and not f.startswith(ATTRIBUTION_PREFIX)
        ]
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description=_("phase"), ordering="phase")
    def phase_text(self, obj: AdverseEvent) -> str:
        return i18n.phase_name(obj.phase) if obj.phase else "—"

    @admin.display(description=_("attribution"))
    def attribution_text(self, obj: AdverseEvent) -> str:
        rows = [(i18n.drug_name(a.drug), a.get_relatedness_display()) for a in obj.attributions.all()]
        return format_html_join("", "<div>{}: {}</div>", rows) if rows else "—"

    def save_model(self, request: HttpRequest, obj: AdverseEvent, form: Any, change: bool) -> None:
        data = form.cleaned_data
        by = roles.actor(request.user)
        with self.refusal(request, form):
            if not change:
                row = services.ae_record(
                    participant=data["participant"],
                    term=data["term"],
                    grade=data["grade"],
                    onset_date=data["onset_date"],
                    resolution_date=data.get("resolution_date"),
                    phase=data.get("phase") or "",
                    cycle_number=data.get("cycle_number"),
                    serious=bool(data.get("serious")),
                    attribution=form.attribution(),
                    notes=data.get("notes") or "",
                    by=by,
                    now=clock.now(),
                    today=clock.today(),
                )
                obj.pk = row.pk
            else:
                changed = {name for name in form.changed_data if name not in ("reason", "acknowledge")}
                if changed:
                    services.ae_update(
                        adverse_event=obj,
                        grade=data["grade"],
                        resolution_date=data.get("resolution_date"),
                        serious=bool(data.get("serious")),
                        attribution=form.attribution(),
                        reason=data.get("reason") or "",
                        by=by,
                        now=clock.now(),
                        today=clock.today(),
                    )
                if data.get("acknowledge"):
                    services.ae_acknowledge(adverse_event=obj, by=by, now=clock.now())
        obj.refresh_from_db()

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ACKNOWLEDGE)

    @admin.action(description=_("Acknowledge the selected SAEs"), permissions=["acknowledge"])
    def acknowledge_selected(self, request: HttpRequest, queryset: QuerySet[AdverseEvent]) -> None:
        done = 0
        for event in queryset.filter(serious=True, acknowledged_at__isnull=True).order_by("pk"):
            try:
                services.ae_acknowledge(adverse_event=event, by=roles.actor(request.user), now=clock.now())
            except ApplicationError as exc:
                show_error(request, exc)
            else:
                done += 1
        messages.success(request, _("%(n)s SAE(s) acknowledged.") % {"n": done})


@admin.register(SaeAlert)
class SaeAlertAdmin(SiteScopedAdminMixin, NoDeleteMixin, GuardedAdmin):
    """What the SAE alerts did (read-only): written with the SAE, sent by the worker."""

    site_lookup = "adverse_event__participant__site"
    list_display = ["adverse_event", "recipient", "channel", "status", "attempts", "sent_at", "detail"]
    list_select_related = ["adverse_event__participant", "adverse_event__term", "recipient"]
    list_filter = ["status", "channel"]
    readonly_fields = [
        "adverse_event",
        "recipient",
        "channel",
        "address",
        "status",
        "attempts",
        "claimed_at",
        "sent_at",
        "provider_id",
        "detail",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
