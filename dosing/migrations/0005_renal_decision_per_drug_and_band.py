"""Renal decisions per drug and CrCl band, with confirm / reduce / withhold (issue 13). Rows made
before this migration could only withhold capecitabine below 30 mL/min (the old model's one
decision): they get that drug and band."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dosing', '0004_sheet_frozen_every_column'),
        ('trialsite', '0007_participant_format_rules'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='renaldecision',
            name='renal_decision_unique',
        ),
        migrations.AddField(
            model_name='historicalrenaldecision',
            name='band',
            field=models.CharField(default='< 30', max_length=32, verbose_name='CrCl band (mL/min)'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='historicalrenaldecision',
            name='crcl_ml_min',
            field=models.DecimalField(blank=True, decimal_places=1, max_digits=6, null=True, verbose_name='CrCl (mL/min)'),
        ),
        migrations.AddField(
            model_name='historicalrenaldecision',
            name='drug',
            field=models.CharField(default='capecitabine', max_length=32, verbose_name='drug'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='historicalrenaldecision',
            name='level',
            field=models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='dose level'),
        ),
        migrations.AddField(
            model_name='historicalrenaldecision',
            name='level_label',
            field=models.CharField(blank=True, max_length=40, verbose_name='dose'),
        ),
        migrations.AddField(
            model_name='renaldecision',
            name='band',
            field=models.CharField(default='< 30', max_length=32, verbose_name='CrCl band (mL/min)'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='renaldecision',
            name='crcl_ml_min',
            field=models.DecimalField(blank=True, decimal_places=1, max_digits=6, null=True, verbose_name='CrCl (mL/min)'),
        ),
        migrations.AddField(
            model_name='renaldecision',
            name='drug',
            field=models.CharField(default='capecitabine', max_length=32, verbose_name='drug'),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='renaldecision',
            name='level',
            field=models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='dose level'),
        ),
        migrations.AddField(
            model_name='renaldecision',
            name='level_label',
            field=models.CharField(blank=True, max_length=40, verbose_name='dose'),
        ),
        migrations.AlterField(
            model_name='historicalrenaldecision',
            name='decision',
            field=models.CharField(choices=[('confirm', 'confirm the full dose'), ('reduce', 'reduce to a dose level'), ('withhold', 'withhold this cycle')], max_length=12, verbose_name='decision'),
        ),
        migrations.AlterField(
            model_name='renaldecision',
            name='decision',
            field=models.CharField(choices=[('confirm', 'confirm the full dose'), ('reduce', 'reduce to a dose level'), ('withhold', 'withhold this cycle')], max_length=12, verbose_name='decision'),
        ),
        migrations.AddConstraint(
            model_name='renaldecision',
            constraint=models.UniqueConstraint(fields=('participant', 'phase', 'cycle_number', 'drug', 'band'), name='renal_decision_unique'),
        ),
        migrations.AddConstraint(
            model_name='renaldecision',
            constraint=models.CheckConstraint(condition=models.Q(('decision__in', ['confirm', 'reduce', 'withhold'])), name='renal_decision_valid'),
        ),
        migrations.AddConstraint(
            model_name='renaldecision',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('decision', 'reduce'), ('level__isnull', False)), models.Q(models.Q(('decision', 'reduce'), _negated=True), ('level__isnull', True)), _connector='OR'), name='renal_decision_level_with_reduce'),
        ),
    ]
