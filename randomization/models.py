"""Eligibility and allocation: screening assessments, randomization schemes (with their secret
seed kept apart), the append-only allocation record."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from randomization import keyring
from trialsite.models import Participant, Trial

# The hash before the first allocation of a trial: the start of the chain.
GENESIS_HASH = "0" * 64


class EligibilityOutcome(models.TextChoices):
    ELIGIBLE = "eligible", _("eligible")
    NOT_ELIGIBLE = "not_eligible", _("not eligible")
    NOT_ASSESSABLE = "not_assessable", _("not assessable")


class ScreeningAssessment(models.Model):
    """One screening of a participant against the protocol's criteria. Re-screening is a new row;
    old rows are kept. `findings` holds the nurse's answers keyed by the rule fields of the
    protocol definition (yes/no findings as booleans, counts and measures as numbers), including
    the stratification factors (liver-only metastases, ECOG)."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, verbose_name=_("participant"), related_name="screening_assessments"
    )
    assessed_on = models.DateField(_("assessed on"))
    findings = models.JSONField(_("findings"), default=dict, blank=True)
    # Computed by the service at the time of the assessment.
    age_years = models.PositiveIntegerField(_("age at consent"), null=True, blank=True)
    weight_kg = models.DecimalField(_("weight used (kg)"), max_digits=6, decimal_places=2, null=True, blank=True)
    creatinine_clearance_ml_min = models.DecimalField(
        _("Cockcroft–Gault CrCl (mL/min)"), max_digits=7, decimal_places=1, null=True, blank=True
    )
    labs = models.JSONField(_("lab values used"), default=dict, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=EligibilityOutcome.choices)
    criteria = models.JSONField(_("criteria results"), default=list, blank=True)
    assessed_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("assessed by"),
        null=True,
        blank=True,
        related_name="+",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("screening assessment")
        verbose_name_plural = _("screening assessments")
        ordering = ["participant", "-assessed_on", "-id"]
        indexes = [models.Index(fields=["participant", "assessed_on"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=[o.value for o in EligibilityOutcome]), name="screening_outcome_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.participant} {self.assessed_on} {self.get_outcome_display()}"


class SchemeStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    ACTIVE = "active", _("active")
    SUPERSEDED = "superseded", _("superseded")


class RandomizationScheme(models.Model):
    """A versioned randomization configuration of a trial. Activation publishes the SHA-256
    commitment to the seed and the configuration; after that the configuration is frozen (also
    in the database: a trigger refuses changes to an activated scheme's configuration and
    commitment). An amendment is a new version; the previous one becomes superseded."""

    trial = models.ForeignKey(
        Trial, on_delete=models.PROTECT, verbose_name=_("trial"), related_name="randomization_schemes"
    )
    version = models.PositiveIntegerField(_("version"))
    config = models.JSONField(_("configuration"))
    status = models.CharField(_("status"), max_length=16, choices=SchemeStatus.choices, default=SchemeStatus.DRAFT)
    commitment = models.CharField(_("SHA-256 commitment"), max_length=64, blank=True)
    reason = models.TextField(_("reason for this version"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        related_name="+",
    )
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("activated by"),
        null=True,
        blank=True,
        related_name="+",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("randomization scheme")
        verbose_name_plural = _("randomization schemes")
        ordering = ["trial", "version"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "version"], name="randomization_scheme_version_unique"),
            models.UniqueConstraint(
                fields=["trial"], condition=Q(status="active"), name="randomization_scheme_one_active"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | (~Q(commitment="") & Q(activated_at__isnull=False)),
                name="randomization_scheme_activated_has_commitment",
            ),
        ]
        permissions = [
            ("activate_scheme", _("Can activate a randomization scheme")),
            ("view_allocation_secret", _("Can see allocations, block sizes and minimization scores")),
        ]

    def __str__(self) -> str:
        return _("%(trial)s scheme v%(version)s (%(status)s)") % {
            "trial": self.trial,
            "version": self.version,
            "status": self.get_status_display(),
        }


class SchemeSecret(models.Model):
    """The seed of a scheme. Kept apart from the scheme so that no admin page, serializer or
    export of the scheme can carry it; only the randomize service and the verification read it.
    Stored encrypted (AES-256-GCM under SEED_ENCRYPTION_KEY, randomization/keyring.py): a dump
    of the database without the key reveals no future allocation."""

    scheme = models.OneToOneField(RandomizationScheme, on_delete=models.PROTECT, related_name="secret")
    key_id = models.CharField(max_length=32)
    seed_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("scheme secret")
        verbose_name_plural = _("scheme secrets")
        default_permissions = ()

    def __str__(self) -> str:
        return f"secret of {self.scheme}"  # never the seed

    def __repr__(self) -> str:
        return f"<SchemeSecret scheme={self.scheme_id}>"

    def seed(self) -> bytes:
        return keyring.seed_decrypt(self.key_id, self.seed_encrypted, scheme_id=self.scheme_id)


class Allocation(models.Model):
    """One randomization: append-only (a PostgreSQL trigger rejects UPDATE and DELETE) and
    hash-chained: `entry_hash` is an HMAC, under the chain key `chain_key_id` (kept outside the
    database), of every field of the entry including the previous entry's hash
    (services.canonical_entry)."""

    trial = models.ForeignKey(Trial, on_delete=models.PROTECT, verbose_name=_("trial"), related_name="allocations")
    scheme = models.ForeignKey(
        RandomizationScheme,
        on_delete=models.PROTECT,
        verbose_name=_("randomization scheme"),
        related_name="allocations",
    )
    participant = models.OneToOneField(
        Participant, on_delete=models.PROTECT, verbose_name=_("participant"), related_name="allocation"
    )
    sequence = models.PositiveIntegerField(_("randomization number"))
    arm = models.CharField(_("arm"), max_length=32)
    method = models.CharField(_("method"), max_length=16)
    factors = models.JSONField(_("factor values"))
    draws = models.JSONField(_("draws"))
    details = models.JSONField(_("decision details"))
    assessment = models.ForeignKey(
        ScreeningAssessment,
        on_delete=models.PROTECT,
        verbose_name=_("screening assessment"),
        null=True,
        blank=True,
        related_name="+",
    )
    allocated_at = models.DateTimeField(_("randomized at"))
    allocated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("allocated by"), related_name="+"
    )
    prev_hash = models.CharField(_("hash of the previous entry"), max_length=64)
    chain_key_id = models.CharField(_("chain key"), max_length=32)
    entry_hash = models.CharField(_("entry hash"), max_length=64, unique=True)

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["trial", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["trial", "sequence"], name="allocation_sequence_unique"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="allocation_sequence_positive"),
        ]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.trial} #{self.sequence}"


