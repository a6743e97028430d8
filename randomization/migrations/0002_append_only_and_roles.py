"""The allocation record is append-only (UPDATE and DELETE are refused; TRUNCATE, which only the
database owner can run and which the test runner uses to reset databases, is left alone) in the database itself, an activated scheme's
configuration is frozen, and the roles get this app's permissions."""

from typing import Any

from django.db import migrations

from trialsite.roles import grant_permissions

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION randomization_allocation_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'randomization_allocation is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER randomization_allocation_no_update_delete
    BEFORE UPDATE OR DELETE ON randomization_allocation
    FOR EACH ROW EXECUTE FUNCTION randomization_allocation_append_only();

CREATE OR REPLACE FUNCTION randomization_scheme_frozen() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'an activated randomization scheme cannot be deleted'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' AND (
        NEW.config IS DISTINCT FROM OLD.config
        OR NEW.commitment IS DISTINCT FROM OLD.commitment
        OR NEW.trial_id IS DISTINCT FROM OLD.trial_id
        OR NEW.version IS DISTINCT FROM OLD.version
        OR NEW.status = 'draft'
    ) THEN
        RAISE EXCEPTION 'an activated randomization scheme is frozen; amend it with a new version'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER randomization_scheme_frozen
    BEFORE UPDATE OR DELETE ON randomization_randomizationscheme
    FOR EACH ROW EXECUTE FUNCTION randomization_scheme_frozen();
"""

DROP = """
DROP TRIGGER IF EXISTS randomization_allocation_no_update_delete ON randomization_allocation;
DROP FUNCTION IF EXISTS randomization_allocation_append_only();
DROP TRIGGER IF EXISTS randomization_scheme_frozen ON randomization_randomizationscheme;
DROP FUNCTION IF EXISTS randomization_scheme_frozen();
"""

PERMISSIONS = {
    "research_nurse": [
        "randomization.view_screeningassessment",
        "randomization.add_screeningassessment",
    ],
    "investigator": [
        "randomization.view_screeningassessment",
        "randomization.add_screeningassessment",
    ],
    "statistician": [
        "randomization.view_screeningassessment",
        "randomization.view_randomizationscheme",
        "randomization.add_randomizationscheme",
        "randomization.change_randomizationscheme",
        "randomization.activate_scheme",
        "randomization.view_allocation_secret",
        "randomization.view_allocation",
    ],
}


def grant(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, PERMISSIONS)


def create_triggers(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY, params=None)


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("randomization", "0001_initial"),
        ("trialsite", "0002_roles"),
    ]

    operations = [
        migrations.RunPython(create_triggers, drop_triggers),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
