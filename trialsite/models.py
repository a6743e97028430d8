"""The trial registry: trials and their protocol versions, sites, staff membership, participants
and their dated measurements and lab results."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.text import format_lazy
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from trialsite import labs, phrases, plausibility, ranges
from trialsite.error_codes import TrialsiteErrorCode


class Trial(models.Model):
    registry_id = models.CharField(_("registry id"), max_length=32, unique=True)
    title = models.CharField(_("title"), max_length=300)
    target_enrollment = models.PositiveIntegerField(_("target enrollment"))
    current_protocol = models.ForeignKey(
        "ProtocolVersion",
        verbose_name=_("current protocol version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    sites: models.ManyToManyField[Site, Any] = models.ManyToManyField(
        "Site", related_name="trials", verbose_name=_("sites")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("trial")
        verbose_name_plural = _("trials")
        permissions = [
            ("raise_enrollment_cap", _("Can raise the target enrollment")),
            ("view_audit_log", _("Can read the trial's audit log")),
        ]

    def __str__(self) -> str:
        return self.registry_id

    @property
    def definition(self) -> dict[str, Any]:
        """The current protocol definition (the validated data file), or {} before loading."""
        return self.current_protocol.definition if self.current_protocol else {}


class ProtocolVersion(models.Model):
    """One loaded version of a trial's protocol definition file. Never edited after loading:
    participants stay on the version they were registered under."""

    trial = models.ForeignKey(
        Trial, on_delete=models.PROTECT, verbose_name=_("trial"), related_name="protocol_versions"
    )
    version = models.CharField(_("version"), max_length=32)
    definition = models.JSONField(_("definition"))
    sha256 = models.CharField(_("SHA-256 of the canonical definition"), max_length=64)
    source_path = models.CharField(_("loaded from"), max_length=300)
    loaded_at = models.DateTimeField(_("loaded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("protocol version")
        verbose_name_plural = _("protocol versions")
        constraints = [
            models.UniqueConstraint(fields=["trial", "version"], name="protocol_version_unique"),
        ]
        ordering = ["trial", "loaded_at"]

    def __str__(self) -> str:
        return f"{self.trial.registry_id} v{self.version}"


class Site(models.Model):
    code = models.CharField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("Chinese name"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100)
    country = models.CharField(_("country"), max_length=2, default="CN")
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    infusion_chairs_per_day = models.PositiveIntegerField(
        _("infusion chairs per day"), validators=[MinValueValidator(1)]
    )
    # Local time at the site (time_zone). A booking outside these hours is refused (issue 12 §3):
    # a visit at 00:00 is a typing mistake, not a plan. 07:30–17:30 covers the outpatient and
    # day-ward hours of the participating hospitals; each site sets its own.
    opening_time = models.TimeField(_("opening time"), default=dt.time(7, 30), db_default=dt.time(7, 30))
    closing_time = models.TimeField(_("closing time"), default=dt.time(17, 30), db_default=dt.time(17, 30))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(opening_time__lt=models.F("closing_time")), name="site_opening_before_closing"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name_in(get_language())}"

    def name_in(self, language: str | None) -> str:
        """The site's name for a reader of `language` (the Chinese name where there is one)."""
        return self.name_zh if language == "zh-hans" and self.name_zh else self.name

    def is_open_at(self, time: dt.time) -> bool:
        """Whether a visit may start at `time` (local): from opening time, before closing time."""
        return self.opening_time <= time < self.closing_time


