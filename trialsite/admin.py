"""Admin of the trial registry. Every write goes through trialsite.services; nurses see only their
sites' participants; nothing clinical can be deleted here."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise

from trialsite import clock, i18n, labs, phrases, plausibility, roles, selectors, services
from trialsite.admin_forms import ServiceFormAdminMixin, attempt, attempt_on_form
from trialsite.admin_guard import GuardedAdmin, GuardedHistoryAdmin
from trialsite.forms import BoundedDecimalField
from trialsite.models import (
    LabResult,
    Measurement,
    Participant,
    ParticipantStatus,
    ProtocolVersion,
    Site,
    SiteMembership,
    SiteReferenceRange,
    StaffProfile,
    Trial,
)


class SiteScopedAdminMixin:
    """Limit querysets and site choices to the user's sites (superusers see everything).

    `site_lookup` is the path from the model to its Site (e.g. "site" or "participant__site")."""

    site_lookup = "site"
    # A site-scoped list grows with the trial: no second COUNT(*) of the whole table per page
    # (the filtered count stays); each admin lists the relations its columns read in
    # list_select_related (without it Django follows every non-null foreign key, down to the
    # protocol definition's JSON, for every row).
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.site_lookup}__in": selectors.user_site_ids(request.user)})

    def get_list_filter(self, request: HttpRequest) -> Any:
        """A site filter ("site", "participant__site") offers only the user's sites."""
        return [
            (f, UserSitesFilter) if isinstance(f, str) and f.split("__")[-1] == "site" else f
            for f in super().get_list_filter(request)  # type: ignore[misc]
        ]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "site" and not request.user.is_superuser:
            kwargs["queryset"] = selectors.sites_for_user(request.user)
        if db_field.name == "participant" and not request.user.is_superuser:
            kwargs["queryset"] = selectors.participants_for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


def code_column(field: str, description: StrPromise, name: Callable[[str], str]) -> Callable[[Any], str]:
    """A list/readonly column showing a protocol code (arm, phase, drug) in the reader's language."""

    @admin.display(description=description, ordering=field)
    def column(obj: Any) -> str:
        value = getattr(obj, field)
        return name(value) if value else "—"

    column.__name__ = f"{field}_name"
    return column


def stored_json(field: str, description: StrPromise) -> Callable[[Any], str]:
    """A read-only JSON field shown as what it is: stored data with codes for keys, in <code>
    (readable Chinese values kept as they are, not as \\u escapes)."""

    @admin.display(description=description)
    def column(obj: Any) -> str:
        value = getattr(obj, field)
        text = json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True, default=str)
        return format_html('<code style="white-space:pre-wrap">{}</code>', text)

    column.__name__ = f"{field}_json"
    return column


def code_filter(
    field: str, title: StrPromise, name: Callable[[str], str], codes: Callable[[], Iterable[str]] | None = None
) -> type[admin.SimpleListFilter]:
    """A list filter over a code column whose choices read in the reader's language.

    The choices are the codes the user's rows hold (a DISTINCT over the admin's queryset), or
    `codes()` where that scan would grow with a large table (the reminders, issue 16): the
    codes that can occur, read from the code or a small table."""

    class CodeFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            if codes is not None:
                values: Iterable[str] = codes()
            else:
                values = model_admin.get_queryset(request).order_by().values_list(field, flat=True).distinct()
            return [(v, name(v)) for v in sorted({v for v in values if v})]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    CodeFilter.title = title
    return CodeFilter


ARM_COLUMN = code_column("arm", _("arm"), i18n.arm_name)
ARM_FILTER = code_filter("arm", _("arm"), i18n.arm_name)
PHASE_COLUMN = code_column("phase", _("phase"), i18n.phase_name)
PHASE_FILTER = code_filter("phase", _("phase"), i18n.phase_name)
DRUG_COLUMN = code_column("drug", _("drug"), i18n.drug_name)
DRUG_FILTER = code_filter("drug", _("drug"), i18n.drug_name)


