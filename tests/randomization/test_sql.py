"""randomization/sql.py: the hot path's plain SQL reads what the ORM would, locks only what it
says, and keeps randomize to a fixed, small number of statements."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from randomization import services as rs
from randomization import sql
from randomization.models import RandomizationScheme, ScreeningAssessment
from tests.randomization.conftest import NOW, ParticipantMaker, good_findings
from trialsite.models import Participant, Trial


def test_participant_lock_reads_the_participant_with_its_trial_and_site_in_one_query(
    make_eligible: ParticipantMaker, django_assert_num_queries: Any
) -> None:
    participant = make_eligible()
    site_code = participant.site.code
    with transaction.atomic(), django_assert_num_queries(1):
        locked = sql.participant_lock(participant.pk)
        assert locked is not None
        # what randomize uses comes with the row: no further query
        assert (locked.pk, locked.status, locked.consent_date, locked.randomization_number) == (
            participant.pk,
            participant.status,
            participant.consent_date,
            None,
        )
        assert (locked.trial.registry_id, locked.trial.target_enrollment) == ("NCT06850103", 102)
        assert (locked.site.code, locked.site.time_zone) == (site_code, "Asia/Shanghai")
    # anything else is loaded on first use, as with .only()
    with django_assert_num_queries(1):
        assert locked.full_name == participant.full_name


def test_participant_lock_of_an_unknown_participant_is_none(db: Any) -> None:
    with transaction.atomic():
        assert sql.participant_lock(10**9) is None


def test_latest_assessment_counts_the_window_inclusively_and_prefers_the_latest(
    make_eligible: ParticipantMaker, trial: Trial, today: dt.date
) -> None:
    participant = make_eligible(assess=False)

    def assess(on: dt.date, **changes: Any) -> ScreeningAssessment:
        return rs.screening_assessment_record(
            participant=participant,
            assessed_on=on,
            findings=good_findings(trial.definition, **changes),
            by=None,
            today=on,
        )

    old = assess(today - dt.timedelta(days=10), ecog=0)
    first = assess(today - dt.timedelta(days=3), ecog=1)
    second = assess(today - dt.timedelta(days=3), ecog=0)  # same day, recorded later: it wins
    found = sql.latest_assessment(participant.pk, since=today - dt.timedelta(days=10), until=today)
    assert found is not None and found.pk == second.pk != first.pk
    # JSON comes back as data (the field's converter ran), dates as dates
    assert found.findings["ecog"] == 0 and found.assessed_on == today - dt.timedelta(days=3)
    # both ends of the window count; outside it nothing does
    days = dt.timedelta(days=1)
    edge = sql.latest_assessment(participant.pk, since=today - 10 * days, until=today - 4 * days)
    assert edge is not None and edge.pk == old.pk
    assert sql.latest_assessment(participant.pk, since=today - dt.timedelta(days=2), until=today) is None
    # the large columns are deferred but still there when a reason needs them
    assert found.criteria == ScreeningAssessment.objects.get(pk=second.pk).criteria


def test_a_reader_refuses_a_field_the_model_does_not_have() -> None:
    with pytest.raises(LookupError, match="no_such_field"):
        sql._Reader(Participant, ("id", "no_such_field"), "p")


def _other_connection() -> psycopg.Connection[Any]:
    db = settings.DATABASES["default"]
    params = {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"], "port": db["PORT"]}
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


@pytest.mark.django_db(transaction=True)
def test_participant_lock_locks_the_participant_row_and_not_its_trial(make_eligible: ParticipantMaker) -> None:
    participant = make_eligible()
    seen: dict[str, str] = {}

    def probe() -> None:
        with _other_connection() as other:
            for table, pk in (("trialsite_participant", participant.pk), ("trialsite_trial", participant.trial_id)):
                try:
                    other.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [pk])  # noqa: S608
                    seen[table] = "free"
                except psycopg.errors.LockNotAvailable:
                    seen[table] = "locked"

    with transaction.atomic():
        assert sql.participant_lock(participant.pk) is not None
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
    assert seen == {"trialsite_participant": "locked", "trialsite_trial": "free"}


def test_randomize_is_a_fixed_handful_of_statements(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User
) -> None:
    # given a process that has randomized once (its scheme and protocol window are cached)
    rs.participant_randomize(participant=make_eligible(), by=nurse, now=NOW)
    participant = make_eligible()
    with CaptureQueriesContext(connection) as queries:
        rs.participant_randomize(participant=participant, by=nurse, now=NOW)
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # lock the participant (with trial and site), its latest screening, lock the state row, and
    # one write: nothing else, however many allocations the trial already has
    assert len(statements) == 4, statements
    assert statements[0].endswith("FOR UPDATE OF p") and "randomization_screeningassessment" in statements[1]
    assert "randomization_allocationstate" in statements[2] and statements[3].startswith("WITH a AS")
