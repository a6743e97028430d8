"""The application's database role in the test database, as production has it (README "Database
roles"): a login role with row privileges only, granted by `manage.py grant_app_role`. Roles
belong to the PostgreSQL cluster, so the name carries the test database's, and parallel runs of
other checkouts do not share one."""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import connection
from psycopg import sql

from trialsite.db import grant_application_role

PASSWORD = "app-role-for-tests"


def role_name() -> str:
    return f"{connection.settings_dict['NAME']}_app"[:63]


def _superuser_connection() -> psycopg.Connection[Any]:
    """A connection of its own, in autocommit: a role made inside a test's transaction would be
    rolled back with it."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"] or "postgres",
        password=db["PASSWORD"] or None,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        autocommit=True,
    )


def create_app_role() -> str:
    """Create the role if missing and grant it as `manage.py grant_app_role` does (idempotent)."""
    role = role_name()
    with _superuser_connection() as conn, conn.cursor() as cursor:
        if cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is None:
            cursor.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(PASSWORD)
                )
            )
        grant_application_role(role, cursor)
    return role


def drop_app_role(role: str) -> None:
    """Best effort: the role's privileges in this database go, then the role (it stays if it
    still holds privileges in another database, e.g. of a run that was killed)."""
    with _superuser_connection() as conn:
        try:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        except psycopg.Error:
            pass


def connect_as(role: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A new connection to the test database, logged in as `role`."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=role,
        password=PASSWORD,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        **kwargs,
    )
