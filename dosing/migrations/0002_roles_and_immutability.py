"""Role permissions for the dosing models, and (PostgreSQL) a trigger that keeps released,
superseded and void sheets unchanged: the only change a released sheet accepts is becoming
superseded; nothing is ever deleted."""

from typing import Any

from django.db import migrations

from trialsite.roles import grant_permissions

PERMISSIONS = {
    "pharmacist": [
        "dosing.view_dosesheet",
        "dosing.verify_dosesheet",
        "dosing.release_dosesheet",
        "dosing.prepare_dosesheet",
        "dosing.view_dosemodification",
        "dosing.view_renaldecision",
    ],
    "investigator": [
        "dosing.view_dosesheet",
        "dosing.prepare_dosesheet",
        "dosing.view_dosemodification",
        "dosing.add_dosemodification",
        "dosing.view_renaldecision",
        "dosing.add_renaldecision",
    ],
    "research_nurse": ["dosing.view_dosesheet", "dosing.view_dosemodification", "dosing.view_renaldecision"],
}

TRIGGER = """
CREATE OR REPLACE FUNCTION dosing_dosesheet_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'dose sheets are never deleted (sheet %)', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status IN ('released', 'superseded', 'void') AND (
        NEW.content IS DISTINCT FROM OLD.content
        OR NEW.fingerprint IS DISTINCT FROM OLD.fingerprint
        OR NEW.day1 IS DISTINCT FROM OLD.day1
        OR NEW.version IS DISTINCT FROM OLD.version
        OR NEW.participant_id IS DISTINCT FROM OLD.participant_id
        OR NEW.phase IS DISTINCT FROM OLD.phase
        OR NEW.cycle_number IS DISTINCT FROM OLD.cycle_number
        OR NEW.verified_by_id IS DISTINCT FROM OLD.verified_by_id
        OR NEW.released_by_id IS DISTINCT FROM OLD.released_by_id
        OR NEW.verified_at IS DISTINCT FROM OLD.verified_at
        OR NEW.released_at IS DISTINCT FROM OLD.released_at
        OR NEW.oxaliplatin_mg IS DISTINCT FROM OLD.oxaliplatin_mg
        OR NEW.weight_kg IS DISTINCT FROM OLD.weight_kg
    ) THEN
        RAISE EXCEPTION 'dose sheet % is %: it cannot be edited', OLD.id, OLD.status USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status IN ('superseded', 'void') AND NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'dose sheet % is %: final', OLD.id, OLD.status USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'released' AND NEW.status NOT IN ('released', 'superseded') THEN
        RAISE EXCEPTION 'a released dose sheet can only be superseded' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS dosing_dosesheet_guard ON dosing_dosesheet;
CREATE TRIGGER dosing_dosesheet_guard BEFORE UPDATE OR DELETE ON dosing_dosesheet
    FOR EACH ROW EXECUTE FUNCTION dosing_dosesheet_guard();
"""

DROP = """
DROP TRIGGER IF EXISTS dosing_dosesheet_guard ON dosing_dosesheet;
DROP FUNCTION IF EXISTS dosing_dosesheet_guard();
"""


def grant(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, PERMISSIONS)


def add_trigger(apps: Any, schema_editor: Any) -> None:
    # `make run` uses SQLite, where the service rules alone apply; production and tests are PostgreSQL.
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(TRIGGER)  # no parameters: the % of RAISE stays literal


def drop_trigger(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("dosing", "0001_initial"),
        ("trialsite", "0002_roles"),
    ]

    operations = [
        migrations.RunPython(grant, migrations.RunPython.noop),
        migrations.RunPython(add_trigger, drop_trigger),
    ]
