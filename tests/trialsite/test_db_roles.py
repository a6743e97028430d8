"""Database roles (issue 12 §4): the application connects as a role that can read and write rows
but can neither switch the audit triggers off nor change the schema; migrations run as the owner
(DATABASE_OWNER_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from tests.support.app_role import connect_as

ROOT = Path(__file__).resolve().parents[2]

# What an insider holding the application's credentials would try first.
REFUSED = [
    "SET session_replication_role = replica",
    "ALTER TABLE randomization_allocation DISABLE TRIGGER ALL",
    "ALTER TABLE randomization_allocation DISABLE TRIGGER randomization_allocation_no_update_delete",
    "ALTER TABLE dosing_dosesheet DISABLE TRIGGER dosing_dosesheet_guard",
    "ALTER TABLE trialsite_historicalparticipant DISABLE TRIGGER audit_trail_append_only",
    "DROP TRIGGER randomization_allocation_no_update_delete ON randomization_allocation",
    "DROP TRIGGER dosing_dosesheet_guard ON dosing_dosesheet",
    "DROP TRIGGER audit_trail_append_only ON trialsite_historicalparticipant",
    "CREATE OR REPLACE FUNCTION dosing_dosesheet_guard() RETURNS trigger AS $$ BEGIN RETURN NEW; END; $$ "
    "LANGUAGE plpgsql",
    "TRUNCATE randomization_allocation",
    "ALTER TABLE dosing_dosesheet ADD COLUMN note text",
    "CREATE TABLE trialsite_shadow (id int)",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_the_application_role_cannot_switch_triggers_off_or_change_the_schema(app_role: str, statement: str) -> None:
    with connect_as(app_role, autocommit=True) as conn:
        assert conn.execute("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user").fetchone() == (
            app_role,
            False,
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_the_application_role_reads_and_writes_rows(app_role: str, db: None) -> None:
    with connect_as(app_role) as conn:  # one transaction, rolled back
        conn.execute(
            "INSERT INTO trialsite_site (code, name, name_zh, city, country, time_zone, infusion_chairs_per_day) "
            "VALUES ('ROLE1', 'Role test', '', 'Hangzhou', 'CN', 'Asia/Shanghai', 3)"
        )
        conn.execute("UPDATE trialsite_site SET infusion_chairs_per_day = 4 WHERE code = 'ROLE1'")
        row = conn.execute("SELECT infusion_chairs_per_day FROM trialsite_site WHERE code = 'ROLE1'").fetchone()
        assert row == (4,)
        conn.execute("DELETE FROM trialsite_site WHERE code = 'ROLE1'")
        conn.rollback()


def test_grant_app_role_refuses_a_superuser_or_a_missing_role(db: None) -> None:
    with pytest.raises(CommandError, match="superuser or the owner"):
        call_command("grant_app_role", connection.settings_dict["USER"] or "postgres")
    with pytest.raises(CommandError, match="does not exist: create it first"):
        call_command("grant_app_role", "no_such_role_for_trialsite")


def _shell(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _url(user: str) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{user}:x@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{connection.settings_dict['NAME']}"


def test_migrations_connect_as_the_owner_and_the_rest_as_the_application_role(app_role: str) -> None:
    owner = connection.settings_dict["USER"] or "postgres"
    probe = (
        "from trialsite.db import use_owner_role\n"
        "from django.db import connection\n"
        "def who():\n"
        "    with connection.cursor() as c:\n"
        "        c.execute('SELECT current_user')\n"
        "        return c.fetchone()[0]\n"
        "before = who(); use_owner_role(); print(before, who())"
    )
    result = _shell(probe, DATABASE_URL=_url(app_role), DATABASE_OWNER_URL=_url(owner))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [app_role, owner]
    # the migrate command is the one that switches
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))},
            "DATABASE_URL": _url(app_role),
            "DATABASE_OWNER_URL": _url(owner),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "Connected as the owner role" in migrate.stdout


def test_an_owner_url_of_another_database_is_a_startup_error() -> None:
    result = _shell(
        "from django.conf import settings; print(settings.DEBUG)",
        DATABASE_OWNER_URL="postgres://owner@127.0.0.1:5432/another_database",
    )
    assert result.returncode != 0
    assert "DATABASE_OWNER_URL must name the same PostgreSQL database" in result.stderr
