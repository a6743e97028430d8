"""IdempotencyRecord moved from randomization to trialsite without losing a row (issue 12 §8):
randomization 0007 renames the table, trialsite 0009 takes the model over in the state only."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [
    ("randomization", "0006_keyed_chain_encrypted_seed"),
    ("trialsite", "0008_participant_identity_permission"),
]
AFTER = [
    ("randomization", "0007_idempotency_record_to_trialsite"),
    ("trialsite", "0009_idempotency_record"),
]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_stored_answers_survive_the_move_and_its_reversal() -> None:
    try:
        # given: an answer stored while the model was randomization's
        old = _migrate(BEFORE)
        user = old.get_model("auth", "User").objects.create(username="his-before-the-move")
        old.get_model("randomization", "IdempotencyRecord").objects.create(
            user_id=user.pk,
            key="k-1",
            endpoint="/api/v1/participants/1/randomize/",
            request_hash="a" * 64,
            status_code=201,
            body={"randomization_number": 7},
        )
        # when: migrated forward
        new = _migrate(AFTER)
        # then: the same row, now trialsite's, still unique per user and key
        row = new.get_model("trialsite", "IdempotencyRecord").objects.get(key="k-1")
        assert (row.user_id, row.status_code, row.body) == (user.pk, 201, {"randomization_number": 7})
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
        assert "trialsite_idempotencyrecord" in tables and "randomization_idempotencyrecord" not in tables
        constraints = connection.introspection.get_constraints(connection.cursor(), "trialsite_idempotencyrecord")
        assert constraints["idempotency_key_unique"]["unique"]
        # and back again, still there
        back = _migrate(BEFORE)
        assert back.get_model("randomization", "IdempotencyRecord").objects.get(key="k-1").body == {
            "randomization_number": 7
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
