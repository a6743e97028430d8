"""The dose-sheet trigger freezes EVERY column of a released, superseded or void sheet, not a list
of them (0002 missed site_id, cycle_seq, oxaliplatin_mg_m2, releasable, ended_at, end_reason,
prepared_by_id and prepared_at). The row is compared as a whole (to_jsonb of the old and new
row), so a column added later is frozen too without touching this trigger. The only change a
frozen sheet accepts is the one the services make (dosing.services._end): a released sheet
becomes superseded, setting ended_at and end_reason. Nothing is ever deleted."""

import importlib
from typing import Any

from django.db import migrations

TRIGGER = """
CREATE OR REPLACE FUNCTION dosing_dosesheet_guard() RETURNS trigger AS $$
DECLARE
    -- the columns a released sheet's supersession writes (dosing.services._end)
    ending CONSTANT text[] := ARRAY['status', 'ended_at', 'end_reason'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'dose sheets are never deleted (sheet %)', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status IN ('superseded', 'void') AND to_jsonb(NEW) IS DISTINCT FROM to_jsonb(OLD) THEN
        RAISE EXCEPTION 'dose sheet % is %: final, it cannot be edited', OLD.id, OLD.status
            USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'released' THEN
        IF (to_jsonb(NEW) - ending) IS DISTINCT FROM (to_jsonb(OLD) - ending) THEN
            RAISE EXCEPTION 'dose sheet % is released: it cannot be edited', OLD.id USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.status NOT IN ('released', 'superseded') THEN
            RAISE EXCEPTION 'a released dose sheet can only be superseded' USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.status = 'released' AND (
            NEW.ended_at IS DISTINCT FROM OLD.ended_at OR NEW.end_reason IS DISTINCT FROM OLD.end_reason
        ) THEN
            RAISE EXCEPTION 'dose sheet % is released: only its supersession sets ended_at and end_reason', OLD.id
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def freeze_every_column(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(TRIGGER)  # no parameters: the % of RAISE stays literal


def back_to_listed_columns(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        previous = importlib.import_module("dosing.migrations.0002_roles_and_immutability")
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(previous.TRIGGER)


class Migration(migrations.Migration):
    dependencies = [
        ("dosing", "0003_verbose_names_of_relations"),
    ]

    operations = [
        migrations.RunPython(freeze_every_column, back_to_listed_columns),
    ]
