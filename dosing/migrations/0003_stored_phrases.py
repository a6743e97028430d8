"""A dose sheet's end reason and a dose modification's rule become stored phrases (issue 15: a
message id and its parameters, said in the reader's language when read). Text stored before is
kept as it was written, as typed text ({"text": …}): never parsed back into a template. An
empty end reason (a current sheet) becomes NULL.

On PostgreSQL each column changes type in place (ALTER … TYPE jsonb USING …), which fires no
UPDATE trigger, so the frozen-sheet trigger of 0001_initial neither refuses nor sees it; on
SQLite (`make run`) the table is remade through a text column."""

from typing import Any

import django.core.serializers.json
from django.db import migrations, models

# (model, column, nullable)
COLUMNS = [
    ("dosesheet", "end_reason", True),
    ("historicaldosesheet", "end_reason", True),
    ("dosemodification", "rule", False),
    ("historicaldosemodification", "rule", False),
]


def _json_field(nullable: bool) -> Any:
    if nullable:
        return models.JSONField(
            blank=True,
            encoder=django.core.serializers.json.DjangoJSONEncoder,
            null=True,
            verbose_name="why voided or superseded",
        )
    return models.JSONField(verbose_name="rule applied")


def to_phrases(apps: Any, schema_editor: Any) -> None:
    quote = schema_editor.quote_name
    for model_name, name, nullable in COLUMNS:
        model = apps.get_model("dosing", model_name)
        table, column = quote(model._meta.db_table), quote(name)
        if schema_editor.connection.vendor == "postgresql":
            if nullable:
                schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL")
            schema_editor.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} TYPE jsonb USING "
                f"CASE WHEN {column} = '' THEN NULL ELSE jsonb_build_object('text', {column}) END"
            )
            continue
        old = model._meta.get_field(name)
        text = models.TextField(null=True)
        text.set_attributes_from_name(name)
        text.model = model
        schema_editor.alter_field(model, old, text)
        schema_editor.execute(
            f"UPDATE {table} SET {column} = CASE WHEN {column} = '' THEN NULL ELSE json_object('text', {column}) END"
        )
        new = _json_field(nullable)
        new.set_attributes_from_name(name)
        new.model = model
        schema_editor.alter_field(model, text, new)


class Migration(migrations.Migration):
    dependencies = [
        ("dosing", "0002_role_permissions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(to_phrases)],
            state_operations=[
                migrations.AlterField(model_name=model_name, name=name, field=_json_field(nullable))
                for model_name, name, nullable in COLUMNS
            ],
        ),
    ]
