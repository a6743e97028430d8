"""The toxicity (adverse-event) log: CTCAE v5.0 terms, each participant's adverse events with
their grade, dates, cycle, seriousness and attribution per drug, and the alerts an SAE sends to
the site's investigators."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from trialsite.models import Participant

MEDDRA_CODE_FORMAT = RegexValidator(r"\A\d{8}\Z", _("A MedDRA code is 8 digits."), code="invalid_meddra_code")
GRADES_FORMAT = RegexValidator(r"\A1?2?3?4?5?\Z", _("Grades as digits in order, e.g. 12345."), code="invalid_grades")


class Term(models.Model):
    """A CTCAE term (its MedDRA lowest-level term), loaded from a term file (adverse_events/data,
    `load_ctcae_terms`), never typed in the admin."""

    term = models.CharField(_("CTCAE term"), max_length=200, unique=True)
    term_zh = models.CharField(_("Chinese term"), max_length=200, blank=True)
    meddra_code = models.CharField(_("MedDRA code"), max_length=8, blank=True, validators=[MEDDRA_CODE_FORMAT])
    soc = models.CharField(_("MedDRA system organ class"), max_length=200, blank=True)
    # The grades the term defines (CTCAE's "-" cells left out), as digits: "123" for Nausea.
    grades = models.CharField(_("defined grades"), max_length=5, default="12345", validators=[GRADES_FORMAT])
    ctcae_version = models.CharField(_("CTCAE version"), max_length=8, default="5.0")
    source = models.CharField(_("loaded from"), max_length=200, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("CTCAE term")
        verbose_name_plural = _("CTCAE terms")
        ordering = ["term"]
        constraints = [
            models.UniqueConstraint(
                fields=["meddra_code"], condition=~Q(meddra_code=""), name="ae_term_meddra_code_unique"
            ),
            models.CheckConstraint(
                condition=Q(meddra_code="") | Q(meddra_code__regex=r"^\d{8}$"), name="ae_term_code_8_digits"
            ),
            models.CheckConstraint(
                condition=Q(grades__regex=r"^1?2?3?4?5?$") & ~Q(grades=""), name="ae_term_grades_valid"
            ),
        ]

    def __str__(self) -> str:
        name = self.name_in(get_language())
        return f"{name} ({self.meddra_code})" if self.meddra_code else name

    def name_in(self, language: str | None) -> str:
        """The term for a reader of `language`: the Chinese term where there is one (the MedDRA
        code beside it says which CTCAE term it is), else the CTCAE (English) term."""
        if language == "zh-hans" and self.term_zh:
            return self.term_zh
        return self.term

    def defines(self, grade: int) -> bool:
        return str(grade) in self.grades


class AdverseEvent(models.Model):
    """One toxicity of a participant. Recorded and changed only through adverse_events.services
    (every grade change carries a reason, kept in the history)."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="adverse_events", verbose_name=_("participant")
    )
    term = models.ForeignKey(Term, on_delete=models.PROTECT, related_name="+", verbose_name=_("CTCAE term"))
    grade = models.PositiveSmallIntegerField(
        _("grade"), validators=[MinValueValidator(1), MaxValueValidator(5)], help_text=_("CTCAE grade 1–5.")
    )
    onset_date = models.DateField(_("onset date"))
    resolution_date = models.DateField(_("resolution date"), null=True, blank=True)
    # Where in the protocol it was seen: a phase code of the participant's protocol and its cycle.
    phase = models.CharField(_("phase"), max_length=32, blank=True)
    cycle_number = models.PositiveSmallIntegerField(
        _("cycle"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(99)]
    )
    serious = models.BooleanField(_("serious adverse event (SAE)"), default=False)
    notes = models.TextField(_("notes"), blank=True, max_length=2000)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded at"))
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("SAE acknowledged by"),
    )
    acknowledged_at = models.DateTimeField(_("SAE acknowledged at"), null=True, blank=True)

    # The reason of a change can be long (a grade change's clinical reason): a text column.
    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        verbose_name = _("adverse event")
        verbose_name_plural = _("adverse events")
        ordering = ["participant", "-onset_date", "-id"]
        indexes = [models.Index(fields=["participant", "term", "grade"])]
        permissions = [("acknowledge_adverseevent", _("Can acknowledge a serious adverse event"))]
        constraints = [
            models.CheckConstraint(condition=Q(grade__gte=1, grade__lte=5), name="ae_grade_1_to_5"),
            models.CheckConstraint(
                condition=Q(resolution_date__isnull=True) | Q(resolution_date__gte=F("onset_date")),
                name="ae_resolution_not_before_onset",
            ),
            models.CheckConstraint(
                condition=Q(cycle_number__isnull=True) | (Q(cycle_number__gte=1, cycle_number__lte=99) & ~Q(phase="")),
                name="ae_cycle_has_phase",
            ),
            # Only an SAE is acknowledged, by someone at a time (both or neither).
            models.CheckConstraint(
                condition=Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True)
                | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False, serious=True),
                name="ae_acknowledged_sae_only",
            ),
        ]

    def __str__(self) -> str:
        return _("%(participant)s: %(term)s grade %(grade)s from %(onset)s") % {
            "participant": self.participant,
            "term": self.term.name_in(get_language()) if self.term_id else "?",
            "grade": self.grade,
            "onset": self.onset_date,
        }

    @property
    def awaits_acknowledgement(self) -> bool:
        return self.serious and self.acknowledged_at is None