class SiteReferenceRange(models.Model):
    """A site laboratory's upper limit of normal for one analyte (eligibility uses ×ULN rules)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, verbose_name=_("site"), related_name="reference_ranges")
    analyte = models.CharField(_("analyte"), max_length=32, choices=labs.ANALYTE_CHOICES)
    uln = models.DecimalField(_("upper limit of normal"), max_digits=10, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=16)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("site reference range")
        verbose_name_plural = _("site reference ranges")
        constraints = [
            models.UniqueConstraint(fields=["site", "analyte"], name="site_reference_range_unique"),
            models.CheckConstraint(condition=Q(uln__gt=0), name="site_reference_range_uln_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.site.code} {labs.analyte_label(self.analyte)} ULN {self.uln} {self.unit}"

    def clean(self) -> None:
        """The unit is one of the analyte's (normalised: "μmol/L" is "umol/L") and the ULN is a
        plausible value of the analyte in it (trialsite/labs.py)."""
        clean_lab_values(self, uln=self.uln)


class StaffProfile(models.Model):
    """Per-user preferences; the admin language is switchable per user."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, verbose_name=_("user"), related_name="staff_profile"
    )
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="en")

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return f"{self.user} ({self.get_language_display()})"


class SiteMembership(models.Model):
    """Staff-to-site membership: a user sees the participants of the sites they belong to."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, verbose_name=_("user"), related_name="site_memberships"
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, verbose_name=_("site"), related_name="memberships")

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("site membership")
        verbose_name_plural = _("site memberships")
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="site_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.site.code}"


class Sex(models.TextChoices):
    FEMALE = "female", _("female")
    MALE = "male", _("male")


class Language(models.TextChoices):
    ZH_HANS = "zh-hans", _("Simplified Chinese")
    EN = "en", _("English")


class ParticipantStatus(models.TextChoices):
    SCREENING = "screening", _("screening")
    ELIGIBLE = "eligible", _("eligible")
    INELIGIBLE = "ineligible", _("ineligible")
    RANDOMIZED = "randomized", _("randomized")
    ON_TREATMENT = "on_treatment", _("on treatment")
    COMPLETED = "completed", _("completed")
    WITHDRAWN = "withdrawn", _("withdrawn")
    DECEASED = "deceased", _("deceased")


# Allowed status moves. Re-screening may turn an eligible participant ineligible and back;
# randomization is the only way into `randomized` (randomization.services sets it).
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    ParticipantStatus.SCREENING: frozenset({"eligible", "ineligible", "withdrawn", "deceased"}),
    ParticipantStatus.ELIGIBLE: frozenset({"ineligible", "randomized", "withdrawn", "deceased"}),
    ParticipantStatus.INELIGIBLE: frozenset({"eligible", "withdrawn", "deceased"}),
    ParticipantStatus.RANDOMIZED: frozenset({"on_treatment", "withdrawn", "deceased"}),
    ParticipantStatus.ON_TREATMENT: frozenset({"completed", "withdrawn", "deceased"}),
    # A death in follow-up after completed treatment is still recorded (survival outcomes).
    ParticipantStatus.COMPLETED: frozenset({"deceased"}),
    ParticipantStatus.WITHDRAWN: frozenset({"deceased"}),
    ParticipantStatus.DECEASED: frozenset(),
}
RANDOMIZED_STATUSES = ("randomized", "on_treatment", "completed")
# Off study: nothing more is planned, booked, dosed or sent for these participants.
OFF_STUDY_STATUSES = ("withdrawn", "deceased")


# Format rules of the registry's identifiers and contact details: here on the model, so that the
# admin's forms, the API (through the services' full_clean) and any other door refuse the same.
SCREENING_NUMBER_FORMAT = RegexValidator(
    r"\A[A-Za-z0-9-]{1,32}\Z",
    _("Use 1–32 letters, digits and hyphens, e.g. ZJU1-001."),
    code=TrialsiteErrorCode.INVALID_SCREENING_NUMBER,
)
PHONE_FORMAT = RegexValidator(
    r"\A\+?[0-9 -]{6,32}\Z",
    _("Enter 6–32 digits, spaces or hyphens, with an optional leading +, e.g. +86 138 0000 0000."),
    code=TrialsiteErrorCode.INVALID_PHONE,
)


class Participant(models.Model):
    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, related_name="participants", verbose_name=_("trial"))
    protocol_version = models.ForeignKey(
        ProtocolVersion, on_delete=models.PROTECT, related_name="participants", verbose_name=_("protocol version")
    )
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="participants", verbose_name=_("site"))
    screening_number = models.CharField(_("screening number"), max_length=32, validators=[SCREENING_NUMBER_FORMAT])
    full_name = models.CharField(_("full name"), max_length=200)
    sex = models.CharField(_("sex"), max_length=6, choices=Sex.choices)
    birth_date = models.DateField(_("birth date"))
    consent_date = models.DateField(_("consent date"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ParticipantStatus.choices, default=ParticipantStatus.SCREENING
    )
    # Set by randomization.services.participant_randomize only; the allocation record there is the
    # source of truth and these columns are a convenient copy for the other apps.
    arm = models.CharField(_("arm"), max_length=32, blank=True)
    randomization_number = models.PositiveIntegerField(_("randomization number"), null=True, blank=True)
    randomized_at = models.DateTimeField(_("randomized at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    # A stored phrase (trialsite.phrases): the reason a person typed, or the system's own ("died"),
    # said in the reader's language when shown.
    withdrawal = models.JSONField(_("withdrawal reason"), null=True, blank=True)
    died_on = models.DateField(_("date of death"), null=True, blank=True)
    # Contact and reminder preferences.
    phone = models.CharField(_("mobile phone"), max_length=32, blank=True, validators=[PHONE_FORMAT])
    email = models.EmailField(_("email"), blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=10, choices=Language.choices, default=Language.ZH_HANS
    )
    reminders_by_sms = models.BooleanField(_("reminders by SMS"), default=True)
    reminders_by_email = models.BooleanField(_("reminders by email"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("registered by"),
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        ordering = ["trial", "screening_number"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "screening_number"], name="participant_screening_number_unique"),
            models.UniqueConstraint(
                fields=["trial", "randomization_number"], name="participant_randomization_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in ParticipantStatus]), name="participant_status_valid"
            ),
            # A randomized participant always has an arm and a number; a never-randomized one never does.
            models.CheckConstraint(
                condition=(
                    Q(status__in=RANDOMIZED_STATUSES, randomization_number__isnull=False, randomized_at__isnull=False)
                    & ~Q(arm="")
                )
                | Q(status__in=["screening", "eligible", "ineligible"], randomization_number__isnull=True, arm="")
                | Q(status__in=["withdrawn", "deceased"]),
                name="participant_randomized_has_allocation",
            ),
        ]
        permissions = [
            ("withdraw_participant", _("Can withdraw a participant or record a death")),
            # Staff roles have it; an API client only when granted (create_api_user --identity).
            ("view_participant_identity", _("Can see a participant's full name and birth date")),
        ]

    def __str__(self) -> str:
        return f"{self.screening_number}"

    @property
    def withdrawal_reason(self) -> str:
        """The withdrawal reason as stored English (typed text as typed), for logs, exports and the
        other apps' records; a reader sees `phrases.render(participant.withdrawal)`."""
        return phrases.english(self.withdrawal)

    @property
    def is_randomized(self) -> bool:
        return self.randomization_number is not None

    @property
    def is_off_study(self) -> bool:
        """Withdrawn or deceased: no more visits, bookings, dose sheets or reminders."""
        return self.status in OFF_STUDY_STATUSES


