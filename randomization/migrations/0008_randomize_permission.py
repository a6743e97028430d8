"""Randomizing is a permission (randomization.randomize_participant), held by the roles that
randomized before (research nurses and investigators), so that participant_randomize checks it
with trialsite.roles.require like every write service (issue 12 §1)."""

from typing import Any

from django.db import migrations

from trialsite.roles import grant_permissions

PERMISSIONS = {
    "research_nurse": ["randomization.randomize_participant"],
    "investigator": ["randomization.randomize_participant"],
}


def grant(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("randomization", "0007_idempotency_record_to_trialsite")]

    operations = [
        migrations.AlterModelOptions(
            name="participanttorandomize",
            options={
                "default_permissions": (),
                "permissions": [("randomize_participant", "Can randomize a participant")],
                "verbose_name": "participant to randomize",
                "verbose_name_plural": "randomize participants",
            },
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
