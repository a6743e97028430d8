"""IdempotencyRecord moves to trialsite (shared by randomize and the booking endpoints). Its table
is renamed here and keeps every row; trialsite 0009 takes the model over in the migration state
without touching the database (SeparateDatabaseAndState on both sides)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("randomization", "0006_keyed_chain_encrypted_seed"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterModelTable(name="IdempotencyRecord", table="trialsite_idempotencyrecord"),
            ],
            state_operations=[
                migrations.DeleteModel(name="IdempotencyRecord"),
            ],
        ),
    ]
