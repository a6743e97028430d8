"""Dosing endpoints: the stateless dose-calculation preview, dose sheets (JSON and PDF), the
pharmacists' verify and release actions, and the investigators' dose modifications and renal
decisions. Thin: shapes here, rules in services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from adverse_events.models import AdverseEvent
from dosing import selectors, services, wording
from dosing.calculations import formulas
from dosing.error_codes import DosingErrorCode
from dosing.models import DoseModification, DoseSheet, ModificationAction, RenalDecision, SheetStatus
from trialsite import clock, roles, signatures
from trialsite.api.fields import DecimalIn, IntegerIn
from trialsite.api.permissions import ALL_ROLES, STAFF_ROLES
from trialsite.api.serializers import identity_for
from trialsite.api.views import ParticipantRecordsView, resolve_trial
from trialsite.errors import NotFound, NotPermitted
from trialsite.models import Participant, Sex


class DoseCalculationIn(serializers.Serializer[None]):
    arm = serializers.CharField(help_text="An arm code of the trial's protocol (arms[].code).")
    height_cm = DecimalIn(max_digits=6, decimal_places=2)
    weight_kg = DecimalIn(max_digits=6, decimal_places=2)
    sex = serializers.ChoiceField(choices=Sex.choices)
    age_years = IntegerIn(min_value=18, max_value=120)
    serum_creatinine_umol_l = DecimalIn(max_digits=8, decimal_places=2, required=False, min_value=0)
    serum_creatinine_mg_dl = DecimalIn(max_digits=6, decimal_places=3, required=False, min_value=0)
    bsa_formula = serializers.ChoiceField(choices=list(formulas.BSA_FORMULAS), required=False)
    trial = serializers.CharField(required=False, help_text="Registry id; defaults to the only trial.")
    phase = serializers.CharField(required=False, help_text="Systemic phase; defaults to the first (neoadjuvant).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [k for k in ("serum_creatinine_umol_l", "serum_creatinine_mg_dl") if attrs.get(k) is not None]
        if len(given) != 1:
            raise serializers.ValidationError(
                {
                    "serum_creatinine_umol_l": [
                        _("Give exactly one of serum_creatinine_umol_l and serum_creatinine_mg_dl.")
                    ]
                }
            )
        return attrs


class DoseOut(serializers.Serializer[Any]):
    drug = serializers.CharField()
    dose_mg = serializers.FloatField(allow_null=True)
    status = serializers.CharField(help_text="give | withheld | discontinued | contraindicated | awaiting_decision")
    basis = serializers.CharField()
    dose_per_unit = serializers.FloatField(help_text="mg/m², mg/kg or flat mg at the dose level")
    route = serializers.CharField()
    days = serializers.ListField(child=serializers.IntegerField())
    frequency = serializers.CharField()
    tablets = serializers.DictField(child=serializers.IntegerField(), required=False, allow_null=True)
    tablets_per_cycle = serializers.DictField(child=serializers.IntegerField(), required=False, allow_null=True)


class MessageOut(serializers.Serializer[Any]):
    code = serializers.CharField()
    message = serializers.CharField()


class DoseCalculationOut(serializers.Serializer[Any]):
    arm = serializers.CharField()
    phase = serializers.CharField()
    bsa_m2 = serializers.FloatField()
    bsa_formula = serializers.CharField()
    bmi = serializers.FloatField()
    creatinine_clearance_ml_min = serializers.FloatField()
    doses = DoseOut(many=True)
    warnings = MessageOut(many=True)


class DoseCalculation(APIView):
    """Stateless dose preview (PRODUCT.md §6): standard doses of an arm for a person. Any
    authenticated role; nothing is stored."""

    required_roles = {"POST": ALL_ROLES}

    @extend_schema(
        request=DoseCalculationIn,
        responses={200: DoseCalculationOut},
        examples=[
            OpenApiExample(
                "180 cm, 80 kg (BSA 2.00 m²)",
                request_only=True,
                value={
                    "arm": "experimental",
                    "height_cm": 180,
                    "weight_kg": 80,
                    "sex": "male",
                    "age_years": 60,
                    "serum_creatinine_umol_l": 80,
                },
            ),
            OpenApiExample(
                "response",
                response_only=True,
                value={
                    "arm": "experimental",
                    "phase": "neoadjuvant",
                    "bsa_m2": 2.0,
                    "bsa_formula": "mosteller",
                    "bmi": 24.7,
                    "creatinine_clearance_ml_min": 98.2,
                    "doses": [
                        {"drug": "capecitabine", "dose_mg": 2000, "tablets": {"150": 0, "500": 4}, "status": "give"},
                        {"drug": "oxaliplatin", "dose_mg": 260, "status": "give"},
                        {"drug": "serplulimab", "dose_mg": 300, "status": "give"},
                    ],
                    "warnings": [],
                },
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        data = DoseCalculationIn(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = dict(data.validated_data)
        trial = resolve_trial(values.pop("trial", None))
        return Response(services.dose_calculation_preview(definition=trial.definition, **values))


class DoseSheetOut(serializers.Serializer[Any]):
    """A dose sheet: workflow fields and the computed document (see the example)."""

    id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=SheetStatus.choices)
    releasable = serializers.BooleanField()
    site = serializers.CharField()
    phase = serializers.CharField()
    cycle_number = serializers.IntegerField()
    day1 = serializers.DateField()
    participant = serializers.DictField()
    bsa_m2 = serializers.FloatField(help_text="The BSA the doses use (dose_basis.bsa_m2).")
    dose_basis = serializers.DictField(
        help_text="The weight and BSA the doses use and why (protocol dosing.weight_change): rule = measured | "
        "kept (change under the threshold: the previous cycle's basis) | recalculated; change_pct, threshold_pct."
    )
    doses = DoseOut(many=True)
    warnings = MessageOut(many=True)
    blockers = MessageOut(many=True)
    verified_by = serializers.CharField(allow_null=True)
    released_by = serializers.CharField(allow_null=True)


class DoseSheetFilter(filters.FilterSet):
    site = filters.CharFilter(field_name="site__code")
    status = filters.ChoiceFilter(choices=SheetStatus.choices)
    day1_from = filters.DateFilter(field_name="day1", lookup_expr="gte")
    day1_to = filters.DateFilter(field_name="day1", lookup_expr="lte")
    participant = filters.NumberFilter(field_name="participant_id")

    class Meta:
        model = DoseSheet
        fields = ["site", "status", "day1_from", "day1_to", "participant"]


class DoseSheetList(generics.ListAPIView[DoseSheet]):
    """Dose sheets of the caller's sites (API clients: released sheets only). Filters: site
    (code), status, day1_from, day1_to, participant."""

    required_roles = {"GET": ALL_ROLES}
    filterset_class = DoseSheetFilter

    def get_queryset(self) -> QuerySet[DoseSheet]:
        return selectors.dose_sheets_for_user(self.request.user).order_by("day1", "id")

    @extend_schema(responses={200: DoseSheetOut(many=True)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = [_document(request, s) for s in (page if page is not None else queryset)]
        return self.get_paginated_response(rows) if page is not None else Response(rows)


def _sheet(request: Request, pk: int) -> DoseSheet:
    return get_object_or_404(selectors.dose_sheets_for_user(request.user), pk=pk)


def _document(request: Request, sheet: DoseSheet) -> dict[str, Any]:
    """The sheet's document, with the participant's name and birth date only for a caller allowed
    to see them (an API client only when granted)."""
    document = wording.in_english(selectors.dose_sheet_document(sheet))
    if isinstance(document.get("participant"), dict):
        document["participant"] = identity_for(request.user, document["participant"])
    return document


class DoseSheetDetail(APIView):
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: DoseSheetOut})
    def get(self, request: Request, pk: int) -> Response:
        return Response(_document(request, _sheet(request, pk)))


class DoseSheetPdf(APIView):
    """The printable A4 sheet."""

    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> HttpResponse:
        from dosing import pdf

        sheet = _sheet(request, pk)
        if not roles.can_see_identity(request.user):
            # The printed sheet names the patient (the pharmacy checks it at the bedside).
            raise NotPermitted(
                _("This client may not see participants' names and birth dates, which the printed sheet shows."),
                code=DosingErrorCode.IDENTITY_NOT_GRANTED,
            )
        response = HttpResponse(pdf.render_sheet_pdf(sheet), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{pdf.filename(sheet)}"'
        return response


class DoseSheetVerify(APIView):
    """First pharmacist check (prepared → verified)."""

    required_roles = {"POST": roles.roles_holding("dosing.verify_dosesheet")}

    @extend_schema(request=None, responses={200: DoseSheetOut}, parameters=[signatures.PARAMETER])
    def post(self, request: Request, pk: int) -> Response:
        target = _sheet(request, pk)
        now = clock.now()
        signature = signatures.sign_api_request(request, meaning=signatures.VERIFY_SHEET, now=now)
        sheet = services.dose_sheet_verify(sheet=target, by=roles.actor(request.user), now=now, signature=signature)
        return Response(selectors.dose_sheet_document(selectors.dose_sheets_for_user(request.user).get(pk=sheet.pk)))


class ReleaseIn(serializers.Serializer[None]):
    reason = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", help_text="A note kept in the sheet's history."
    )


class DoseSheetRelease(APIView):
    """Double-check and release by a second pharmacist (verified → released)."""

    required_roles = {"POST": roles.roles_holding("dosing.release_dosesheet")}

    @extend_schema(request=ReleaseIn, responses={200: DoseSheetOut}, parameters=[signatures.PARAMETER])
    def post(self, request: Request, pk: int) -> Response:
        data = ReleaseIn(data=request.data)
        data.is_valid(raise_exception=True)
        target = _sheet(request, pk)
        now = clock.now()
        signature = signatures.sign_api_request(request, meaning=signatures.RELEASE_SHEET, now=now)
        sheet = services.dose_sheet_release(
            sheet=target,
            by=roles.actor(request.user),
            now=now,
            reason=data.validated_data["reason"],
            signature=signature,
        )
        return Response(selectors.dose_sheet_document(selectors.dose_sheets_for_user(request.user).get(pk=sheet.pk)))


# --- Investigators' decisions ----------------------------------------------------------------------


class DoseModificationIn(serializers.Serializer[None]):
    drug = serializers.CharField(max_length=32, help_text="A drug code of the participant's protocol (its `drugs`).")
    phase = serializers.CharField(max_length=32, help_text="Systemic phase of the cycle: neoadjuvant | adjuvant")
    cycle_number = IntegerIn(min_value=1, max_value=99, help_text="Cycle in which the toxicity was seen.")
    toxicity_term = serializers.CharField(
        max_length=120,
        required=False,
        allow_blank=True,
        help_text="CTCAE term, e.g. Diarrhea (from the log with adverse_event).",
    )
    ctcae_grade = IntegerIn(min_value=1, max_value=5, required=False)
    adverse_event = IntegerIn(
        min_value=1,
        max_value=2_147_483_647,
        required=False,
        allow_null=True,
        help_text="A toxicity of the participant's log: its term and grade are the decision's, and the appearance "
        "is counted from the log.",
    )
    reason = serializers.CharField(max_length=2000)

    def to_internal_value(self, data: Any) -> Any:
        """Term and grade are required unless a toxicity of the log gives them; named with every
        other field's problem at once."""
        missing: dict[str, list[str]] = {}
        if isinstance(data, Mapping) and not data.get("adverse_event"):
            missing = {
                name: [str(_("This field is required."))]
                for name in ("toxicity_term", "ctcae_grade")
                if data.get(name) in (None, "")
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail: dict[str, Any] = (
                dict(exc.detail) if isinstance(exc.detail, Mapping) else {"non_field_errors": exc.detail}
            )
            for name, messages in missing.items():
                detail.setdefault(name, messages)
            raise serializers.ValidationError(detail) from exc
        if missing:
            raise serializers.ValidationError(missing)
        return value

    # Plain values, not the model's labelled choices: the same labelled set would reach the schema
    # under two enum names (ActionEnum of the answer, RequestedActionEnum here), which
    # drf-spectacular warns about (and the schema test fails on warnings).
    requested_action = serializers.ChoiceField(
        choices=ModificationAction.values,
        required=False,
        allow_null=True,
        help_text="The investigator's choice where the rule allows one (a drug with a dose-band table at grade 4: "
        "reduce = resume at its lowest level; a drug never reduced: interrupt or discontinue). Omit to apply the "
        "protocol's rule.",
    )


class DoseModificationOut(serializers.ModelSerializer[DoseModification]):
    decided_by = serializers.CharField(source="decided_by.username")
    rule = serializers.SerializerMethodField(
        help_text="Which rule of the protocol decided: a toxicity table's row or a drug's step-down rule, "
        "said in the request's language."
    )

    class Meta:
        model = DoseModification
        fields = [
            "id",
            "drug",
            "phase",
            "cycle_number",
            "toxicity_term",
            "ctcae_grade",
            "appearance",
            "adverse_event",
            "action",
            "new_level",
            "level_label",
            "rule",
            "reason",
            "decided_by",
            "decided_at",
        ]
        extra_kwargs = {
            "appearance": {"help_text": "How often this toxicity and grade has been recorded for the drug (1-based)."},
            "new_level": {"help_text": "Dose level from the next cycle on (0 = full dose)."},
            "level_label": {"help_text": "The dose from the next cycle on, e.g. 75 % or 100 mg/m²."},
        }

    def get_rule(self, row: DoseModification) -> str:
        return wording.rule(row.rule)


class RenalDecisionIn(serializers.Serializer[None]):
    phase = serializers.CharField(max_length=32, help_text="Systemic phase of the cycle: neoadjuvant | adjuvant")
    cycle_number = IntegerIn(min_value=1, max_value=99)
    drug = serializers.CharField(max_length=32, help_text="The drug the decision is about (a drug of the arm).")
    # Required, no default: a decision is what the investigator chose, never assumed.
    decision = serializers.ChoiceField(
        choices=RenalDecision.Decision.values,
        help_text="confirm (the full dose) | reduce (to `reduce_to`) | withhold (not given this cycle). "
        "It must fit the protocol's renal rule for the drug at the sheet's CrCl (422 otherwise).",
    )
    reduce_to = DecimalIn(
        max_digits=8,
        decimal_places=2,
        required=False,
        allow_null=True,
        min_value=0,
        help_text="With reduce only: the dose level, as the protocol lists it (a reduced level of the drug's "
        "dose_levels_pct, dose_levels_mg_per_m2, … e.g. 75 for 75 %).",
    )
    reason = serializers.CharField(max_length=2000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["decision"] == RenalDecision.Decision.REDUCE and attrs.get("reduce_to") is None:
            raise serializers.ValidationError({"reduce_to": [_("Give the dose level to reduce to.")]})
        if attrs["decision"] != RenalDecision.Decision.REDUCE and attrs.get("reduce_to") is not None:
            raise serializers.ValidationError({"reduce_to": [_("A dose level is given only with a reduction.")]})
        return attrs


class RenalDecisionOut(serializers.ModelSerializer[RenalDecision]):
    decided_by = serializers.CharField(source="decided_by.username")

    class Meta:
        model = RenalDecision
        fields = [
            "id",
            "phase",
            "cycle_number",
            "drug",
            "band",
            "crcl_ml_min",
            "decision",
            "level",
            "level_label",
            "reason",
            "decided_by",
            "decided_at",
        ]


class _DecisionsView(ParticipantRecordsView):
    """A participant's dosing decisions of one kind: staff of the participant's sites read them,
    investigators record them through the dosing service, which re-prepares the affected sheets."""

    required_roles = {"GET": STAFF_ROLES}  # and POST: each kind's add permission, below
    newest_first = ("-decided_at", "-id")

    def get_queryset(self) -> QuerySet[Any]:
        return super().get_queryset().select_related("decided_by")


@extend_schema_view(
    get=extend_schema(summary="A participant's dose modifications, newest first"),
    post=extend_schema(
        summary="Record a dose modification after a toxicity (investigators)",
        description="The action follows the drug's rule; the following cycles' current sheets are re-prepared "
        "(a released one is superseded). 422: the rule refuses (already discontinued, never reduced).",
        request=DoseModificationIn,
        parameters=[signatures.PARAMETER],
        responses={201: DoseModificationOut},
        examples=[
            OpenApiExample(
                "Hand-foot syndrome grade 3",
                request_only=True,
                value={
                    "drug": "capecitabine",
                    "phase": "neoadjuvant",
                    "cycle_number": 1,
                    "toxicity_term": "Palmar-plantar erythrodysesthesia syndrome",
                    "ctcae_grade": 3,
                    "reason": "Resolved to grade 1 after interruption.",
                },
            ),
            OpenApiExample(
                "response",
                response_only=True,
                status_codes=["201"],
                value={
                    "id": 7,
                    "drug": "capecitabine",
                    "phase": "neoadjuvant",
                    "cycle_number": 1,
                    "toxicity_term": "Palmar-plantar erythrodysesthesia syndrome",
                    "ctcae_grade": 3,
                    "appearance": 1,
                    "action": "interrupt",
                    "new_level": 1,
                    "level_label": "75 %",
                    "rule": "capecitabine toxicity table, grade 3, appearance 1",
                    "reason": "Resolved to grade 1 after interruption.",
                    "decided_by": "investigator",
                    "decided_at": "2026-03-02T10:00:00+08:00",
                },
            ),
        ],
    ),
)
class DoseModificationListCreate(_DecisionsView):
    """A participant's dose modifications: staff of the participant's sites read them;
    investigators record one after a toxicity."""

    required_roles = {"GET": STAFF_ROLES, "POST": roles.roles_holding("dosing.add_dosemodification")}
    model = DoseModification
    serializer_class = DoseModificationOut
    input_serializer = DoseModificationIn

    def record(self, *, participant: Participant, by: Any, data: dict[str, Any]) -> Model:
        event_id = data.pop("adverse_event", None)
        event = None
        if event_id:
            event = AdverseEvent.objects.select_related("term").filter(pk=event_id, participant=participant).first()
            if event is None:
                raise NotFound(str(_("No such toxicity in this participant's log.")))
        data.setdefault("toxicity_term", "")
        data.setdefault("ctcae_grade", 0)
        now = clock.now()
        signature = signatures.sign_api_request(self.request, meaning=signatures.DOSE_MODIFICATION, now=now)
        return services.dose_modification_record(
            participant=participant, by=by, now=now, adverse_event=event, signature=signature, **data
        )


@extend_schema_view(
    get=extend_schema(summary="A participant's renal decisions, newest first"),
    post=extend_schema(
        summary="Record a renal decision for one drug of a cycle (investigators)",
        description="For a drug whose CrCl band on the cycle's current sheet needs one (protocol "
        "`dosing.renal_rules`): contraindicated → withhold; investigator decides → confirm, reduce or withhold. "
        "The sheet is re-prepared with the decision. 422: the decision does not fit the band, the drug is not in "
        "the arm's regimen, or there is no current sheet. 409: a decision for that drug, cycle and band exists.",
        request=RenalDecisionIn,
        parameters=[signatures.PARAMETER],
        responses={201: RenalDecisionOut},
        examples=[
            OpenApiExample(
                "CrCl 42 mL/min, capecitabine at 75 %",
                request_only=True,
                value={
                    "phase": "neoadjuvant",
                    "cycle_number": 1,
                    "drug": "capecitabine",
                    "decision": "reduce",
                    "reduce_to": 75,
                    "reason": "CrCl 42 mL/min; US label 75 %.",
                },
            )
        ],
    ),
)
class RenalDecisionListCreate(_DecisionsView):
    """A participant's renal decisions: staff of the participant's sites read them; investigators
    record one per drug for a cycle whose creatinine clearance needs it."""

    required_roles = {"GET": STAFF_ROLES, "POST": roles.roles_holding("dosing.add_renaldecision")}
    model = RenalDecision
    serializer_class = RenalDecisionOut
    input_serializer = RenalDecisionIn

    def record(self, *, participant: Participant, by: Any, data: dict[str, Any]) -> Model:
        now = clock.now()
        signature = signatures.sign_api_request(self.request, meaning=signatures.RENAL_DECISION, now=now)
        return services.renal_decision_record(participant=participant, by=by, now=now, signature=signature, **data)
