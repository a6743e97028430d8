"""Grant the reminder models' permissions to the staff roles: nurses and investigators see the
reminders and resend failed ones (change), and edit the trial's reminder rules; nobody deletes."""

from typing import Any

from django.db import migrations

from trialsite.roles import grant_permissions

EDIT = [
    "schedules.view_reminder",
    "schedules.change_reminder",
    "schedules.view_reminderrule",
    "schedules.add_reminderrule",
    "schedules.change_reminderrule",
    "schedules.view_staffdigest",
]

PERMISSIONS = {"research_nurse": EDIT, "investigator": EDIT}


def grant(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("schedules", "0003_reminders")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
