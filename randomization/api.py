"""Eligibility and randomization endpoints (thin: shape checks here, rules in services)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from randomization import confirmation, selectors, services
from randomization.error_codes import RandomizationErrorCode
from randomization.models import Allocation, ConfirmationPrint, ScreeningAssessment
from trialsite import clock, idempotency, roles, signatures
from trialsite.api.permissions import ALL_ROLES, STAFF_ROLES
from trialsite.api.views import get_participant
from trialsite.idempotency import idempotent
from trialsite.models import Signature, Trial


class RandomizeIn(serializers.Serializer[None]):
    scrt_start_date = serializers.DateField(
        required=False, allow_null=True, help_text="First SCRT fraction; the treatment plan is made from it."
    )


class RandomizeOut(serializers.Serializer[Any]):
    participant = serializers.IntegerField()
    arm = serializers.CharField()
    randomization_number = serializers.IntegerField()
    randomized_at = serializers.DateTimeField()


def randomize_body(allocation: Allocation) -> dict[str, Any]:
    return dict(
        RandomizeOut(
            {
                "participant": allocation.participant_id,
                "arm": allocation.arm,
                "randomization_number": allocation.sequence,
                "randomized_at": allocation.allocated_at,
            }
        ).data
    )


class ParticipantRandomize(APIView):
    """Randomize a participant (research nurse, investigator). Exactly once: 409 with the
    existing number if already randomized; a repeated request with the same `Idempotency-Key`
    and body returns the original 201 answer."""

    required_roles = {"POST": roles.roles_holding("randomization.randomize_participant")}

    @extend_schema(
        request=RandomizeIn,
        responses={201: RandomizeOut},
        parameters=[idempotency.PARAMETER, signatures.PARAMETER],
        examples=[
            OpenApiExample(
                "Randomized",
                response_only=True,
                status_codes=["201"],
                value={
                    "participant": 12,
                    "arm": "experimental",
                    "randomization_number": 7,
                    "randomized_at": "2026-03-02T02:15:00Z",
                },
            ),
            OpenApiExample(
                "Already randomized",
                response_only=True,
                status_codes=["409"],
                value={
                    "code": RandomizationErrorCode.ALREADY_RANDOMIZED.value,
                    "detail": "This participant is already randomized (number 7).",
                    "errors": {},
                    "randomization_number": 7,
                },
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        # Signed before the idempotency transaction: a wrong password must stay counted by
        # django-axes when the refusal rolls that transaction back.
        signature = signatures.sign_api_request(request, meaning=signatures.RANDOMIZE, now=clock.now())
        return self._randomize(request, pk, signature=signature)

    @idempotent
    def _randomize(self, request: Request, pk: int, *, signature: Signature) -> Response:
        participant = get_participant(request, pk)
        data = RandomizeIn(data=request.data)
        data.is_valid(raise_exception=True)
        allocation = services.participant_randomize(
            participant=participant,
            by=roles.actor(request.user),
            now=clock.now(),
            scrt_start_date=data.validated_data.get("scrt_start_date"),
            signature=signature,
        )
        return Response(randomize_body(allocation), status=status.HTTP_201_CREATED)


class AssessmentIn(serializers.Serializer[None]):
    assessed_on = serializers.DateField(required=False, help_text="Defaults to today.")
    findings = serializers.DictField(
        help_text="Answers keyed by the protocol's rule fields: yes/no findings as booleans, numbers as numbers "
        "(e.g. ecog, tumour_distance_cm, liver_only_metastases)."
    )


class AssessmentOut(serializers.ModelSerializer[ScreeningAssessment]):
    reasons = serializers.SerializerMethodField()

    class Meta:
        model = ScreeningAssessment
        fields = [
            "id",
            "participant",
            "assessed_on",
            "outcome",
            "reasons",
            "age_years",
            "weight_kg",
            "creatinine_clearance_ml_min",
            "findings",
            "labs",
            "criteria",
            "assessed_at",
        ]

    def get_reasons(self, obj: ScreeningAssessment) -> list[str]:
        return [services.criterion_reason(c) for c in obj.criteria if c["status"] != "met"]


class ScreeningAssessmentListCreate(APIView):
    """Screening assessments of a participant; POST records a new one (re-screening keeps the old)."""

    required_roles = {"GET": STAFF_ROLES, "POST": roles.roles_holding("randomization.add_screeningassessment")}

    @extend_schema(responses={200: AssessmentOut(many=True)})
    def get(self, request: Request, pk: int) -> Response:
        participant = get_participant(request, pk)
        return Response(AssessmentOut(selectors.assessments_for(participant), many=True).data)

    @extend_schema(request=AssessmentIn, responses={201: AssessmentOut})
    def post(self, request: Request, pk: int) -> Response:
        participant = get_participant(request, pk)
        data = AssessmentIn(data=request.data)
        data.is_valid(raise_exception=True)
        today = clock.today()
        assessment = services.screening_assessment_record(
            participant=participant,
            assessed_on=data.validated_data.get("assessed_on") or today,
            findings=dict(data.validated_data["findings"]),
            by=roles.actor(request.user),
            today=today,
        )
        return Response(AssessmentOut(assessment).data, status=status.HTTP_201_CREATED)


class SchemePublicOut(serializers.Serializer[Any]):
    trial = serializers.CharField()
    schemes = serializers.ListField(child=serializers.DictField())
    randomized = serializers.IntegerField()
    target_enrollment = serializers.IntegerField()


class TrialRandomizationPublic(APIView):
    """The published commitments of a trial's randomization schemes (visible to every role)."""

    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: SchemePublicOut})
    def get(self, request: Request, registry_id: str) -> Response:
        trial = get_object_or_404(Trial, registry_id=registry_id)
        return Response(SchemePublicOut(selectors.scheme_public(trial)).data)


class RandomizationConfirmationPdf(APIView):
    """The participant's randomization confirmation as a one-page A4 PDF (the first printing is
    the original; later ones say "copy"). It names the participant, so an API client needs the
    identity permission."""

    required_roles = {"GET": roles.CLINICAL_ROLES | {roles.STATISTICIAN}}

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> HttpResponse:
        participant = get_participant(request, pk)
        printed = confirmation.confirmation_print(
            participant=participant, by=roles.actor(request.user), medium=ConfirmationPrint.Medium.PDF, now=clock.now()
        )
        response = HttpResponse(confirmation.render_pdf(printed), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{confirmation.filename(printed)}"'
        return response
