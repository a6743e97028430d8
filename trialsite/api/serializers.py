"""Input and output shapes of the registry API. They check shape only; rules live in services."""

from __future__ import annotations

from rest_framework import serializers

from trialsite import labs
from trialsite.models import LabResult, Language, Measurement, MeasurementKind, Participant, Sex, Site, Trial


class SiteOut(serializers.ModelSerializer[Site]):
    class Meta:
        model = Site
        fields = ["id", "code", "name", "name_zh", "city", "time_zone", "infusion_chairs_per_day"]


class TrialOut(serializers.ModelSerializer[Trial]):
    protocol_version = serializers.CharField(source="current_protocol.version", default=None)

    class Meta:
        model = Trial
        fields = ["id", "registry_id", "title", "target_enrollment", "protocol_version"]


class ParticipantIn(serializers.Serializer[None]):
    trial = serializers.CharField(required=False, help_text="Registry id; defaults to the only trial.")
    site = serializers.CharField(help_text="Site code, e.g. ZJU1.")
    screening_number = serializers.RegexField(r"^[A-Za-z0-9-]{1,32}$", max_length=32)
    full_name = serializers.CharField(max_length=200)
    sex = serializers.ChoiceField(choices=Sex.choices)
    birth_date = serializers.DateField()
    consent_date = serializers.DateField(required=False, allow_null=True)
    phone = serializers.RegexField(r"^\+?[0-9 -]{6,32}$", required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    preferred_language = serializers.ChoiceField(choices=Language.choices, required=False)
    reminders_by_sms = serializers.BooleanField(required=False)
    reminders_by_email = serializers.BooleanField(required=False)


class ParticipantOut(serializers.ModelSerializer[Participant]):
    trial = serializers.CharField(source="trial.registry_id")
    site = serializers.CharField(source="site.code")
    protocol_version = serializers.CharField(source="protocol_version.version")

    class Meta:
        model = Participant
        fields = [
            "id",
            "trial",
            "protocol_version",
            "site",
            "screening_number",
            "full_name",
            "sex",
            "birth_date",
            "consent_date",
            "status",
            "arm",
            "randomization_number",
            "randomized_at",
            "withdrawn_at",
            "died_on",
            "preferred_language",
            "reminders_by_sms",
            "reminders_by_email",
            "created_at",
        ]


class ParticipantUpdateIn(serializers.Serializer[None]):
    phone = serializers.RegexField(r"^\+?[0-9 -]{6,32}$", required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    preferred_language = serializers.ChoiceField(choices=Language.choices, required=False)
    reminders_by_sms = serializers.BooleanField(required=False)
    reminders_by_email = serializers.BooleanField(required=False)


class ConsentIn(serializers.Serializer[None]):
    consent_date = serializers.DateField()


class WithdrawIn(serializers.Serializer[None]):
    reason = serializers.CharField(max_length=2000)


class DeathIn(serializers.Serializer[None]):
    died_on = serializers.DateField()
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class MeasurementIn(serializers.Serializer[None]):
    kind = serializers.ChoiceField(choices=MeasurementKind.choices)
    value = serializers.DecimalField(max_digits=6, decimal_places=2)
    measured_on = serializers.DateField()


class MeasurementOut(serializers.ModelSerializer[Measurement]):
    class Meta:
        model = Measurement
        fields = ["id", "kind", "value", "measured_on", "entered_in_error", "recorded_at"]


class LabResultIn(serializers.Serializer[None]):
    analyte = serializers.ChoiceField(choices=labs.ANALYTE_CHOICES)
    value = serializers.DecimalField(max_digits=12, decimal_places=3)
    unit = serializers.CharField(required=False, max_length=16, help_text="Defaults to the canonical unit.")
    uln = serializers.DecimalField(max_digits=12, decimal_places=3, required=False, allow_null=True)
    collected_on = serializers.DateField()


class LabResultOut(serializers.ModelSerializer[LabResult]):
    class Meta:
        model = LabResult
        fields = ["id", "analyte", "value", "unit", "uln", "collected_on", "entered_in_error", "recorded_at"]
