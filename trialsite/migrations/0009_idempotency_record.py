"""IdempotencyRecord, moved here from randomization (whose 0007 renamed the table, rows and all):
the model enters trialsite's state with no database change, then its body may be empty (a 204)."""

import django.core.serializers.json
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("trialsite", "0008_participant_identity_permission"),
        ("randomization", "0007_idempotency_record_to_trialsite"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="IdempotencyRecord",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("key", models.CharField(max_length=200)),
                        ("endpoint", models.CharField(max_length=200)),
                        ("request_hash", models.CharField(max_length=64)),
                        ("status_code", models.PositiveSmallIntegerField()),
                        ("body", models.JSONField()),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "default_permissions": (),
                        "constraints": [models.UniqueConstraint(fields=("user", "key"), name="idempotency_key_unique")],
                    },
                ),
            ],
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="body",
            field=models.JSONField(encoder=django.core.serializers.json.DjangoJSONEncoder, null=True),
        ),
    ]
