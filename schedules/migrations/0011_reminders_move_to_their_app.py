"""The reminder rules, reminders and staff digests moved to their own app (reminders/, issue 15):
their tables leave schedules here and reminders/migrations/0001_initial makes them again (a
database made before this change is recreated, so no rows are carried over). Their permissions
leave with them: the schedules content types of the four models are deleted, which takes their
permissions and the roles' grants of them (reminders/migrations/0002_roles grants the new ones)."""

from typing import Any

from django.db import migrations

MOVED = ["reminder", "reminderrule", "historicalreminderrule", "staffdigest"]


def forget_permissions(apps: Any, schema_editor: Any) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="schedules", model__in=MOVED).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("schedules", "0010_service_permissions_and_trial_wide_rules"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(forget_permissions, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='reminder',
            name='event',
        ),
        migrations.RemoveField(
            model_name='reminder',
            name='participant',
        ),
        migrations.RemoveField(
            model_name='reminder',
            name='rule',
        ),
        migrations.RemoveField(
            model_name='reminder',
            name='site',
        ),
        migrations.RemoveField(
            model_name='reminderrule',
            name='trial',
        ),
        migrations.RemoveField(
            model_name='staffdigest',
            name='site',
        ),
        migrations.RemoveField(
            model_name='staffdigest',
            name='user',
        ),
        migrations.DeleteModel(
            name='HistoricalReminderRule',
        ),
        migrations.DeleteModel(
            name='Reminder',
        ),
        migrations.DeleteModel(
            name='ReminderRule',
        ),
        migrations.DeleteModel(
            name='StaffDigest',
        ),
    ]
