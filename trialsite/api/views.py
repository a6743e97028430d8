"""Registry endpoints: trials, sites, participants, their measurements and lab results."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trialsite import clock, roles, selectors, services
from trialsite.api.serializers import (
    ConsentIn,
    DeathIn,
    LabResultIn,
    LabResultOut,
    MeasurementIn,
    MeasurementOut,
    ParticipantIn,
    ParticipantOut,
    ParticipantUpdateIn,
    SiteOut,
    TrialOut,
    WithdrawIn,
)
from trialsite.errors import InvalidInput
from trialsite.models import LabResult, Measurement, Participant, Site, Trial


def get_participant(request: Request, pk: int) -> Participant:
    """A participant of the user's sites, or 404 (another site's participant does not exist)."""
    return get_object_or_404(selectors.participants_for_user(request.user), pk=pk)


class TrialList(generics.ListAPIView[Trial]):
    required_roles = {"GET": roles.EVERY_ROLE}
    serializer_class = TrialOut
    queryset = Trial.objects.select_related("current_protocol").order_by("registry_id")


class SiteList(generics.ListAPIView[Site]):
    """The sites the caller belongs to."""

    required_roles = {"GET": roles.EVERY_ROLE}
    serializer_class = SiteOut

    def get_queryset(self) -> QuerySet[Site]:
        return selectors.sites_for_user(self.request.user).order_by("code")


class ParticipantFilter(filters.FilterSet):
    site = filters.CharFilter(field_name="site__code")
    trial = filters.CharFilter(field_name="trial__registry_id")
    status = filters.CharFilter()
    screening_number = filters.CharFilter()

    class Meta:
        model = Participant
        fields = ["site", "trial", "status", "screening_number"]


class ParticipantListCreate(generics.ListAPIView[Participant]):
    required_roles = {"GET": roles.EVERY_ROLE, "POST": roles.roles_holding("trialsite.add_participant")}
    serializer_class = ParticipantOut
    filterset_class = ParticipantFilter

    def get_queryset(self) -> QuerySet[Participant]:
        # The rows show their protocol's version number only: the version's 18 KB definition is
        # not fetched, so it is not decoded from JSON once per row (issue 16: 162 of 300 ms at
        # page_size=500). Simpler than caching the decoded definition: nothing to invalidate.
        return (
            selectors.participants_for_user(self.request.user)
            .select_related("protocol_version")
            .defer("protocol_version__definition")
            .order_by("id")
        )

    @extend_schema(request=ParticipantIn, responses={201: ParticipantOut})
    def post(self, request: Request) -> Response:
        data = ParticipantIn(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = dict(data.validated_data)
        trial = resolve_trial(values.pop("trial", None))
        site_code = values.pop("site")
        site = Site.objects.filter(code=site_code).first()
        if site is None:
            message = _("Unknown site %(site)s.") % {"site": site_code}
            raise InvalidInput(message, errors={"site": [message]})
        participant = services.participant_create(
            trial=trial, site=site, by=roles.actor(request.user), today=clock.today(), **values
        )
        return Response(ParticipantOut(participant, context={"request": request}).data, status=status.HTTP_201_CREATED)


def resolve_trial(registry_id: str | None) -> Trial:
    if registry_id:
        trial = Trial.objects.filter(registry_id=registry_id).first()
        if trial is None:
            raise InvalidInput(
                _("Unknown trial %(trial)s.") % {"trial": registry_id}, errors={"trial": [_("Unknown trial.")]}
            )
        return trial
    trial = selectors.default_trial()
    if trial is None:
        raise InvalidInput(
            _("Name the trial."), errors={"trial": [_("This field is required when there are several trials.")]}
        )
    return trial


class ParticipantDetail(generics.RetrieveAPIView[Participant]):
    required_roles = {"GET": roles.EVERY_ROLE, "PATCH": roles.roles_holding("trialsite.change_participant")}
    serializer_class = ParticipantOut

    def get_queryset(self) -> QuerySet[Participant]:
        return selectors.participants_for_user(self.request.user).select_related("protocol_version")

    @extend_schema(request=ParticipantUpdateIn, responses={200: ParticipantOut})
    def patch(self, request: Request, pk: int) -> Response:
        """Change contact details and reminder preferences (reminders are re-computed)."""
        participant = get_participant(request, pk)
        data = ParticipantUpdateIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        participant = services.participant_update_details(
            participant=participant,
            changes=dict(data.validated_data),
            by=roles.actor(request.user),
            today=clock.today(),
        )
        return Response(ParticipantOut(participant, context={"request": request}).data)


class ParticipantConsent(APIView):
    required_roles = {"POST": roles.roles_holding("trialsite.change_participant")}

    @extend_schema(request=ConsentIn, responses={200: ParticipantOut})
    def post(self, request: Request, pk: int) -> Response:
        participant = get_participant(request, pk)
        data = ConsentIn(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.participant_record_consent(
            participant=participant,
            consent_date=data.validated_data["consent_date"],
            by=roles.actor(request.user),
            today=clock.today(),
        )
        return Response(ParticipantOut(participant, context={"request": request}).data)


class ParticipantWithdraw(APIView):
    required_roles = {"POST": roles.roles_holding("trialsite.withdraw_participant")}

    @extend_schema(request=WithdrawIn, responses={200: ParticipantOut})
    def post(self, request: Request, pk: int) -> Response:
        participant = get_participant(request, pk)
        data = WithdrawIn(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.participant_withdraw(
            participant=participant, reason=data.validated_data["reason"], by=roles.actor(request.user), now=clock.now()
        )
        return Response(ParticipantOut(participant, context={"request": request}).data)


class ParticipantDeath(APIView):
    """Record a participant's death: as a withdrawal, it stops future visits, bookings, reminders
    and unreleased dose sheets."""

    required_roles = {"POST": roles.roles_holding("trialsite.withdraw_participant")}

    @extend_schema(request=DeathIn, responses={200: ParticipantOut})
    def post(self, request: Request, pk: int) -> Response:
        participant = get_participant(request, pk)
        data = DeathIn(data=request.data)
        data.is_valid(raise_exception=True)
        participant = services.participant_record_death(
            participant=participant,
            died_on=data.validated_data["died_on"],
            notes=data.validated_data.get("notes", ""),
            by=roles.actor(request.user),
            now=clock.now(),
            today=clock.today(),
        )
        return Response(ParticipantOut(participant, context={"request": request}).data)


class ParticipantRecordsView(generics.ListAPIView[Any]):
    """A participant's clinical records of one kind: GET lists them newest first (staff of the
    participant's site), POST records one through the registry's service (nurses)."""

    required_roles = {"GET": roles.STAFF_ROLES}  # and POST: each kind's add permission, below
    model: type[Model]
    input_serializer: type[serializers.Serializer[Any]]
    newest_first: tuple[str, ...]

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no participant
            return self.model._default_manager.none()
        participant = get_participant(self.request, self.kwargs["pk"])
        return self.model._default_manager.filter(participant=participant).order_by(*self.newest_first)

    def record(self, *, participant: Participant, by: Any, data: dict[str, Any]) -> Model:
        """Record one row through the owning service (which takes `today` or `now` itself)."""
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        participant = get_participant(request, pk)
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = self.record(participant=participant, by=roles.actor(request.user), data=data.validated_data)
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)


@extend_schema_view(post=extend_schema(request=MeasurementIn, responses={201: MeasurementOut}))
class MeasurementListCreate(ParticipantRecordsView):
    required_roles = {"GET": roles.STAFF_ROLES, "POST": roles.roles_holding("trialsite.add_measurement")}
    model = Measurement
    serializer_class = MeasurementOut
    input_serializer = MeasurementIn
    newest_first = ("-measured_on", "-id")

    def record(self, *, participant: Participant, by: Any, data: dict[str, Any]) -> Model:
        return services.measurement_record(participant=participant, by=by, today=clock.today(), **data)


@extend_schema_view(post=extend_schema(request=LabResultIn, responses={201: LabResultOut}))
class LabResultListCreate(ParticipantRecordsView):
    required_roles = {"GET": roles.STAFF_ROLES, "POST": roles.roles_holding("trialsite.add_labresult")}
    model = LabResult
    serializer_class = LabResultOut
    input_serializer = LabResultIn
    newest_first = ("-collected_on", "-id")

    def record(self, *, participant: Participant, by: Any, data: dict[str, Any]) -> Model:
        return services.lab_result_record(participant=participant, by=by, today=clock.today(), **data)
