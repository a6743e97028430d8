"""The audit trail (django-simple-history's tables) is append-only in the database, as the
allocation record is (randomization migration 0001_initial): a trigger refuses UPDATE and DELETE of a
history row. TRUNCATE, which only a table's owner may run and which the test runner uses to empty
databases, is left alone.

The tables are found from the models, not listed by hand: after every `migrate` (post_migrate),
each installed app's historical models get the trigger if they lack it, so a model that gains
`HistoricalRecords()` later is covered without a new migration."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model
from simple_history.models import HistoricalChanges

TRIGGER = "audit_trail_append_only"

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_trail_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is an audit trail (append-only): % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def history_models(app_configs: list[AppConfig] | None = None) -> list[type[Model]]:
    """Every django-simple-history model of these apps (default: all installed apps)."""
    configs = app_configs if app_configs is not None else list(apps.get_app_configs())
    return [m for config in configs for m in config.get_models() if issubclass(m, HistoricalChanges)]


def protect_history_tables(app_configs: list[AppConfig] | None = None, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Add the trigger to the history tables of these apps that exist and lack it; returns the
    tables it was added to. PostgreSQL only (SQLite, for `make run`, has the service rules alone)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    existing = set(connection.introspection.table_names())
    tables = sorted({m._meta.db_table for m in history_models(app_configs)} & existing)
    if not tables:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s AND c.relname = ANY(%s)",
            [TRIGGER, tables],
        )
        done = {row[0] for row in cursor.fetchall()}
        missing = [t for t in tables if t not in done]
        if missing:
            cursor.execute(FUNCTION)
        for table in missing:
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {quoted} "
                "FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only()"
            )
    return missing


def on_post_migrate(sender: AppConfig, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    protect_history_tables([sender], using=using)