class Relatedness(models.TextChoices):
    """The five-point attribution scale of CTCAE-based reporting (NCI CTEP: unrelated, unlikely,
    possible, probable, definite)."""

    UNRELATED = "unrelated", _("unrelated")
    UNLIKELY = "unlikely", _("unlikely")
    POSSIBLE = "possible", _("possible")
    PROBABLE = "probable", _("probable")
    DEFINITE = "definite", _("definite")


# Attributions that count a toxicity against a drug (CTEP: possible, probable, definite).
RELATED = (Relatedness.POSSIBLE, Relatedness.PROBABLE, Relatedness.DEFINITE)


class Attribution(models.Model):
    """How an adverse event relates to one drug of the participant's regimen (a protocol code)."""

    adverse_event = models.ForeignKey(
        AdverseEvent, on_delete=models.CASCADE, related_name="attributions", verbose_name=_("adverse event")
    )
    drug = models.CharField(_("drug"), max_length=32)
    relatedness = models.CharField(_("attribution"), max_length=16, choices=Relatedness.choices)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("attribution")
        verbose_name_plural = _("attributions")
        ordering = ["adverse_event", "drug"]
        constraints = [
            models.UniqueConstraint(fields=["adverse_event", "drug"], name="ae_attribution_one_per_drug"),
            models.CheckConstraint(
                condition=Q(relatedness__in=[r.value for r in Relatedness]), name="ae_attribution_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.drug}: {self.get_relatedness_display()}"


class AlertStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


class AlertChannel(models.TextChoices):
    EMAIL = "email", _("email")
    SMS = "sms", _("SMS")


class SaeAlert(models.Model):
    """One message telling an investigator of the participant's site about an SAE: written with
    the SAE (same transaction), sent once by a Celery task that claims the row (pending → sending)."""

    adverse_event = models.ForeignKey(
        AdverseEvent, on_delete=models.PROTECT, related_name="alerts", verbose_name=_("adverse event")
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recipient")
    )
    channel = models.CharField(_("channel"), max_length=8, choices=AlertChannel.choices)
    address = models.CharField(_("address"), max_length=254)
    status = models.CharField(_("status"), max_length=16, choices=AlertStatus.choices, default=AlertStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    provider_id = models.CharField(_("provider message id"), max_length=200, blank=True)
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("SAE alert")
        verbose_name_plural = _("SAE alerts")
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["adverse_event", "recipient", "channel"], name="sae_alert_once"),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in AlertStatus]), name="sae_alert_status"),
            models.CheckConstraint(
                condition=~Q(status=AlertStatus.SENT) | Q(sent_at__isnull=False), name="sae_alert_sent_has_time"
            ),
        ]

    def __str__(self) -> str:
        channel, status = self.get_channel_display(), self.get_status_display()
        return f"SAE {self.adverse_event_id} → {self.recipient} ({channel}: {status})"
