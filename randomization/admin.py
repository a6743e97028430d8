"""Admin of eligibility and randomization. Every write goes through randomization.services:
screening (nurses), the "Randomize" button with its confirmation page (nurses, investigators),
schemes and the allocation record (statistician only; the seed has no admin at all)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from randomization import confirmation, readable, selectors, services
from randomization.error_codes import RandomizationErrorCode
from randomization.models import (
    Allocation,
    ConfirmationPrint,
    ParticipantToRandomize,
    RandomizationScheme,
    ScreeningAssessment,
)
from trialsite import clock, confirm, i18n, labs, roles, signatures
from trialsite import selectors as registry
from trialsite.admin import (
    ARM_FILTER,
    NoDeleteMixin,
    SiteScopedAdminMixin,
    code_filter,
    stored_json,
)
from trialsite.admin_forms import (
    SIGNATURE_FIELD,
    ServiceFormAdminMixin,
    attempt,
    show_error,
    sign_from_post,
    signature_field,
)
from trialsite.admin_guard import GuardedAdmin, GuardedHistoryAdmin
from trialsite.errors import ApplicationError, InvalidInput, NotFound, NotPermitted
from trialsite.forms import BoundedDecimalField
from trialsite.models import OFF_STUDY_STATUSES, Participant, Trial

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
        # The question in the nurse's language (the protocol file's `text_zh`): the criterion's
        # wording, or the stratification factor's own text.
        texts = readable.question_texts(definition)
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
class ScreeningAssessmentAdmin(ServiceFormAdminMixin, SiteScopedAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
    site_lookup = "participant__site"
    list_display = ["participant", "assessed_on", "outcome", "age_years", "creatinine_clearance_ml_min", "assessed_by"]
    list_select_related = ["participant", "assessed_by"]
    list_filter = ["outcome"]
    search_fields = ["participant__screening_number"]
    # A search box, not a dropdown of every participant (10,000 <option>s at scale, issue 16):
    # the admin's autocomplete answers from ParticipantAdmin's own site-scoped list.
    autocomplete_fields = ["participant"]
    form = ScreeningAssessmentForm
    readonly_fields = [
        "participant",
        "assessed_on",
        "outcome",
        "reasons",
        "age_years",
        "weight_kg",
        "creatinine_clearance_ml_min",
        "answers",
        "labs_used",
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
        (so they are listed here for rendering, and kept out of the model form's `fields`).
        Above them: what the assessment will read (labs, weight, consent) and what is missing,
        the last assessment to start from, and "all exclusions: no"."""
        if obj is not None:
            return super().get_fieldsets(request, obj)
        trial = Trial.objects.select_related("current_protocol").first()
        definition = trial.definition if trial else {}
        questions = [f"f_{name}" for name in services.assessment_fields(definition)]
        exclusions = [f"f_{name}" for name in readable.exclusion_fields(definition)]
        panel = format_html(
            '<div id="screening-inputs" data-url="{}">{}</div>',
            reverse("admin:randomization_screeningassessment_inputs"),
            self._inputs_fragment(
                request,
                request.POST.get("participant") or request.GET.get("participant"),
                request.POST.get("assessed_on") or request.GET.get("assessed_on"),
            ),
        )
        button = format_html(
            '<button type="button" class="button" id="all-exclusions-no" data-fields="{}">{}</button>',
            json.dumps(exclusions),
            _("All exclusions: no"),
        )
        return [
            (None, {"fields": ["participant", "assessed_on"], "description": panel}),
            (_("Screening questions"), {"fields": questions, "description": button}),
        ]

    class Media:
        js = ["randomization/screening.js"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """?copy_from=<assessment> starts from that assessment's answers (the participant's last
        one, offered on the page): the nurse changes what changed."""
        initial: dict[str, Any] = super().get_changeform_initial_data(request)
        source = self._copy_source(request, request.GET.get("participant"))
        if source is not None:
            for name, value in source.findings.items():
                initial[f"f_{name}"] = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        return initial

    def _copy_source(self, request: HttpRequest, participant_id: str | None) -> ScreeningAssessment | None:
        copy_from = request.GET.get("copy_from", "")
        if not copy_from.isdigit() or not (participant_id or "").isdigit():
            return None
        return self.get_queryset(request).filter(pk=int(copy_from), participant_id=int(participant_id or 0)).first()

    def _inputs_fragment(self, request: HttpRequest, participant_id: str | None, assessed_on: str | None) -> str:
        key = (participant_id, assessed_on)
        cache: dict[Any, str] = request.__dict__.setdefault("_screening_inputs", {})
        if key not in cache:
            cache[key] = self._render_inputs(request, participant_id, assessed_on)
        return cache[key]

    def _render_inputs(self, request: HttpRequest, participant_id: str | None, assessed_on: str | None) -> str:
        participant = None
        if participant_id and participant_id.isdigit():
            participant = (
                registry.participants_for_user(request.user)
                .select_related("protocol_version")
                .filter(pk=int(participant_id))
                .first()
            )
        if participant is None:
            return render_to_string("admin/randomization/screeningassessment/inputs.html", {}, request)
        try:
            day = dt.date.fromisoformat(assessed_on or "")
        except ValueError:
            day = clock.local_date(clock.now(), participant.site.time_zone)
        last = self.get_queryset(request).filter(participant=participant).order_by("-assessed_on", "-id").first()
        copied = self._copy_source(request, str(participant.pk))
        context = {
            "participant": participant,
            "assessed_on": day,
            "rows": readable.screening_inputs(participant, assessed_on=day),
            "window": services.screening_window_days(participant.protocol_version.definition),
            "last": last,
            "copied": copied,
            "add_url": reverse("admin:randomization_screeningassessment_add"),
        }
        return render_to_string("admin/randomization/screeningassessment/inputs.html", context, request)

    def inputs_view(self, request: HttpRequest) -> HttpResponse:
        """The panel above, for the participant and date now chosen (screening.js asks again
        when either changes)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        return HttpResponse(
            self._inputs_fragment(request, request.GET.get("participant"), request.GET.get("assessed_on"))
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "inputs/",
                self.admin_site.admin_view(self.inputs_view),
                name="randomization_screeningassessment_inputs",
            ),
            *super().get_urls(),
        ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["fields"] = ["participant", "assessed_on"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    @admin.display(description=_("reasons"))
    def reasons(self, obj: ScreeningAssessment) -> str:
        lines = readable.reasons(obj.criteria, obj.participant.protocol_version.definition)
        if not lines:
            return "—"
        return format_html('<ul class="reasons">{}</ul>', format_html_join("", "<li>{}</li>", ((r,) for r in lines)))

    @admin.display(description=_("answers"))
    def answers(self, obj: ScreeningAssessment) -> str:
        """The answers as recorded, each by its question in the reader's language."""
        definition = obj.participant.protocol_version.definition
        order = list(services.assessment_fields(definition))  # as the form asks them
        fields = sorted(obj.findings, key=lambda f: order.index(f) if f in order else len(order))
        rows = [(readable.question_label(definition, f), readable.answer(obj.findings[f])) for f in fields]
        if not rows:
            return "—"
        return format_html(
            '<table class="answers"><tbody>{}</tbody></table>',
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description=_("lab values used"))
    def labs_used(self, obj: ScreeningAssessment) -> str:
        rows = [
            (
                labs.analyte_label(code),
                readable.lab_value(code, row.get("value"), row.get("uln")),
                row.get("collected_on", ""),
            )
            for code, row in sorted(obj.labs.items())
        ]
        if not rows:
            return "—"
        head = format_html(
            "<thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>", _("analyte"), _("value"), _("collected on")
        )
        return format_html(
            '<table class="labs-used">{}<tbody>{}</tbody></table>',
            head,
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    def service_error_field(self, key: str) -> str:
        return key if key in ("participant", "assessed_on") else f"f_{key}"

    def save_model(self, request: HttpRequest, obj: ScreeningAssessment, form: Any, change: bool) -> None:
        with self.refusal(request, form):
            created = services.screening_assessment_record(
                participant=form.cleaned_data["participant"],
                assessed_on=form.cleaned_data["assessed_on"],
                findings=form.findings(),
                by=roles.actor(request.user),
                today=clock.today(),
            )
        obj.pk = created.pk
        obj.refresh_from_db()
        if created.outcome == "eligible":
            messages.success(request, _("Eligible."))
        else:
            lines = readable.reasons(created.criteria, created.participant.protocol_version.definition)
            messages.warning(request, f"{created.get_outcome_display()}: {'; '.join(lines)}")


class RandomizeForm(forms.Form):
    scrt_start_date = forms.DateField(
        label=_("SCRT start date (optional)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    confirm = forms.BooleanField(label=_("I confirm this participant is to be randomized now."), required=True)
    signature_password = signature_field(signatures.RANDOMIZE)


@admin.register(ParticipantToRandomize)
class RandomizeAdmin(SiteScopedAdminMixin, GuardedAdmin):
    """Participants of the user's sites with their randomization state and a "Randomize" button."""

    list_display = ["screening_number", "full_name", "site", "status", "randomization_number", "randomize_button"]
    list_select_related = ["site"]
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[ParticipantToRandomize]:
        """Withdrawn and deceased participants are not listed: nobody can randomize them."""
        return super().get_queryset(request).exclude(status__in=OFF_STUDY_STATUSES)

    @admin.display(description=_("randomize"))
    def randomize_button(self, obj: Participant) -> str:
        if obj.is_randomized:
            return format_html(
                '{} <a href="{}">{}</a>',
                _("already randomized (R%(number)s)") % {"number": obj.randomization_number},
                reverse("admin:randomization_participanttorandomize_confirmation", args=[obj.pk]),
                _("confirmation"),
            )
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
            path(
                "<int:pk>/confirmation/",
                self.admin_site.admin_view(self.confirmation_view),
                name="randomization_participanttorandomize_confirmation",
            ),
            path(
                "<int:pk>/confirmation.pdf",
                self.admin_site.admin_view(self.confirmation_pdf_view),
                name="randomization_participanttorandomize_confirmation_pdf",
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

    def _confirmation(self, request: HttpRequest, pk: int, medium: str) -> confirmation.Confirmation:
        participant = get_object_or_404(registry.participants_for_user(request.user), pk=pk)
        try:
            return confirmation.confirmation_print(
                participant=participant, by=roles.actor(request.user), medium=medium, now=clock.now()
            )
        except NotFound as exc:
            raise Http404(exc.detail) from exc
        except NotPermitted as exc:
            raise PermissionDenied(exc.detail) from exc

    def confirmation_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The printable page (every opening is a printing: the first the original, later copies)."""
        printed = self._confirmation(request, pk, ConfirmationPrint.Medium.PAGE)
        return HttpResponse(
            confirmation.render_html(
                printed,
                pdf_url=reverse("admin:randomization_participanttorandomize_confirmation_pdf", args=[pk]),
                back_url=reverse("admin:randomization_participanttorandomize_changelist"),
            )
        )

    def confirmation_pdf_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        printed = self._confirmation(request, pk, ConfirmationPrint.Medium.PDF)
        response = HttpResponse(confirmation.render_pdf(printed), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{confirmation.filename(printed)}"'
        return response

    @staticmethod
    def _reasons(assessment: ScreeningAssessment | None, today: Any) -> list[str]:
        """Why not eligible, one line per criterion in the reader's words (the service's own
        reasons when there is no assessment to explain)."""
        reasons = services.eligibility_reasons(assessment, today=today)
        if assessment is None or not reasons:
            return reasons
        return readable.reasons(assessment.criteria, assessment.participant.protocol_version.definition) or reasons

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
                signed = sign_from_post(request, signatures.RANDOMIZE)
                if isinstance(signed, ApplicationError):
                    raise signed
                allocation = services.participant_randomize(
                    participant=participant,
                    by=roles.actor(request.user),
                    now=clock.now(),
                    scrt_start_date=form.cleaned_data.get("scrt_start_date"),
                    signature=signed,
                )
            except ApplicationError as exc:
                if SIGNATURE_FIELD in exc.errors:
                    form.add_error(SIGNATURE_FIELD, exc.errors[SIGNATURE_FIELD][0])
                elif exc.code == RandomizationErrorCode.NOT_ELIGIBLE and "eligibility" in exc.errors:
                    # The criteria in the reader's words, as listed on the page (not the codes).
                    words = [m for k, msgs in exc.errors.items() if k != "eligibility" for m in msgs]
                    words += self._reasons(assessment, today)
                    reasons = {"reasons": "; ".join(words)}
                    messages.error(request, _("The participant cannot be randomized: %(reasons)s") % reasons)
                else:
                    show_error(request, exc)
            else:
                messages.success(
                    request,
                    _("%(p)s randomized: number %(n)s, arm %(arm)s.")
                    % {"p": participant, "n": allocation.sequence, "arm": i18n.arm_name(allocation.arm)},
                )
                # Straight to the confirmation the nurse prints and files (the original).
                return HttpResponseRedirect(
                    reverse("admin:randomization_participanttorandomize_confirmation", args=[participant.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Randomize %(p)s") % {"p": participant},
            "participant": participant,
            "assessment": assessment,
            "reasons": self._reasons(assessment, today),
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


ACTIVATE_ACTION = _("Activate (publish the commitment and freeze the configuration)")


@admin.register(RandomizationScheme)
class RandomizationSchemeAdmin(ServiceFormAdminMixin, NoDeleteMixin, GuardedHistoryAdmin):
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
        with self.refusal(request, form):
            try:
                sizes = [int(s) for s in str(data["block_sizes"]).replace(" ", "").split(",") if s]
            except ValueError:
                message = _("Block sizes must be whole numbers separated by commas.")
                raise InvalidInput(str(message), errors={"block_sizes": [str(message)]}) from None
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
        obj.pk = created.pk
        obj.refresh_from_db()

    def has_activate_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("randomization.activate_scheme")

    @admin.action(description=ACTIVATE_ACTION, permissions=["activate"])
    def activate(self, request: HttpRequest, queryset: QuerySet[RandomizationScheme]) -> HttpResponse | None:
        """Activation cannot be undone: first a page that says what it does (from the data),
        with a reason field; schemes the service would refuse are named at once."""
        by = roles.actor(request.user)
        schemes = list(queryset.select_related("trial").order_by("pk"))
        reason = request.POST.get("activation_reason", "")
        if request.POST.get("confirm"):
            for scheme in schemes:
                attempt(
                    request,
                    functools.partial(services.scheme_activate, scheme=scheme, by=by, now=clock.now(), reason=reason),
                    lambda activated: (
                        _("%(s)s activated; commitment %(c)s.") % {"s": activated, "c": activated.commitment}
                    ),
                )
            return None
        rows = []
        for scheme in schemes:
            would_activate = functools.partial(services.scheme_activate, scheme=scheme, by=by, now=clock.now())
            refused = confirm.refusal(would_activate)
            if refused is not None:
                show_error(request, refused)
                continue
            active = RandomizationScheme.objects.filter(trial=scheme.trial, status="active").first()
            allocations = Allocation.objects.filter(scheme=active).count() if active else 0
            rows.append({"scheme": scheme, "active": active, "allocations": allocations})
        if not rows:
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Activate a randomization scheme"),
            "opts": self.model._meta,
            "rows": rows,
            "reason": reason,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/randomization/scheme_activate_confirm.html", context)


def _method_name(code: str) -> str:
    return str(METHODS.get(code, code))


METHOD_FILTER = code_filter("method", _("method"), _method_name)


@admin.register(Allocation)
class AllocationAdmin(SiteScopedAdminMixin, GuardedAdmin):
    """The allocation record, read-only, for the statistician (view_allocation permission), of
    the sites the statistician works for (it names participants)."""

    site_lookup = "participant__site"

    list_display = ["sequence", "trial", "participant", "arm_name", "method_name", "allocated_at", "allocated_by"]
    list_select_related = ["trial", "participant", "allocated_by"]
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
    readonly_fields.insert(readonly_fields.index("factors_json"), "factors_text")
    exclude = ["arm", "method", "factors", "draws", "details"]  # shown by the methods below
    # The allocation record as stored (it is hashed): JSON with codes, shown as code.
    factors_json = staticmethod(stored_json("factors", _("factor values")))
    draws_json = staticmethod(stored_json("draws", _("draws")))
    details_json = staticmethod(stored_json("details", _("decision details")))

    @admin.display(description=_("arm"), ordering="arm")
    def arm_name(self, obj: Allocation) -> str:
        return i18n.arm_name(obj.arm)

    @admin.display(description=_("stratification"))
    def factors_text(self, obj: Allocation) -> str:
        """The factor values in words (the stored JSON below keeps the codes it was hashed with)."""
        definition = obj.participant.protocol_version.definition
        rows = [
            (
                _("site") if code == "site" else readable.question_label(definition, code),
                {"yes": _("yes"), "no": _("no")}.get(str(value), str(value)),
            )
            for code, value in obj.factors.items()
        ]
        return format_html_join("", "<div>{}: {}</div>", rows) if rows else "—"

    @admin.display(description=_("method"), ordering="method")
    def method_name(self, obj: Allocation) -> str:
        return _method_name(obj.method)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
