"""Input and output shapes of the registry API. They check shape only; rules live in services
and models (the screening number's and phone's formats are on the model, so that the admin
refuses the same values). Numbers are bounded before conversion (trialsite/api/fields.py)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from trialsite import labs, roles
from trialsite.api.fields import DecimalIn, LocalTimeField, UnitIn
from trialsite.models import LabResult, Language, Measurement, MeasurementKind, Participant, Sex, Site, Trial


class SiteOut(serializers.ModelSerializer[Site]):
    opening_time = LocalTimeField(read_only=True, help_text="Local time at the site.")
    closing_time = LocalTimeField(read_only=True, help_text="Local time at the site.")

    class Meta:
        model = Site
        fields = [
            "id",
            "code",
            "name",
            "name_zh",
            "city",
            "time_zone",
            "opening_time",
            "closing_time",
            "infusion_chairs_per_day",
        ]


class TrialOut(serializers.ModelSerializer[Trial]):
    protocol_version = serializers.CharField(source="current_protocol.version", default=None)

    class Meta:
        model = Trial
        fields = ["id", "registry_id", "title", "target_enrollment", "protocol_version"]


PHONE_HELP = "6–32 digits, spaces or hyphens, with an optional leading +."


class ParticipantIn(serializers.Serializer[None]):
    trial = serializers.CharField(required=False, help_text="Registry id; defaults to the only trial.")
    site = serializers.CharField(help_text="Site code, e.g. ZJU1.")
    screening_number = serializers.CharField(max_length=32, help_text="1–32 letters, digits and hyphens.")
    full_name = serializers.CharField(max_length=200)
    sex = serializers.ChoiceField(choices=Sex.choices)
    birth_date = serializers.DateField()
    consent_date = serializers.DateField(required=False, allow_null=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, help_text=PHONE_HELP)
    email = serializers.EmailField(required=False, allow_blank=True)
    preferred_language = serializers.ChoiceField(choices=Language.choices, required=False)
    reminders_by_sms = serializers.BooleanField(required=False)
    reminders_by_email = serializers.BooleanField(required=False)


# What identifies a person, beyond the trial's own identifiers: shown only to a caller with
# trialsite.view_participant_identity (the staff roles; an API client only when granted).
IDENTITY_FIELDS = ("full_name", "birth_date")


def identity_for(user: Any, participant: dict[str, Any]) -> dict[str, Any]:
    """A participant's data as `user` may see it: a copy without IDENTITY_FIELDS unless allowed
    (for documents that embed the participant, such as a dose sheet's JSON)."""
    if roles.can_see_identity(user):
        return participant
    return {key: value for key, value in participant.items() if key not in IDENTITY_FIELDS}


class ParticipantOut(serializers.ModelSerializer[Participant]):
    """A participant as the API shows it. Needs the request in its context: without it, or for a
    caller without the identity permission, the full name and birth date are left out."""

    trial = serializers.CharField(source="trial.registry_id")
    site = serializers.CharField(source="site.code")
    protocol_version = serializers.CharField(source="protocol_version.version")

    def to_representation(self, instance: Participant) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not roles.can_see_identity(request.user):
            for name in IDENTITY_FIELDS:
                data.pop(name, None)
        return data

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
        # Absent for a caller without the identity permission (an API client unless granted).
        extra_kwargs = {
            name: {"required": False, "help_text": "Only for callers allowed to see the participant's identity."}
            for name in IDENTITY_FIELDS
        }


class ParticipantUpdateIn(serializers.Serializer[None]):
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, help_text=PHONE_HELP)
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
    value = DecimalIn(max_digits=6, decimal_places=2, help_text="Height in cm or weight in kg.")
    measured_on = serializers.DateField()


class MeasurementOut(serializers.ModelSerializer[Measurement]):
    class Meta:
        model = Measurement
        fields = ["id", "kind", "value", "measured_on", "entered_in_error", "recorded_at"]


UNIT_HELP = (
    "Required: the unit the laboratory reported, one of the analyte's accepted units ("
    + "; ".join(f"{code}: {' or '.join(labs.accepted_units(code))}" for code in labs.ANALYTES)
    + "). µ, μ and u are the same; ×10⁹/L, x10^9/L and 10*9/L are 10^9/L. A value that is not plausible "
    "in the unit is a 400 that names the unit it looks like."
)


class LabResultIn(serializers.Serializer[None]):
    analyte = serializers.ChoiceField(choices=labs.ANALYTE_CHOICES)
    value = DecimalIn(max_digits=12, decimal_places=3)
    unit = UnitIn(help_text=UNIT_HELP)
    uln = DecimalIn(max_digits=12, decimal_places=3, required=False, allow_null=True)
    collected_on = serializers.DateField()


class LabResultOut(serializers.ModelSerializer[LabResult]):
    class Meta:
        model = LabResult
        fields = ["id", "analyte", "value", "unit", "uln", "collected_on", "entered_in_error", "recorded_at"]
