"""API of the toxicity log: a participant's adverse events (list, record) and one event (read,
change its resolution date, grade, seriousness or attribution). Serializers check shape only;
the rules are the services'."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from adverse_events import selectors, services
from adverse_events.models import AdverseEvent, Attribution, Relatedness, Term
from trialsite import clock, roles
from trialsite.api.fields import IntegerIn
from trialsite.api.permissions import STAFF_ROLES
from trialsite.api.views import get_participant
from trialsite.errors import InvalidInput

# Nurses and investigators record and change toxicities; every staff role reads them (the
# pharmacists of the site for dosing, the statistician for the analysis).
RECORDERS = frozenset({roles.RESEARCH_NURSE, roles.INVESTIGATOR})


class AttributionSerializer(serializers.Serializer[None]):
    drug = serializers.CharField(max_length=32, help_text="A drug code of the participant's regimen (protocol).")
    relatedness = serializers.ChoiceField(choices=Relatedness.choices)


class TermOut(serializers.ModelSerializer[Term]):
    class Meta:
        model = Term
        fields = ["term", "term_zh", "meddra_code", "soc", "grades"]


class AdverseEventOut(serializers.ModelSerializer[AdverseEvent]):
    term = TermOut(read_only=True)
    attribution = serializers.SerializerMethodField()
    recorded_by = serializers.CharField(source="recorded_by.username", default=None, read_only=True, allow_null=True)
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = AdverseEvent
        fields = [
            "id",
            "participant",
            "term",
            "grade",
            "onset_date",
            "resolution_date",
            "phase",
            "cycle_number",
            "serious",
            "attribution",
            "notes",
            "recorded_by",
            "recorded_at",
            "acknowledged_by",
            "acknowledged_at",
        ]

    @extend_schema_field(AttributionSerializer(many=True))
    def get_attribution(self, obj: AdverseEvent) -> list[dict[str, str]]:
        return [{"drug": a.drug, "relatedness": a.relatedness} for a in obj.attributions.all()]


TERM_HELP = "The CTCAE v5.0 term in English (e.g. Diarrhea) or its MedDRA code (e.g. 10012727)."


class AdverseEventIn(serializers.Serializer[None]):
    term = serializers.CharField(max_length=200, help_text=TERM_HELP)
    grade = IntegerIn(min_value=1, max_value=5, help_text="CTCAE grade 1–5 (only grades the term defines).")
    onset_date = serializers.DateField()
    resolution_date = serializers.DateField(required=False, allow_null=True)
    phase = serializers.CharField(max_length=32, required=False, allow_blank=True, help_text="A protocol phase code.")
    cycle_number = IntegerIn(min_value=1, max_value=99, required=False, allow_null=True)
    serious = serializers.BooleanField(required=False, default=False, help_text="Serious adverse event (SAE).")
    attribution = AttributionSerializer(many=True, required=False)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class AdverseEventUpdateIn(serializers.Serializer[None]):
    grade = IntegerIn(min_value=1, max_value=5, required=False)
    resolution_date = serializers.DateField(required=False, allow_null=True)
    serious = serializers.BooleanField(required=False)
    attribution = AttributionSerializer(many=True, required=False)
    reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, help_text="Required for a grade or seriousness change."
    )


def _attribution(items: list[dict[str, str]] | None) -> dict[str, str] | None:
    if items is None:
        return None
    drugs = [item["drug"] for item in items]
    if len(set(drugs)) != len(drugs):
        raise InvalidInput(_("Name each drug once."), errors={"attribution": [_("Name each drug once.")]})
    return {item["drug"]: item["relatedness"] for item in items}


def _term(value: str) -> Term:
    text = value.strip()
    term = Term.objects.filter(meddra_code=text).first() if text.isdigit() else None
    term = term or Term.objects.filter(term__iexact=text).first()
    if term is None:
        message = _("Unknown CTCAE term %(term)s.") % {"term": text}
        raise InvalidInput(message, errors={"term": [message]})
    return term


def _with_attributions(qs: QuerySet[AdverseEvent]) -> QuerySet[AdverseEvent]:
    return qs.prefetch_related(Prefetch("attributions", queryset=Attribution.objects.order_by("drug")))


EXAMPLE_IN = {
    "term": "Palmar-plantar erythrodysesthesia syndrome",
    "grade": 2,
    "onset_date": "2026-03-20",
    "phase": "neoadjuvant",
    "cycle_number": 1,
    "serious": False,
    "attribution": [{"drug": "capecitabine", "relatedness": "probable"}],
}


class ParticipantAdverseEvents(generics.ListAPIView[AdverseEvent]):
    """A participant's toxicities, newest onset first (staff of the participant's site)."""

    required_roles = {"GET": STAFF_ROLES, "POST": RECORDERS}
    serializer_class = AdverseEventOut

    def get_queryset(self) -> QuerySet[AdverseEvent]:
        if getattr(self, "swagger_fake_view", False):
            return AdverseEvent.objects.none()
        participant = get_participant(self.request, self.kwargs["pk"])
        qs = selectors.adverse_events_for_user(self.request.user).filter(participant=participant)
        return _with_attributions(qs).order_by("-onset_date", "-id")

    @extend_schema(
        summary="Record a toxicity (nurses, investigators)",
        request=AdverseEventIn,
        responses={201: AdverseEventOut},
        examples=[OpenApiExample("Hand-foot syndrome", value=EXAMPLE_IN, request_only=True)],
    )
    def post(self, request: Request, pk: int) -> Response:
        participant = get_participant(request, pk)
        data = AdverseEventIn(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = dict(data.validated_data)
        event = services.ae_record(
            participant=participant,
            term=_term(values.pop("term")),
            attribution=_attribution(values.pop("attribution", None)),
            by=roles.actor(request.user),
            now=clock.now(),
            today=clock.today(),
            **values,
        )
        event = _with_attributions(AdverseEvent.objects.select_related("term", "recorded_by")).get(pk=event.pk)
        return Response(AdverseEventOut(event).data, status=status.HTTP_201_CREATED)


class AdverseEventDetailBase(generics.RetrieveAPIView[AdverseEvent]):
    required_roles = {"GET": STAFF_ROLES, "PATCH": RECORDERS}
    serializer_class = AdverseEventOut

    def get_queryset(self) -> QuerySet[AdverseEvent]:
        if getattr(self, "swagger_fake_view", False):
            return AdverseEvent.objects.none()
        return _with_attributions(selectors.adverse_events_for_user(self.request.user))

    def get_object(self) -> AdverseEvent:
        return get_object_or_404(self.get_queryset(), **self.lookup())

    def lookup(self) -> dict[str, Any]:
        raise NotImplementedError

    @extend_schema(
        summary="Change a toxicity's resolution date, grade, seriousness or attribution",
        request=AdverseEventUpdateIn,
        responses={200: AdverseEventOut},
        examples=[
            OpenApiExample("Resolved", value={"resolution_date": "2026-04-02"}, request_only=True),
            OpenApiExample("Worse", value={"grade": 3, "reason": "7 stools a day since 2026-03-24"}, request_only=True),
        ],
    )
    def patch(self, request: Request, **kwargs: Any) -> Response:
        # The body's shape first: a malformed body is a 400 whatever the id.
        # Not partial: every field is optional already, and partial would reach the attribution items.
        data = AdverseEventUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = dict(data.validated_data)
        if "attribution" in values:
            values["attribution"] = _attribution(values["attribution"])
        event = self.get_object()
        services.ae_update(
            adverse_event=event, by=roles.actor(request.user), now=clock.now(), today=clock.today(), **values
        )
        return Response(AdverseEventOut(self.get_object()).data)


class ParticipantAdverseEventDetail(AdverseEventDetailBase):
    """One toxicity of the participant."""

    def lookup(self) -> dict[str, Any]:
        participant = get_participant(self.request, self.kwargs["pk"])
        return {"participant": participant, "pk": self.kwargs["ae_id"]}


class AdverseEventDetail(AdverseEventDetailBase):
    """One toxicity, by its own id (PRODUCT.md §6)."""

    def lookup(self) -> dict[str, Any]:
        return {"pk": self.kwargs["pk"]}