class MeasurementKind(models.TextChoices):
    HEIGHT = "height", _("height (cm)")
    WEIGHT = "weight", _("weight (kg)")


class Measurement(models.Model):
    """A dated body measurement. Corrections are new rows; a wrong row is marked entered in error."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="measurements", verbose_name=_("participant")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=MeasurementKind.choices)
    value = models.DecimalField(_("value"), max_digits=6, decimal_places=2)
    measured_on = models.DateField(_("measured on"))
    entered_in_error = models.BooleanField(_("entered in error"), default=False)
    error_reason = models.CharField(_("reason marked in error"), max_length=200, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        related_name="+",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("measurement")
        verbose_name_plural = _("measurements")
        ordering = ["participant", "-measured_on", "-id"]
        indexes = [models.Index(fields=["participant", "kind", "measured_on"])]
        constraints = [
            # A backstop generated from the plausibility ranges (trialsite/ranges.py); clean()
            # gives the message that names the likely mistake.
            models.CheckConstraint(
                condition=Q(
                    *[
                        Q(kind=kind, value__gte=bounds.low, value__lte=bounds.high)
                        for kind, bounds in ranges.MEASUREMENT_RANGES.items()
                    ],
                    _connector=Q.OR,
                ),
                name="measurement_value_plausible",
                violation_error_message=format_lazy(
                    _("Height must be {h_low}–{h_high} cm and weight {w_low}–{w_high} kg."),
                    h_low=ranges.HEIGHT_CM.low,
                    h_high=ranges.HEIGHT_CM.high,
                    w_low=ranges.WEIGHT_KG.low,
                    w_high=ranges.WEIGHT_KG.high,
                ),
            ),
        ]

    def __str__(self) -> str:
        return _("%(participant)s %(kind)s %(value)s on %(date)s") % {
            "participant": self.participant,
            "kind": self.get_kind_display(),
            "value": self.value,
            "date": self.measured_on,
        }

    def clean(self) -> None:
        """A height or weight that can't be true is refused, naming the likely slip."""
        if self.kind in ranges.MEASUREMENT_RANGES and isinstance(self.value, Decimal):
            message = plausibility.measurement_implausibility(self.kind, self.value)
            if message:
                raise ValidationError({"value": message})