class AllocationState(models.Model):
    """A trial's randomization lock and running state: one row per trial, created when its first
    scheme is activated. `participant_randomize` locks this row, allocates from `state` (the
    arm totals, counts per factor level and open blocks that replaying the whole record would
    give), and writes the allocation and the new state in the same transaction, so every
    process shares one state and none replays the record. An amendment stores the state replayed
    from the record; a null state (never written by the services) suspends randomization and
    fails verification.

    The state holds open blocks, i.e. future allocations: it is concealed like the seed (no
    permissions, no admin, no serializer; only the randomize service reads it)."""

    trial = models.OneToOneField(Trial, on_delete=models.PROTECT, primary_key=True, related_name="+")
    scheme = models.ForeignKey(RandomizationScheme, on_delete=models.PROTECT, related_name="+")
    sequence = models.PositiveIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    state = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        default_permissions = ()
        constraints = [
            models.CheckConstraint(
                condition=Q(sequence=0, last_hash=GENESIS_HASH) | Q(sequence__gte=1),
                name="allocation_state_genesis",
            )
        ]

    def __str__(self) -> str:
        return f"allocation state of trial {self.trial_id} at #{self.sequence}"  # never the state


class ParticipantToRandomize(Participant):
    """The registry's participants as the randomization admin lists them (a proxy: no table)."""

    class Meta:
        proxy = True
        verbose_name = _("participant to randomize")
        verbose_name_plural = _("randomize participants")
        default_permissions = ()
        permissions = [("randomize_participant", _("Can randomize a participant"))]


class ConfirmationPrint(models.Model):
    """Each printing of a participant's randomization confirmation (page or PDF): the first is the
    original filed in the investigator site file, every later one is marked as a copy."""

    class Medium(models.TextChoices):
        PAGE = "page", _("printable page")
        PDF = "pdf", _("PDF")

    allocation = models.ForeignKey(
        Allocation, on_delete=models.PROTECT, verbose_name=_("allocation"), related_name="confirmation_prints"
    )
    printed_at = models.DateTimeField(_("printed at"))
    printed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("printed by"), related_name="+"
    )
    medium = models.CharField(_("medium"), max_length=8, choices=Medium.choices)

    class Meta:
        verbose_name = _("randomization confirmation print")
        verbose_name_plural = _("randomization confirmation prints")
        ordering = ["allocation", "printed_at", "pk"]
        default_permissions = ()
        constraints = [
            models.CheckConstraint(condition=Q(medium__in=["page", "pdf"]), name="confirmation_print_medium_valid")
        ]

    def __str__(self) -> str:
        return f"{self.allocation} {self.medium} {self.printed_at:%Y-%m-%d %H:%M}"
