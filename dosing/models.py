"""Dose sheets (one per participant, cycle and version), dose modifications and renal decisions.

A sheet's computed document (`content`) is written once when the sheet is prepared; a change of
inputs makes a new version. The database enforces the two-person rule and, on PostgreSQL, that a
released sheet is never edited (trigger in migration 0001_initial)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from trialsite.i18n import drug_name, phase_name
from trialsite.models import Participant, Site


class SheetStatus(models.TextChoices):
    PREPARED = "prepared", _("prepared")
    VERIFIED = "verified", _("verified")
    RELEASED = "released", _("released")
    SUPERSEDED = "superseded", _("superseded")
    VOID = "void", _("void")


CURRENT_STATUSES = (SheetStatus.PREPARED, SheetStatus.VERIFIED, SheetStatus.RELEASED)


def content_fingerprint(content: Mapping[str, Any]) -> str:
    """SHA-256 of a sheet's content in canonical JSON (sorted keys): equal content, equal
    fingerprint, whatever order the database returns the keys in."""
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


UNRELEASED_STATUSES = (SheetStatus.PREPARED, SheetStatus.VERIFIED)


class DoseSheet(models.Model):
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, verbose_name=_("participant"), related_name="dose_sheets"
    )
    # Copied from the participant (participants never change site) so that the pharmacist's queue
    # filters and indexes on it without a join.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, verbose_name=_("site"), related_name="dose_sheets")
    phase = models.CharField(_("phase"), max_length=32)
    cycle_number = models.PositiveSmallIntegerField(_("cycle"), validators=[MinValueValidator(1)])
    # Cycles numbered consecutively across the systemic phases (neoadjuvant 1–4 → 1–4, adjuvant
    # 1–4 → 5–8): modifications carry forward along this order.
    cycle_seq = models.PositiveSmallIntegerField(_("cycle sequence"))
    day1 = models.DateField(_("day 1"))
    version = models.PositiveIntegerField(_("version"), default=1)
    status = models.CharField(_("status"), max_length=12, choices=SheetStatus.choices, default=SheetStatus.PREPARED)
    content = models.JSONField(_("content"), encoder=DjangoJSONEncoder)
    fingerprint = models.CharField(_("inputs fingerprint"), max_length=64)
    releasable = models.BooleanField(_("can be released"), default=True)
    weight_kg = models.DecimalField(_("weight used (kg)"), max_digits=6, decimal_places=2)
    # This cycle's dose of the protocol's cumulative drug (dosing.document.cumulative_drug),
    # summed over released sheets for the next cycle's total; empty when there is none.
    cumulative_drug_mg = models.DecimalField(
        _("cumulative drug, this cycle (mg)"), max_digits=8, decimal_places=1, null=True, blank=True
    )
    cumulative_drug_mg_m2 = models.DecimalField(
        _("cumulative drug, this cycle (mg/m²)"), max_digits=8, decimal_places=1, null=True, blank=True
    )
    prepared_at = models.DateTimeField(_("prepared at"))
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("prepared by"),
        null=True,
        blank=True,
        related_name="+",
    )
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("verified by"),
        null=True,
        blank=True,
        related_name="+",
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        verbose_name=_("released by"),
        null=True,
        blank=True,
        related_name="+",
    )
    ended_at = models.DateTimeField(_("voided or superseded at"), null=True, blank=True)
    # A stored phrase (trialsite.phrases; text a person typed as {"text": …}), shown in the
    # reader's language by dosing.wording.end_reason; None while the sheet is current.
    end_reason = models.JSONField(_("why voided or superseded"), null=True, blank=True, encoder=DjangoJSONEncoder)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("dose sheet")
        verbose_name_plural = _("dose sheets")
        ordering = ["day1", "participant_id", "cycle_seq", "-version"]
        indexes = [models.Index(fields=["site", "status", "day1"]), models.Index(fields=["participant", "cycle_seq"])]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "phase", "cycle_number", "version"], name="dose_sheet_version_unique"
            ),
            # One current sheet per participant and cycle; voided and superseded versions stay.
            models.UniqueConstraint(
                fields=["participant", "phase", "cycle_number"],
                condition=Q(status__in=["prepared", "verified", "released"]),
                name="dose_sheet_one_current",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in SheetStatus]), name="dose_sheet_status_valid"
            ),
            # The two-person rule: the pharmacist who releases is not the one who verified.
            models.CheckConstraint(
                condition=Q(verified_by__isnull=True) | Q(released_by__isnull=True) | ~Q(verified_by=F("released_by")),
                name="dose_sheet_two_person_rule",
            ),
            # Status and signatures agree: released means verified and released by someone.
            models.CheckConstraint(
                condition=(Q(status="prepared", verified_by__isnull=True, released_by__isnull=True))
                | Q(status="verified", verified_by__isnull=False, released_by__isnull=True)
                | Q(status__in=["released", "superseded"], verified_by__isnull=False, released_by__isnull=False)
                | Q(status="void", released_by__isnull=True),
                name="dose_sheet_signatures_match_status",
            ),
        ]
        permissions = [
            ("verify_dosesheet", _("Can verify a dose sheet")),
            ("release_dosesheet", _("Can double-check and release a dose sheet")),
            ("prepare_dosesheet", _("Can prepare a dose sheet on demand")),
        ]

    def __str__(self) -> str:
        return (
            f"{self.participant} {phase_name(self.phase)} C{self.cycle_number} v{self.version} "
            f"({self.get_status_display()})"
        )


class ModificationAction(models.TextChoices):
    MAINTAIN = "maintain", _("maintain the dose")
    INTERRUPT = "interrupt", _("interrupt / withhold")
    REDUCE = "reduce", _("reduce")
    DISCONTINUE = "discontinue", _("discontinue")


class DoseModification(models.Model):
    """An investigator's dose decision for one drug after a toxicity seen in a cycle. It changes
    the following cycles' doses (carried forward, never re-escalated)."""

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, verbose_name=_("participant"), related_name="dose_modifications"
    )
    drug = models.CharField(_("drug"), max_length=32)
    phase = models.CharField(_("phase"), max_length=32)
    cycle_number = models.PositiveSmallIntegerField(_("cycle in which the toxicity was seen"))
    cycle_seq = models.PositiveSmallIntegerField(_("cycle sequence"))
    toxicity_term = models.CharField(_("toxicity (CTCAE term)"), max_length=120)
    ctcae_grade = models.PositiveSmallIntegerField(
        _("CTCAE grade"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    appearance = models.PositiveSmallIntegerField(_("appearance"), default=1)
    # The toxicity of the log the decision answers (term, grade and appearance then come from it).
    adverse_event = models.ForeignKey(
        "adverse_events.AdverseEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        verbose_name=_("toxicity of the log"),
        related_name="dose_modifications",
    )
    action = models.CharField(_("action"), max_length=12, choices=ModificationAction.choices)
    new_level = models.PositiveSmallIntegerField(_("dose level from the next cycle"))
    level_label = models.CharField(_("dose from the next cycle"), max_length=40)
    # Which rule decided, a stored phrase (calculations.modifications), shown by dosing.wording.rule.
    rule = models.JSONField(_("rule applied"))
    reason = models.TextField(_("reason"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("decided by"), related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("dose modification")
        verbose_name_plural = _("dose modifications")
        ordering = ["participant", "cycle_seq", "decided_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ctcae_grade__gte=1, ctcae_grade__lte=5), name="dose_modification_grade_valid"
            ),
            models.CheckConstraint(
                condition=Q(action__in=[a.value for a in ModificationAction]), name="dose_modification_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.participant} {drug_name(self.drug)} C{self.cycle_seq}: {self.get_action_display()} "
            f"(G{self.ctcae_grade})"
        )


class RenalDecision(models.Model):
    """An investigator's decision for one drug of a cycle whose creatinine clearance falls in a
    band of the protocol's renal rules that needs one (`dosing.renal_rules`: contraindicated →
    withhold only; investigator decides → confirm, reduce to a level, or withhold). It applies to
    the band it was made for; without it the sheet cannot be released. The sheet reads it, so
    the released sheet and the decision always agree."""

    class Decision(models.TextChoices):
        CONFIRM = "confirm", _("confirm the full dose")
        REDUCE = "reduce", _("reduce to a dose level")
        WITHHOLD = "withhold", _("withhold this cycle")

    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, verbose_name=_("participant"), related_name="renal_decisions"
    )
    phase = models.CharField(_("phase"), max_length=32)
    cycle_number = models.PositiveSmallIntegerField(_("cycle"))
    drug = models.CharField(_("drug"), max_length=32)
    band = models.CharField(_("CrCl band (mL/min)"), max_length=32)
    crcl_ml_min = models.DecimalField(_("CrCl (mL/min)"), max_digits=6, decimal_places=1, null=True, blank=True)
    decision = models.CharField(_("decision"), max_length=12, choices=Decision.choices)
    level = models.PositiveSmallIntegerField(_("dose level"), null=True, blank=True)
    level_label = models.CharField(_("dose"), max_length=40, blank=True)
    reason = models.TextField(_("reason"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, verbose_name=_("decided by"), related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("renal decision")
        verbose_name_plural = _("renal decisions")
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "phase", "cycle_number", "drug", "band"], name="renal_decision_unique"
            ),
            models.CheckConstraint(
                condition=Q(decision__in=["confirm", "reduce", "withhold"]), name="renal_decision_valid"
            ),
            # A level is given with a reduction and only then.
            models.CheckConstraint(
                condition=Q(decision="reduce", level__isnull=False) | (~Q(decision="reduce") & Q(level__isnull=True)),
                name="renal_decision_level_with_reduce",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.participant} {phase_name(self.phase)} C{self.cycle_number} {drug_name(self.drug)}: "
            f"{self.get_decision_display()}"
        )
