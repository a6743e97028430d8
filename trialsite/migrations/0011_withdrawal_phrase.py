"""A participant's withdrawal reason as a stored phrase (trialsite.phrases, issue 15): the system's
own reason ("died") as a message id, said in the reader's language when shown; a typed reason as
typed. The history rows are converted as the records are."""

from typing import Any

from django.db import migrations, models

SYSTEM_REASONS = {"died"}  # what participant_record_death stored in English


def to_phrase(text: str) -> dict[str, str] | None:
    if not text:
        return None
    return {"msgid": text} if text in SYSTEM_REASONS else {"text": text}


def forward(apps: Any, schema_editor: Any) -> None:
    for name in ("Participant", "HistoricalParticipant"):
        model = apps.get_model("trialsite", name)
        for row in model.objects.exclude(withdrawal_reason="").only("pk", "withdrawal_reason").iterator():
            model.objects.filter(pk=row.pk).update(withdrawal=to_phrase(row.withdrawal_reason))


def backward(apps: Any, schema_editor: Any) -> None:
    for name in ("Participant", "HistoricalParticipant"):
        model = apps.get_model("trialsite", name)
        for row in model.objects.exclude(withdrawal=None).only("pk", "withdrawal").iterator():
            stored = row.withdrawal or {}
            model.objects.filter(pk=row.pk).update(withdrawal_reason=stored.get("text") or stored.get("msgid", ""))


class Migration(migrations.Migration):
    dependencies = [("trialsite", "0010_site_opening_hours")]

    operations = [
        migrations.AddField(
            model_name="participant",
            name="withdrawal",
            field=models.JSONField(blank=True, null=True, verbose_name="withdrawal reason"),
        ),
        migrations.AddField(
            model_name="historicalparticipant",
            name="withdrawal",
            field=models.JSONField(blank=True, null=True, verbose_name="withdrawal reason"),
        ),
        migrations.RunPython(forward, backward),
        migrations.RemoveField(model_name="participant", name="withdrawal_reason"),
        migrations.RemoveField(model_name="historicalparticipant", name="withdrawal_reason"),
    ]