class DeathForm(forms.Form):
    died_on = forms.DateField(label=_("date of death"), widget=forms.DateInput(attrs={"type": "date"}))
    notes = forms.CharField(label=_("notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class UserSitesFilter(admin.RelatedFieldListFilter):
    """The site filter offers only the sites the user works at."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[tuple[str, str | StrPromise]]:
        return [(str(s.pk), str(s)) for s in selectors.sites_for_user(request.user).order_by("code")]


class NoDeleteMixin:
    """Clinical records are never hard-deleted (they are withdrawn or marked entered in error)."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)  # type: ignore[misc]
        actions.pop("delete_selected", None)
        return actions


@admin.register(Trial)
class TrialAdmin(NoDeleteMixin, GuardedHistoryAdmin):
    list_display = ["registry_id", "display_title", "target_enrollment", "current_protocol"]
    readonly_fields = ["registry_id", "display_title", "target_enrollment", "current_protocol", "sites", "created_at"]

    @admin.display(description=_("title"))
    def display_title(self, obj: Trial) -> str:
        """The registry title, or the protocol file's Chinese title (`trial.title_zh`) for a
        Chinese reader."""
        if translation.get_language() == "zh-hans":
            return str(obj.definition.get("trial", {}).get("title_zh") or obj.title)
        return obj.title

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # trials come from protocol definition files (seed_demo / load_protocol)


@admin.register(ProtocolVersion)
class ProtocolVersionAdmin(NoDeleteMixin, GuardedAdmin):
    list_display = ["trial", "version", "sha256", "loaded_at", "source_path"]
    readonly_fields = ["trial", "version", "sha256", "loaded_at", "source_path", "definition"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Numbers typed in the admin are bounded before conversion ("1e999999999", "NaN": trialsite/numbers.py).
BOUNDED_NUMBERS: dict[type[models.Field[Any, Any]], dict[str, Any]] = {
    models.DecimalField: {"form_class": BoundedDecimalField}
}


def lab_unit_choices() -> list[tuple[str, str]]:
    """Every unit of the lab catalogue, as the screen shows it (µmol/L, ×10⁹/L)."""
    return [("", "---------"), *((u, labs.unit_label(u)) for u in labs.UNITS)]


class LabUnitFormMixin(forms.ModelForm[Any]):
    """The unit is chosen from a list, never typed and never assumed: the model's clean() refuses
    a unit the analyte lacks (trialsite/labs.py), and lab_units.js shows only the chosen
    analyte's units (the analyte's select carries the catalogue as data-lab-units)."""

    unit = forms.ChoiceField(label=_("unit"), choices=lab_unit_choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        catalogue = {code: labs.accepted_units(code) for code in labs.ANALYTES}
        self.fields["analyte"].widget.attrs["data-lab-units"] = json.dumps(catalogue)


class SiteReferenceRangeForm(LabUnitFormMixin):
    class Meta:
        model = SiteReferenceRange
        fields = ["analyte", "uln", "unit"]


class LabResultForm(LabUnitFormMixin):
    class Meta:
        model = LabResult
        fields = ["analyte", "value", "unit", "uln", "collected_on"]

    def clean(self) -> dict[str, Any]:
        """The service's unit and plausibility rules (trialsite/labs.py), asked early as well, so
        that a wrong unit is shown together with every other error of the page (issue 14)."""
        data = super().clean() or {}
        analyte, unit, value = data.get("analyte"), data.get("unit"), data.get("value")
        if analyte in labs.ANALYTES and unit and value is not None:
            values = {"value": value} | ({"uln": data["uln"]} if data.get("uln") is not None else {})
            for field, message in labs.value_errors(analyte, labs.normalize_unit(unit), values).items():
                if field not in self.errors:
                    self.add_error(field, message)
        return data


LAB_UNITS_JS = "trialsite/lab_units.js"


class SiteReferenceRangeInline(admin.TabularInline[SiteReferenceRange, Site]):
    model = SiteReferenceRange
    form = SiteReferenceRangeForm
    formfield_overrides = BOUNDED_NUMBERS
    extra = 0

    class Media:
        js = [LAB_UNITS_JS]


@admin.register(Site)
class SiteAdmin(NoDeleteMixin, GuardedHistoryAdmin):
    list_display = [
        "code",
        "name",
        "name_zh",
        "city",
        "time_zone",
        "opening_time",
        "closing_time",
        "infusion_chairs_per_day",
    ]
    search_fields = ["code", "name", "name_zh", "city"]
    inlines = [SiteReferenceRangeInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Site]:
        return selectors.sites_for_user(request.user)


@admin.register(SiteMembership)
class SiteMembershipAdmin(GuardedHistoryAdmin):
    list_display = ["user", "site"]
    list_filter = [("site", UserSitesFilter)]
    search_fields = ["user__username"]


@admin.register(StaffProfile)
class StaffProfileAdmin(GuardedAdmin):
    list_display = ["user", "language"]


class SiteMembershipInline(admin.TabularInline[SiteMembership, User]):
    model = SiteMembership
    extra = 0


admin.site.unregister(User)


@admin.register(User)
class TrialSiteUserAdmin(GuardedAdmin, UserAdmin):
    inlines = [SiteMembershipInline]


class EnteredInErrorForm(forms.Form):
    reason = forms.CharField(
        label=_("reason"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Why the value is wrong (e.g. typed into the wrong participant, wrong unit)."),
    )


CORRECTION_KINDS: dict[str, type[Measurement] | type[LabResult]] = {"measurement": Measurement, "lab": LabResult}


def correction_url(row: Measurement | LabResult) -> str:
    kind = "measurement" if isinstance(row, Measurement) else "lab"
    return reverse("admin:trialsite_participant_entered_in_error", args=[row.participant_id, kind, row.pk])


class SavedRowsReadOnlyInline(NoDeleteMixin):
    """Saved rows are shown, never offered as inputs: a recorded value is corrected by marking it
    entered in error (with a reason) and recording the right value as a new row; both stay in
    the history. Only the empty rows for new values are editable."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Django then renders saved rows read-only and ignores any data posted for them.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Each row shows who recorded it and names its participant: one query for all rows, not
        # two more per row (a participant after 16 cycles of labs has hundreds).
        return super().get_queryset(request).select_related("recorded_by", "participant")  # type: ignore[misc]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)  # type: ignore[misc]
        if obj is None:  # a new participant has no saved rows: no columns about them
            saved_only = set(self.readonly_fields)  # type: ignore[attr-defined]
            return [f for f in fields if f not in saved_only]
        return fields

    @admin.display(description=_("correction"))
    def correction(self, row: Measurement | LabResult) -> str:
        if row.pk is None:
            return ""
        if row.entered_in_error:
            return format_html("<s>{}</s>", _("entered in error"))
        return format_html('<a class="button" href="{}">{}</a>', correction_url(row), _("Mark as entered in error"))


class MeasurementInline(SavedRowsReadOnlyInline, admin.TabularInline[Measurement, Participant]):
    model = Measurement
    fields = ["kind", "value", "measured_on", "error_reason", "recorded_by", "recorded_at", "correction"]
    readonly_fields = ["error_reason", "recorded_by", "recorded_at", "correction"]
    formfield_overrides = BOUNDED_NUMBERS
    extra = 1


class LabResultInline(SavedRowsReadOnlyInline, admin.TabularInline[LabResult, Participant]):
    model = LabResult
    form = LabResultForm
    fields = ["analyte", "value", "unit", "uln", "collected_on", "error_reason", "recorded_by", "correction"]
    readonly_fields = ["error_reason", "recorded_by", "correction"]
    formfield_overrides = BOUNDED_NUMBERS
    extra = 1

    class Media:
        js = [LAB_UNITS_JS]


class ParticipantAddForm(forms.ModelForm[Participant]):
    def clean(self) -> dict[str, Any]:
        """participant_create's date rules (trialsite/plausibility.py), asked early as well, so
        that they are shown together with the format errors of the other fields (issue 14)."""
        data = super().clean() or {}
        birth, consent, today = data.get("birth_date"), data.get("consent_date"), clock.today()
        if birth is not None:
            found = {
                "birth_date": plausibility.birth_date_error(birth, today=today),
                "consent_date": plausibility.date_error("consent_date", consent, today=today, birth_date=birth),
            }
            for field, message in found.items():
                if message and field not in self.errors:
                    self.add_error(field, message)
        return data

    class Meta:
        model = Participant
        fields = [
            "trial",
            "site",
            "screening_number",
            "full_name",
            "sex",
            "birth_date",
            "consent_date",
            "phone",
            "email",
            "preferred_language",
            "reminders_by_sms",
            "reminders_by_email",
        ]


@admin.register(Participant)
class ParticipantAdmin(ServiceFormAdminMixin, SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    list_display = [
        "screening_number",
        "full_name",
        "site",
        "status",
        ARM_COLUMN,
        "randomization_number",
        "consent_date",
    ]
    list_filter = ["status", ("site", UserSitesFilter), ARM_FILTER]
    list_select_related = ["site"]
    # arm: shown by ARM_COLUMN, in the reader's language (and never edited here); the withdrawal
    # reason by withdrawal_reason_text.
    exclude = ["arm", "withdrawal"]
    search_fields = ["screening_number", "full_name"]
    inlines = [MeasurementInline, LabResultInline]
    actions = ["withdraw_selected"]
    # Status, arm and randomization are changed only by services (eligibility, randomize, withdraw).
    readonly_fields = [
        "workflow",
        "trial",
        "protocol_version",
        "site",
        "screening_number",
        "status",
        ARM_COLUMN,
        "randomization_number",
        "randomized_at",
        "withdrawn_at",
        "withdrawal_reason_text",
        "created_at",
        "created_by",
    ]

    @admin.display(description=_("withdrawal reason"))
    def withdrawal_reason_text(self, obj: Participant) -> str:
        """As typed; the system's own reason ("died") in the reader's language."""
        return phrases.render(obj.withdrawal) or "—"

    @admin.display(description=_("workflow"))
    def workflow(self, obj: Participant) -> str:
        """Links to the next steps in the other apps (screening, randomization, calendar, dose
        sheets). Resolved by URL name, so the registry does not import the feature apps."""
        steps = [
            (_("Screening assessment"), "admin:randomization_screeningassessment_add", [], f"?participant={obj.pk}"),
            (_("Randomize"), "admin:randomization_participanttorandomize_randomize", [obj.pk], ""),
            (_("Calendar"), "admin:schedules_timeline", [obj.pk], ""),
            (_("Dose sheets"), "admin:dosing_dosesheet_changelist", [], f"?participant__id__exact={obj.pk}"),
            (_("Record a death"), "admin:trialsite_participant_death", [obj.pk], ""),
        ]
        links = []
        for label, name, args, query in steps:
            try:
                links.append(
                    format_html('<a class="button" href="{}{}">{}</a>', reverse(name, args=args), query, label)
                )
            except NoReverseMatch:
                continue
        return format_html_join(" ", "{}", ((link,) for link in links))

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ParticipantAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["created_at", "created_by"]
        fields = list(self.readonly_fields)
        if obj.is_randomized:
            fields += ["full_name", "sex", "birth_date", "consent_date"]
        return fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ParticipantAddForm.Meta.fields
        return super().get_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: Participant, form: Any, change: bool) -> None:
        with self.refusal(request, form):
            if not change:
                data = {k: form.cleaned_data[k] for k in ParticipantAddForm.Meta.fields}
                created = services.participant_create(by=roles.actor(request.user), today=clock.today(), **data)
                obj.pk = created.pk
                obj.refresh_from_db()
                return
            changed = list(form.changed_data)
            if "consent_date" in changed and obj.consent_date is not None:
                services.participant_record_consent(
                    participant=obj, consent_date=obj.consent_date, by=roles.actor(request.user), today=clock.today()
                )
                changed.remove("consent_date")
            changes = {f: form.cleaned_data[f] for f in changed if f in services.DETAIL_FIELDS}
            if changes:
                services.participant_update_details(
                    participant=obj, changes=changes, by=roles.actor(request.user), today=clock.today()
                )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """New measurement and lab rows go through the services; saved rows are read-only (a
        wrong one is marked entered in error). Every refused row is reported on its row, and the
        whole save is undone (ServiceFormAdminMixin)."""
        participant = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        by = roles.actor(request.user)
        for inline_form in formset.forms:
            if not inline_form.has_changed() or inline_form.instance.pk:
                continue
            data = inline_form.cleaned_data
            with self.refusal(request, inline_form, inline=True):
                if formset.model is Measurement:
                    row: Any = services.measurement_record(
                        participant=participant,
                        kind=data["kind"],
                        value=data["value"],
                        measured_on=data["measured_on"],
                        by=by,
                        today=clock.today(),
                    )
                else:
                    row = services.lab_result_record(
                        participant=participant,
                        analyte=data["analyte"],
                        value=data["value"],
                        unit=data["unit"],
                        uln=data.get("uln"),
                        collected_on=data["collected_on"],
                        by=by,
                        today=clock.today(),
                    )
                formset.new_objects.append(row)

    def get_urls(self) -> list[Any]:
        from django.urls import path

        return [
            path("<int:pk>/death/", self.admin_site.admin_view(self.death_view), name="trialsite_participant_death"),
            path(
                "<int:pk>/entered-in-error/<str:kind>/<int:row_pk>/",
                self.admin_site.admin_view(self.entered_in_error_view),
                name="trialsite_participant_entered_in_error",
            ),
            *super().get_urls(),
        ]

    def death_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """A small form: the date of death and notes, through participant_record_death."""
        participant = get_object_or_404(self.get_queryset(request), pk=pk)
        if not request.user.has_perm("trialsite.withdraw_participant"):
            raise PermissionDenied
        form = DeathForm(request.POST or None)
        if (
            request.method == "POST"
            and form.is_valid()
            and attempt_on_form(
                form,
                lambda: services.participant_record_death(
                    participant=participant,
                    died_on=form.cleaned_data["died_on"],
                    notes=form.cleaned_data["notes"],
                    by=roles.actor(request.user),
                    now=clock.now(),
                    today=clock.today(),
                ),
            )
        ):
            messages.success(request, _("The death of %(p)s is recorded.") % {"p": participant})
            return HttpResponseRedirect(reverse("admin:trialsite_participant_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": _("Record a death: %(p)s") % {"p": participant},
            "form": form,
            "effects": selectors.withdrawal_effects(participant),
            "participant": participant,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/trialsite/participant/death.html", context)

    def entered_in_error_view(self, request: HttpRequest, pk: int, kind: str, row_pk: int) -> HttpResponse:
        """Mark one saved measurement or lab result as entered in error, with a reason; the page
        then leads back to the participant, where the right value is a new row."""
        participant = get_object_or_404(self.get_queryset(request), pk=pk)
        model = CORRECTION_KINDS.get(kind)
        if model is None:
            raise Http404
        row = cast(Measurement | LabResult, get_object_or_404(model.objects.filter(participant=participant), pk=row_pk))
        if not request.user.has_perm(f"trialsite.change_{model._meta.model_name}"):
            raise PermissionDenied
        form = EnteredInErrorForm(request.POST or None)
        if (
            request.method == "POST"
            and form.is_valid()
            and attempt_on_form(
                form,
                lambda: services.record_mark_entered_in_error(
                    record=row, reason=form.cleaned_data["reason"], by=roles.actor(request.user)
                ),
            )
        ):
            messages.success(
                request,
                _("%(row)s is marked as entered in error. Record the right value as a new row.") % {"row": row},
            )
            group = "measurements" if kind == "measurement" else "lab_results"
            url = reverse("admin:trialsite_participant_change", args=[pk])
            return HttpResponseRedirect(f"{url}#{group}-group")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Mark as entered in error: %(row)s") % {"row": row},
            "form": form,
            "participant": participant,
            "row": row,
            "already": row.entered_in_error,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/trialsite/participant/entered_in_error.html", context)

    def has_withdraw_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("trialsite.withdraw_participant")

    @admin.action(description=_("Withdraw the selected participants"), permissions=["withdraw"])
    def withdraw_selected(self, request: HttpRequest, queryset: QuerySet[Participant]) -> HttpResponse | None:
        """First a page that says what the withdrawal stops (counted from the data) and asks for
        the reason; the reason is stored as typed."""
        participants = list(queryset.exclude(status__in=[ParticipantStatus.WITHDRAWN, ParticipantStatus.DECEASED]))
        reason = request.POST.get("withdrawal_reason", "")
        if request.POST.get("confirm") and reason.strip():
            for participant in participants:
                attempt(
                    request,
                    functools.partial(
                        services.participant_withdraw,
                        participant=participant,
                        reason=reason,
                        by=roles.actor(request.user),
                        now=clock.now(),
                    ),
                    _("%(p)s withdrawn.") % {"p": participant},
                )
            return None
        if not participants:
            messages.warning(request, _("The selected participants are already off study."))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Withdraw participants"),
            "opts": self.model._meta,
            "rows": [(p, selectors.withdrawal_effects(p)) for p in participants],
            "reason": reason,
            "reason_missing": bool(request.POST.get("confirm")),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/trialsite/participant/withdraw_confirm.html", context)


@admin.register(Measurement)
class MeasurementAdmin(SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    site_lookup = "participant__site"
    list_display = ["participant", "kind", "value", "measured_on", "entered_in_error"]
    list_select_related = ["participant"]
    list_filter = ["kind", "entered_in_error"]
    readonly_fields = [
        "participant",
        "kind",
        "value",
        "measured_on",
        "entered_in_error",
        "error_reason",
        "recorded_by",
        "recorded_at",
    ]
    actions = ["mark_entered_in_error"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # added on the participant's page, through the service

    # Flagging a record is a change of it: the roles that record clinical data (change_<model>).
    @admin.action(description=_("Mark as entered in error"), permissions=["change"])
    def mark_entered_in_error(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        """One value at a time, on the page that asks for the reason."""
        if queryset.count() != 1:
            messages.error(request, _("Select one value: each correction needs its own reason."))
            return None
        return HttpResponseRedirect(correction_url(queryset.get()))


@admin.register(LabResult)
class LabResultAdmin(MeasurementAdmin):
    list_display = ["participant", "analyte", "value", "unit_name", "uln", "collected_on", "entered_in_error"]
    list_filter = ["analyte", "entered_in_error"]
    readonly_fields = [
        "participant",
        "analyte",
        "value",
        "unit_name",
        "uln",
        "collected_on",
        "entered_in_error",
        "error_reason",
        "recorded_by",
        "recorded_at",
    ]
    exclude = ["unit"]  # shown translated as unit_name; a recorded lab is never edited

    @admin.display(description=_("unit"), ordering="unit")
    def unit_name(self, obj: LabResult) -> str:
        return labs.unit_label(obj.unit)
