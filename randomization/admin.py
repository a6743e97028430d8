"""Admin of eligibility and randomization. Every write goes through randomization.services:
screening (nurses), the "Randomize" button with its confirmation page (nurses, investigators),
schemes and the allocation record (statistician only; the seed has no admin at all)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import translation
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from randomization import selectors, services
from randomization.models import Allocation, ParticipantToRandomize, RandomizationScheme, ScreeningAssessment
from trialsite import clock, i18n, roles
from trialsite import selectors as registry
from trialsite.admin import (
    ARM_FILTER,
    NoDeleteMixin,
    SiteScopedAdminMixin,
    code_filter,
    show_error,
    stored_json,
)
from trialsite.admin_guard import GuardedAdmin, GuardedHistoryAdmin
from trialsite.errors import ApplicationError
from trialsite.forms import BoundedDecimalField
from trialsite.models import Participant, Trial

YES_NO = [("", "—"), ("yes", _("yes")), ("no", _("no"))]


class ScreeningAssessmentForm(forms.ModelForm[ScreeningAssessment]):
    """The protocol's screening questions as form fields (one per rule field and factor)."""

    class Meta:
        model = ScreeningAssessment
        fields = ["participant", "assessed_on"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        trial = Trial.objects.select_related("current_protocol").first()
        definition = trial.definition if trial else {}
        texts: dict[str, str] = {}
        # The criterion's wording in the nurse's language (the protocol file has `text_zh`).
        text_key = "text_zh" if translation.get_language() == "zh-hans" else "text"
        for kind in ("inclusion", "exclusion"):
            for criterion in definition.get("eligibility", {}).get(kind, []):
                rule = criterion["rule"]
                for sub in rule.get("rules", [rule]):
                    if "field" in sub:
                        texts.setdefault(sub["field"], criterion.get(text_key) or criterion["text"])
        self.finding_fields = services.assessment_fields(definition)
        for name, kind in self.finding_fields.items():
            # The criterion in words, and the field's code (the API's name for it) as code.
            label = format_html("{} <code>{}</code>", texts[name], name) if name in texts else name
            if kind == "boolean":
                self.fields[f"f_{name}"] = forms.ChoiceField(label=label, choices=YES_NO, required=False)
            else:
                # Bounded before conversion, as the API's findings are (randomization.services).
                self.fields[f"f_{name}"] = BoundedDecimalField(
                    label=label,
                    required=False,
                    min_value=Decimal(0),
                    max_digits=services.FINDING_DIGITS,
                    decimal_places=services.FINDING_PLACES,
                )

    def findings(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, kind in self.finding_fields.items():
            value = self.cleaned_data.get(f"f_{name}")
            if value in (None, ""):
                continue
            out[name] = (value == "yes") if kind == "boolean" else value
        return out


@admin.register(ScreeningAssessment)
class ScreeningAssessmentAdmin(SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    site_lookup = "participant__site"
    list_display = ["participant", "assessed_on", "outcome", "age_years", "creatinine_clearance_ml_min", "assessed_by"]
    list_filter = ["outcome"]
    search_fields = ["participant__screening_number"]
    form = ScreeningAssessmentForm
    readonly_fields = [
        "participant",
        "assessed_on",
        "outcome",
        "reasons",
        "age_years",
        "weight_kg",
        "creatinine_clearance_ml_min",
        stored_json("findings", _("findings")),
        stored_json("labs", _("lab values used")),
        "assessed_by",
        "assessed_at",
    ]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return self.readonly_fields
        return super().get_fields(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """The add form shows the protocol's screening questions, which the form adds at run time
        (so they are listed here for rendering, and kept out of the model form's `fields`)."""
        if obj is not None:
            return super().get_fieldsets(request, obj)
        trial = Trial.objects.select_related("current_protocol").first()
        questions = [f"f_{name}" for name in services.assessment_fields(trial.definition if trial else {})]
        return [(None, {"fields": ["participant", "assessed_on"]}), (_("Screening questions"), {"fields": questions})]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["fields"] = ["participant", "assessed_on"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    @admin.display(description=_("reasons"))
    def reasons(self, obj: ScreeningAssessment) -> str:
        return "; ".join(services.criterion_reason(c) for c in obj.criteria if c["status"] != "met") or "—"

    def save_model(self, request: HttpRequest, obj: ScreeningAssessment, form: Any, change: bool) -> None:
        try:
            created = services.screening_assessment_record(
                participant=form.cleaned_data["participant"],
                assessed_on=form.cleaned_data["assessed_on"],
                findings=form.findings(),
                by=roles.actor(request.user),
                today=clock.today(),
            )
        except ApplicationError as exc:
            show_error(request, exc)
            raise _Refused from exc
        obj.pk = created.pk
        obj.refresh_from_db()
        if created.outcome == "eligible":
            messages.success(request, _("Eligible."))
        else:
            messages.warning(request, f"{created.get_outcome_display()}: {self.reasons(created)}")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except _Refused:
            return HttpResponseRedirect(request.get_full_path())


class _Refused(Exception):
    """A service refused the admin's write; the request's transaction is rolled back."""


class RandomizeForm(forms.Form):
    scrt_start_date = forms.DateField(
        label=_("SCRT start date (optional)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    confirm = forms.BooleanField(label=_("I confirm this participant is to be randomized now."), required=True)


@admin.register(ParticipantToRandomize)
class RandomizeAdmin(SiteScopedAdminMixin, GuardedAdmin):
    """Participants of the user's sites with their randomization state and a "Randomize" button."""

    list_display = ["screening_number", "full_name", "site", "status", "randomization_number", "randomize_button"]
    list_filter = ["status", "site"]
    search_fields = ["screening_number", "full_name"]
    exclude = ["arm"]
    readonly_fields = ["arm_name"]

    @admin.display(description=_("arm"))
    def arm_name(self, obj: Participant) -> str:
        return i18n.arm_name(obj.arm) if obj.arm else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("randomization.randomize_participant")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.display(description=_("randomize"))
    def randomize_button(self, obj: Participant) -> str:
        if obj.is_randomized:
            return "—"
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:randomization_participanttorandomize_randomize", args=[obj.pk]),
            _("Randomize"),
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:pk>/randomize/",
                self.admin_site.admin_view(self.randomize_view),
                name="randomization_participanttorandomize_randomize",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        trial = Trial.objects.first()
        extra: dict[str, Any] = {"title": _("Randomize participants")}
        if trial is not None:
            scheme = selectors.active_scheme(trial)
            extra["subtitle"] = (
                _("Scheme v%(v)s, commitment SHA-256 %(c)s") % {"v": scheme.version, "c": scheme.commitment}
                if scheme
                else _("Randomization has not been activated.")
            )
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def randomize_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        participant = get_object_or_404(registry.participants_for_user(request.user), pk=pk)
        today = clock.local_date(clock.now(), participant.site.time_zone)
        assessment = services.latest_assessment(participant, today=today)
        scheme = selectors.active_scheme(participant.trial)
        form = RandomizeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                allocation = services.participant_randomize(
                    participant=participant,
                    by=roles.actor(request.user),
                    now=clock.now(),
                    scrt_start_date=form.cleaned_data.get("scrt_start_date"),
                )
            except ApplicationError as exc:
                show_error(request, exc)
            else:
                messages.success(
                    request,
                    _("%(p)s randomized: number %(n)s, arm %(arm)s.")
                    % {"p": participant, "n": allocation.sequence, "arm": i18n.arm_name(allocation.arm)},
                )
                return HttpResponseRedirect(reverse("admin:randomization_participanttorandomize_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Randomize %(p)s") % {"p": participant},
            "participant": participant,
            "assessment": assessment,
            "reasons": services.eligibility_reasons(assessment, today=today),
            "met": [c for c in (assessment.criteria if assessment else []) if c["status"] == "met"],
            "scheme": scheme,
            "form": form,
        }
        return TemplateResponse(request, "admin/randomization/randomize_confirm.html", context)


METHODS = {
    "minimization": pgettext_lazy("randomization method", "minimization"),
    "blocks": pgettext_lazy("randomization method", "permuted blocks"),
    "efron": pgettext_lazy("randomization method", "Efron's biased coin"),
    "simple": pgettext_lazy("randomization method", "simple randomization"),
}
IMBALANCE_MEASURES = {
    "range": pgettext_lazy("imbalance measure", "range"),
    "variance": pgettext_lazy("imbalance measure", "variance"),
}


CONFIG_JSON = stored_json("config", _("configuration"))


class SchemeForm(forms.ModelForm[RandomizationScheme]):
    method = forms.ChoiceField(label=_("method"), choices=list(METHODS.items()))
    p = forms.FloatField(
        label=_("p"), initial=0.8, min_value=0.5, max_value=1, help_text=_("minimization: P(minimizing arm)")
    )
    imbalance = forms.ChoiceField(label=_("imbalance measure"), choices=list(IMBALANCE_MEASURES.items()))
    block_sizes = forms.CharField(
        label=_("block sizes"), initial="4,6", help_text=_("permuted blocks: sizes, comma-separated")
    )
    efron_p = forms.FloatField(label=_("Efron's p"), initial=0.6667, min_value=0.5, max_value=1)

    class Meta:
        model = RandomizationScheme
        fields = ["trial", "reason"]


@admin.register(RandomizationScheme)
class RandomizationSchemeAdmin(NoDeleteMixin, GuardedHistoryAdmin):
    """Statistician only (the permissions of the other roles do not include schemes)."""

    list_display = ["trial", "version", "status", "commitment", "activated_at", "activated_by"]
    actions = ["activate"]
    form = SchemeForm

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["trial", "method", "p", "imbalance", "block_sizes", "efron_p", "reason"]
        return ["trial", "version", "status", CONFIG_JSON, "commitment", "reason", "created_by", "activated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: RandomizationScheme, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            sizes = [int(s) for s in str(data["block_sizes"]).replace(" ", "").split(",") if s]
            created = services.scheme_create(
                trial=data["trial"],
                by=roles.actor(request.user),
                reason=data.get("reason", ""),
                overrides={
                    "method": data["method"],
                    "p": data["p"],
                    "imbalance": data["imbalance"],
                    "block_sizes": sizes,
                    "efron_p": data["efron_p"],
                },
            )
        except ValueError:
            messages.error(request, _("Block sizes must be whole numbers separated by commas."))
            raise _Refused from None
        except ApplicationError as exc:
            show_error(request, exc)
            raise _Refused from exc
        obj.pk = created.pk
        obj.refresh_from_db()

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except _Refused:
            return HttpResponseRedirect(request.get_full_path())

    def has_activate_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("randomization.activate_scheme")

    @admin.action(
        description=_("Activate (publish the commitment and freeze the configuration)"), permissions=["activate"]
    )
    def activate(self, request: HttpRequest, queryset: QuerySet[RandomizationScheme]) -> None:
        for scheme in queryset:
            try:
                activated = services.scheme_activate(scheme=scheme, by=roles.actor(request.user), now=clock.now())
            except ApplicationError as exc:
                show_error(request, exc)
            else:
                messages.success(
                    request, _("%(s)s activated; commitment %(c)s.") % {"s": activated, "c": activated.commitment}
                )


def _method_name(code: str) -> str:
    return str(METHODS.get(code, code))


METHOD_FILTER = code_filter("method", _("method"), _method_name)


@admin.register(Allocation)
class AllocationAdmin(SiteScopedAdminMixin, GuardedAdmin):
    """The allocation record, read-only, for the statistician (view_allocation permission), of
    the sites the statistician works for (it names participants)."""

    site_lookup = "participant__site"

    list_display = ["sequence", "trial", "participant", "arm_name", "method_name", "allocated_at", "allocated_by"]
    list_filter = ["trial", ARM_FILTER, METHOD_FILTER]
    readonly_fields = [
        {
            "arm": "arm_name",
            "method": "method_name",
            "factors": "factors_json",
            "draws": "draws_json",
            "details": "details_json",
        }.get(f.name, f.name)
        for f in Allocation._meta.fields
    ]
    exclude = ["arm", "method", "factors", "draws", "details"]  # shown by the methods below
    # The allocation record as stored (it is hashed): JSON with codes, shown as code.
    factors_json = staticmethod(stored_json("factors", _("factor values")))
    draws_json = staticmethod(stored_json("draws", _("draws")))
    details_json = staticmethod(stored_json("details", _("decision details")))

    @admin.display(description=_("arm"), ordering="arm")
    def arm_name(self, obj: Allocation) -> str:
        return i18n.arm_name(obj.arm)

    @admin.display(description=_("method"), ordering="method")
    def method_name(self, obj: Allocation) -> str:
        return _method_name(obj.method)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
