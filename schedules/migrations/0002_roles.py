"""Grant the schedules models' permissions to the staff roles (trialsite.roles.grant_permissions)."""

from typing import Any

from django.db import migrations

from trialsite.roles import grant_permissions

MODELS = ["treatmentplan", "scheduledevent", "booking", "siteclosure"]
VIEW = [f"schedules.view_{m}" for m in MODELS]
EDIT = VIEW + [f"schedules.{op}_{m}" for m in MODELS for op in ("add", "change")]

PERMISSIONS = {
    "research_nurse": EDIT,
    "investigator": EDIT,
    "pharmacist": VIEW,
    "statistician": VIEW,
}


def grant(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("schedules", "0001_initial"),
        ("trialsite", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
