"""Permissions as the services now check them (trialsite.roles.require, issue 12 §1, §7):

- API clients (the hospital system) book, move and cancel visits: add/change_booking, as the
  BOOKERS role rule said before.
- Reminder rules are trial-wide settings: changed only by a trial-wide role (the investigator) or
  a superuser, no longer by any site's research nurse (who keeps seeing them).
"""

from typing import Any

from django.db import migrations

from trialsite.roles import grant_permissions, revoke_permissions

GRANT = {"api_client": ["schedules.add_booking", "schedules.change_booking"]}
TRIAL_WIDE = {"research_nurse": ["schedules.add_reminderrule", "schedules.change_reminderrule"]}


def forward(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, GRANT)
    revoke_permissions(apps, TRIAL_WIDE)


def backward(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, TRIAL_WIDE)
    revoke_permissions(apps, GRANT)


class Migration(migrations.Migration):
    dependencies = [("schedules", "0009_national_calendar_and_original_dates")]

    operations = [migrations.RunPython(forward, backward)]
