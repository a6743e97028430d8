"""The two database roles (README "Database roles"). The owner role owns the tables and runs the
migrations (and so creates the triggers); the application role, which web, worker and beat
connect as, may only read and write rows. A role that owns a table can disable or drop its
triggers, and a superuser can switch them all off (`session_replication_role = replica`); the
application role can do neither, so the append-only and immutability triggers hold against it."""

from __future__ import annotations

from typing import Any

import environ
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections


def use_owner_role(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Reconnect `alias` as the owner role of DATABASE_OWNER_URL (same database); False, and
    nothing changed, when it is not set."""
    if not settings.DATABASE_OWNER_URL:
        return False
    owner = environ.Env.db_url_config(settings.DATABASE_OWNER_URL)
    connection = connections[alias]
    connection.close()
    for key in ("USER", "PASSWORD", "HOST", "PORT"):
        connection.settings_dict[key] = owner.get(key) or ""
    return True


# What the application role may do: rows only. ALTER DEFAULT PRIVILEGES gives it the same on
# every table and sequence the owner creates later, so a new migration needs no new grant.
APPLICATION_GRANTS = """
GRANT CONNECT ON DATABASE {database} TO {role};
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {role};
"""


class RoleError(Exception):
    pass


def grant_application_role(role: str, cursor: Any) -> None:
    """Give `role` (which must exist, log in, and be neither a superuser nor the tables' owner)
    the application's privileges on this database, as the cursor's (owner) role. `cursor` is a
    PostgreSQL DB-API cursor (Django's or psycopg's)."""
    from psycopg import sql

    cursor.execute(
        "SELECT rolsuper, rolbypassrls, rolcanlogin, rolname = current_user FROM pg_roles WHERE rolname = %s",
        [role],
    )
    row = cursor.fetchone()
    if row is None:
        raise RoleError(
            f"Role {role!r} does not exist: create it first (as a superuser: "
            f"CREATE ROLE {role} LOGIN PASSWORD '…'; see README, Database roles)."
        )
    superuser, bypass_rls, can_login, is_current = row
    if superuser or bypass_rls or is_current:
        raise RoleError(
            f"Role {role!r} is a superuser or the owner connection's own role: the application role must be "
            "neither, or it could switch the triggers off."
        )
    if not can_login:
        raise RoleError(f"Role {role!r} cannot log in (ALTER ROLE {role} LOGIN).")
    cursor.execute("SELECT current_database(), current_schema()")
    database, schema = cursor.fetchone()
    names = {"database": sql.Identifier(database), "schema": sql.Identifier(schema), "role": sql.Identifier(role)}
    for statement in APPLICATION_GRANTS.strip().splitlines():
        cursor.execute(sql.SQL(statement).format(**names).as_string(cursor.connection))
