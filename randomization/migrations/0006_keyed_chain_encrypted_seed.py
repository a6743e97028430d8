"""The keyed chain (each allocation records the id of the HMAC key its entry hash was made with)
and the encrypted seed (SchemeSecret.seed_hex replaced by an AES-GCM ciphertext and its key id).

Records made before this migration were hashed without a key and their seeds stored in clear;
they are not converted (there is no production data before go-live): a database that already
holds a scheme secret or an allocation is refused here, with the instruction to recreate it."""

from typing import Any

from django.db import migrations, models


def refuse_old_records(apps: Any, schema_editor: Any) -> None:
    secrets = apps.get_model("randomization", "SchemeSecret").objects.using(schema_editor.connection.alias)
    allocations = apps.get_model("randomization", "Allocation").objects.using(schema_editor.connection.alias)
    if secrets.exists() or allocations.exists():
        raise RuntimeError(
            "This database holds randomization schemes or allocations made before the keyed hash chain and "
            "the encrypted seed; they are not converted. Recreate the database (make run: delete var/; "
            "PostgreSQL: drop and create it) and migrate again (README: Keys, backup and restore)."
        )


class Migration(migrations.Migration):

    dependencies = [
        ("randomization", "0005_verbose_names_of_relations"),
    ]

    operations = [
        migrations.RunPython(refuse_old_records, migrations.RunPython.noop),
        migrations.RemoveField(model_name="schemesecret", name="seed_hex"),
        migrations.AddField(
            model_name="schemesecret",
            name="key_id",
            field=models.CharField(default="", max_length=32),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="schemesecret",
            name="seed_encrypted",
            field=models.TextField(default=""),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="allocation",
            name="chain_key_id",
            field=models.CharField(default="", max_length=32, verbose_name="chain key"),
            preserve_default=False,
        ),
    ]