class LabResult(models.Model):
    """A dated lab value in the analyte's canonical unit (labs.ANALYTES), with the site's ULN."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="lab_results", verbose_name=_("participant")
    )
    analyte = models.CharField(_("analyte"), max_length=32, choices=labs.ANALYTE_CHOICES)
    value = models.DecimalField(_("value"), max_digits=10, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=16)
    uln = models.DecimalField(_("upper limit of normal"), max_digits=10, decimal_places=3, null=True, blank=True)
    collected_on = models.DateField(_("collected on"))
    entered_in_error = models.BooleanField(_("entered in error"), default=False)
    error_reason = models.CharField(_("reason marked in error"), max_length=200, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        related_name="+",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("lab result")
        verbose_name_plural = _("lab results")
        ordering = ["participant", "-collected_on", "-id"]
        indexes = [models.Index(fields=["participant", "analyte", "collected_on"])]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="lab_result_value_non_negative"),
            models.CheckConstraint(condition=Q(uln__isnull=True) | Q(uln__gt=0), name="lab_result_uln_positive"),
        ]

    def __str__(self) -> str:
        return _("%(participant)s %(kind)s %(value)s on %(date)s") % {
            "participant": self.participant,
            "kind": f"{labs.analyte_label(self.analyte)} ({self.unit})",
            "value": self.value,
            "date": self.collected_on,
        }

    @property
    def times_uln(self) -> Decimal | None:
        return (self.value / self.uln) if self.uln else None

    def clean(self) -> None:
        """The unit is one of the analyte's and the value (and ULN) plausible in it: a value in
        another unit is refused with that unit named (trialsite/labs.py), never stored."""
        clean_lab_values(self, value=self.value, uln=self.uln)


def clean_lab_values(row: LabResult | SiteReferenceRange, **values: Decimal | None) -> None:
    """Normalise the row's unit and refuse a unit the analyte lacks or an implausible value."""
    if row.analyte not in labs.ANALYTES or not row.unit:
        return  # the field validation says what is missing
    row.unit = labs.normalize_unit(row.unit)
    errors = labs.value_errors(row.analyte, row.unit, {k: v for k, v in values.items() if isinstance(v, Decimal)})
    if errors:
        raise ValidationError(errors)


