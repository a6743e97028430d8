"""The audit trail (django-simple-history's tables) is append-only in the database (issue 12 §4):
every historical model's table, found from the models, has the trigger; UPDATE and DELETE of a
history row are refused, for the application role too; inserting (what the history does) works."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from trialsite import audit
from trialsite.models import Participant

pytestmark = pytest.mark.django_db


def test_every_history_table_has_the_append_only_trigger() -> None:
    tables = {m._meta.db_table for m in audit.history_models()}
    # the project's models with HistoricalRecords(), at least these
    expected = {"trialsite_historicalparticipant", "dosing_historicaldosesheet", "schedules_historicalbooking"}
    assert expected <= tables
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname = %s",
            [audit.TRIGGER],
        )
        protected = {row[0] for row in cursor.fetchall()}
    assert tables <= protected, sorted(tables - protected)
    # and installing again adds nothing (post_migrate runs it after every migrate)
    assert audit.protect_history_tables() == []


@pytest.mark.parametrize("statement", ["UPDATE {table} SET full_name = 'rewritten'", "DELETE FROM {table}"])
@pytest.mark.parametrize("role", ["owner", "application"])
def test_history_rows_cannot_be_rewritten_or_deleted(
    participant: Participant, request: pytest.FixtureRequest, statement: str, role: str
) -> None:
    if role == "application":
        request.getfixturevalue("as_app_role")
    participant.full_name = "A new name"
    participant.save()  # a second history row, written as the history always is: an INSERT
    assert participant.history.count() == 2
    table = Participant.history.model._meta.db_table
    with pytest.raises(DatabaseError, match="audit trail"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(table=table))
    assert list(participant.history.order_by("history_id").values_list("full_name", flat=True))[-1] == "A new name"
