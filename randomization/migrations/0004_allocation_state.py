"""The allocation-state row (the trial's randomization lock and running state; scheme_activate
creates it), and a database check that every new allocation continues the chain: number n + 1 after
n, its prev_hash the entry_hash of n (genesis for number 1)."""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


CHAIN = """
CREATE OR REPLACE FUNCTION randomization_allocation_chained() RETURNS trigger AS $$
BEGIN
    IF NEW.sequence = 1 THEN
        IF NEW.prev_hash <> repeat('0', 64) THEN
            RAISE EXCEPTION 'allocation #1 of trial % must start the chain', NEW.trial_id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    ELSIF NOT EXISTS (
        SELECT 1 FROM randomization_allocation
        WHERE trial_id = NEW.trial_id AND sequence = NEW.sequence - 1 AND entry_hash = NEW.prev_hash
    ) THEN
        RAISE EXCEPTION 'allocation #% of trial % does not continue the record (gap or broken chain)',
            NEW.sequence, NEW.trial_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER randomization_allocation_chain
    BEFORE INSERT ON randomization_allocation
    FOR EACH ROW EXECUTE FUNCTION randomization_allocation_chained();
"""

UNCHAIN = """
DROP TRIGGER IF EXISTS randomization_allocation_chain ON randomization_allocation;
DROP FUNCTION IF EXISTS randomization_allocation_chained();
"""


def create_trigger(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CHAIN, params=None)


def drop_trigger(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNCHAIN, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('randomization', '0003_participant_to_randomize'),
        ('trialsite', '0005_deceased'),
    ]

    operations = [
        migrations.CreateModel(
            name='AllocationState',
            fields=[
                ('trial', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='+', serialize=False, to='trialsite.trial')),
                ('sequence', models.PositiveIntegerField(default=0)),
                ('last_hash', models.CharField(max_length=64)),
                ('state', models.JSONField(blank=True, null=True)),
                ('updated_at', models.DateTimeField()),
                ('scheme', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='randomization.randomizationscheme')),
            ],
            options={
                'default_permissions': (),
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('last_hash', '0000000000000000000000000000000000000000000000000000000000000000'), ('sequence', 0)), ('sequence__gte', 1), _connector='OR'), name='allocation_state_genesis')],
            },
        ),
        migrations.RunPython(create_trigger, drop_trigger),
    ]