class WorkerHeartbeat(models.Model):
    """One row, touched by the `heartbeat` task that beat schedules: proof the worker runs."""

    seen_at = models.DateTimeField()

    class Meta:
        verbose_name = _("worker heartbeat")

    def __str__(self) -> str:
        return f"worker seen at {self.seen_at.isoformat()}"


class IdempotencyRecord(models.Model):
    """The first successful answer to a request sent with an `Idempotency-Key` (trialsite/idempotency.py),
    replayed to that user's repeats of the request. Shared by every endpoint that takes the header
    (randomize, bookings); until 0009 the table was randomization's."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    endpoint = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique")]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class TrialJob(models.Model):
    """Work proportional to the trial (re-check every plan after a calendar change, re-sync every
    reminder after a rule change) done by the worker in batches instead of inside a request, with
    its progress for the admin. `items` is fixed when the job starts, so a worker that dies resumes
    where the last batch ended (each item is its own transaction and safe to do twice)."""

    kind = models.CharField(_("kind"), max_length=64)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    items = models.JSONField(_("items"), null=True, blank=True)
    total = models.PositiveIntegerField(_("items in all"), null=True, blank=True)
    done = models.PositiveIntegerField(_("items done"), default=0)
    refused = models.PositiveIntegerField(_("items refused"), default=0)
    refusals = models.JSONField(_("refusals"), default=list, blank=True)  # [{"item", "message"}], the first 100
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name=_("started by"),
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"))
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    lease_until = models.DateTimeField(_("run held until"), null=True, blank=True)

    class Meta:
        verbose_name = _("background job")
        verbose_name_plural = _("background jobs")
        ordering = ["-created_at", "-pk"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["status", "created_at"], name="trialjob_status_created")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]), name="trialjob_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(total__isnull=True) | Q(done__lte=models.F("total") - models.F("refused")),
                name="trialjob_progress_within_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def processed(self) -> int:
        return self.done + self.refused


# What a signature means (21 CFR 11.50(a)(3)): a code stored on the row, its English phrase here
# (said in the reader's language on display, trialsite.signatures). No drug or arm is named: the
# signed record says what was done.
SIGNATURE_MEANINGS: dict[str, str] = {
    "randomize": gettext_noop("I randomize this participant"),
    "verify_sheet": gettext_noop("I verified this dose sheet"),
    "release_sheet": gettext_noop("I released this dose sheet after the double check"),
    "renal_decision": gettext_noop("I made this renal decision"),
    "dose_modification": gettext_noop("I decided this dose modification"),
}


class Signature(models.Model):
    """One electronic signature (21 CFR 11.50, 11.100, 11.200): made when its signer re-entered
    the password (trialsite.signatures.sign), used once for one act on one record (`consume`).
    The signer's name is copied at signing, so that a later change of the account does not change
    what was signed. Never edited or deleted by a door; a used signature names its record."""

    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("signer"), on_delete=models.PROTECT, related_name="+"
    )
    signer_name = models.CharField(_("signer's name"), max_length=300)
    meaning = models.CharField(_("meaning"), max_length=32, choices=[(code, code) for code in SIGNATURE_MEANINGS])
    signed_at = models.DateTimeField(_("signed at"))
    target_type = models.ForeignKey(
        "contenttypes.ContentType", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("electronic signature")
        verbose_name_plural = _("electronic signatures")
        default_permissions = ("view",)
        indexes = [models.Index(fields=["target_type", "target_id"], name="signature_target")]
        constraints = [
            models.CheckConstraint(
                condition=Q(used_at__isnull=True, target_type__isnull=True, target_id__isnull=True)
                | Q(used_at__isnull=False, target_type__isnull=False, target_id__isnull=False),
                name="signature_used_has_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.signer_name} {self.meaning} {self.signed_at:%Y-%m-%d %H:%M}"
