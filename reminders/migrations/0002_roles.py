"""Grant the reminder models' permissions to the staff roles, as schedules' migrations 0004 and
0010 did before the models moved here: nurses and investigators see the reminders and resend
failed ones (change) and see the rules and the digests; only a trial-wide role (the
investigator) adds and changes the trial's reminder rules; nobody deletes."""

from typing import Any

from django.db import migrations

from trialsite.roles import grant_permissions

SEE = ["reminders.view_reminder", "reminders.change_reminder", "reminders.view_reminderrule", "reminders.view_staffdigest"]
TRIAL_WIDE = ["reminders.add_reminderrule", "reminders.change_reminderrule"]

PERMISSIONS = {"research_nurse": SEE, "investigator": [*SEE, *TRIAL_WIDE]}


def grant(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [("reminders", "0001_initial")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
