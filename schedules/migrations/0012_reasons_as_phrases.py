"""A plan's stop reason and a booking's cancel reason become stored phrases (trialsite/phrases.py:
a typed reason, or the system's message id with its parameters), shown in the reader's language
instead of being matched back against the catalogue. The columns are made again rather than
converted: a database made before this change is recreated (issue 15)."""

from django.db import migrations, models


def _phrase(verbose_name: str) -> models.JSONField:
    return models.JSONField(blank=True, null=True, verbose_name=verbose_name)


class Migration(migrations.Migration):
    dependencies = [("schedules", "0011_reminders_move_to_their_app")]

    operations = [
        migrations.RemoveField(model_name="treatmentplan", name="stop_reason"),
        migrations.RemoveField(model_name="historicaltreatmentplan", name="stop_reason"),
        migrations.RemoveField(model_name="booking", name="cancel_reason"),
        migrations.RemoveField(model_name="historicalbooking", name="cancel_reason"),
        migrations.AddField(model_name="treatmentplan", name="stop_reason", field=_phrase("stop reason")),
        migrations.AddField(model_name="historicaltreatmentplan", name="stop_reason", field=_phrase("stop reason")),
        migrations.AddField(model_name="booking", name="cancel_reason", field=_phrase("cancel reason")),
        migrations.AddField(model_name="historicalbooking", name="cancel_reason", field=_phrase("cancel reason")),
    ]
