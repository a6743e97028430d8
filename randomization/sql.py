"""The plain SQL of randomize's hot path, built once per process from the models' metadata.

Why not the ORM here: every randomization of a trial waits for the one before it, and the
benchmark (bench/randomize.py, bench/README.md) showed that compiling the ORM's queries cost
more CPU than the queries themselves — CPU taken from the process holding the trial's lock on
our 2-core machines. Table names and column lists come from `_meta`, a few key columns are
written out; nothing comes from input, and every value is a query parameter. Rows are read
back into model instances with the backend's own converters, as the ORM would, so callers see
ordinary (partly deferred) instances.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models

from randomization.models import Allocation, AllocationState, ScreeningAssessment
from trialsite.models import Participant, Site, Trial


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(_qn(n) for n in names)


def _column(field: Any) -> str:
    column: str = field.column  # a concrete field always has one
    return column


def _db_values(instance: models.Model, fields: Sequence[Any]) -> list[Any]:
    return [f.get_db_prep_save(getattr(instance, f.attname), connection) for f in fields]


class _Reader:
    """Some columns of one model, selected under a table alias and read back into an instance
    (the other fields deferred: touching one loads it, as with `.only()`)."""

    def __init__(self, model: type[models.Model], names: Iterable[str], alias: str) -> None:
        wanted = set(names)
        self.model = model
        self.alias = alias
        # `Model.from_db` expects the fields in `concrete_fields` order.
        self.fields = [f for f in model._meta.concrete_fields if f.name in wanted or f.attname in wanted]
        missing = wanted - {f.name for f in self.fields} - {f.attname for f in self.fields}
        if missing:
            raise LookupError(f"{model.__name__} has no fields {sorted(missing)}")
        self.attnames = [f.attname for f in self.fields]

    def columns(self) -> str:
        return ", ".join(f"{self.alias}.{_qn(_column(f))}" for f in self.fields)

    @functools.cached_property
    def _converters(self) -> list[tuple[int, Any, list[Any]]]:
        # What the ORM's compiler applies: the backend's converters (SQLite returns dates as
        # text, say), then the field's own (a JSON column's text into Python data).
        out = []
        for i, f in enumerate(self.fields):
            column = f.get_col(self.alias)
            converters = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
            if converters:
                out.append((i, column, converters))
        return out

    def instance(self, row: Sequence[Any]) -> Any:
        values = list(row)
        for i, column, converters in self._converters:
            for convert in converters:
                values[i] = convert(values[i], column, connection)
        return self.model.from_db(connection.alias, self.attnames, values)


# What randomize reads of the participant, its trial and its site (a narrow row keeps the
# statement small; anything else is loaded on first use).
_PARTICIPANT = _Reader(
    Participant,
    (
        "id",
        "trial_id",
        "site_id",
        "protocol_version_id",
        "status",
        "consent_date",
        "randomization_number",
    ),
    "p",
)
_TRIAL = _Reader(Trial, ("id", "registry_id", "target_enrollment"), "t")
_SITE = _Reader(Site, ("id", "code", "time_zone"), "s")
# An assessment without its two large columns (criteria and labs; loaded if a reason needs them).
_ASSESSMENT = _Reader(
    ScreeningAssessment,
    [f.name for f in ScreeningAssessment._meta.concrete_fields if f.name not in ("criteria", "labs")],
    "a",
)

_STATE_FIELD: Any = AllocationState._meta.get_field("state")
_ALLOCATION_FIELDS = [f for f in Allocation._meta.concrete_fields if not f.primary_key]
_PARTICIPANT_RANDOMIZED_FIELDS: list[Any] = [
    Participant._meta.get_field(name) for name in ("status", "arm", "randomization_number", "randomized_at")
]
_HISTORY_MODEL: Any = Participant.history.model
_HISTORY_META = ("history_id", "history_date", "history_change_reason", "history_type", "history_user_id")
_HISTORY_COLUMNS = [f.column for f in _HISTORY_MODEL._meta.concrete_fields if f.column not in _HISTORY_META]


@functools.cache
def statements() -> dict[str, str]:
    """The hot path's statements, for the process's database."""
    features = connection.features
    state_table = _qn(AllocationState._meta.db_table)
    lock = " FOR UPDATE" if features.has_select_for_update else ""
    # Lock the participant row only: its trial and site are read, not locked (the trial's
    # protocol-version row is shared by every booking and randomization).
    lock_p = " FOR UPDATE OF p" if features.has_select_for_update_of else lock
    history_columns = _quoted(_HISTORY_COLUMNS)
    sql = {
        "participant": (
            f"SELECT {_PARTICIPANT.columns()}, {_TRIAL.columns()}, {_SITE.columns()} "  # noqa: S608
            f"FROM {_qn(Participant._meta.db_table)} p "
            f"INNER JOIN {_qn(Trial._meta.db_table)} t ON t.{_qn('id')} = p.{_qn('trial_id')} "
            f"INNER JOIN {_qn(Site._meta.db_table)} s ON s.{_qn('id')} = p.{_qn('site_id')} "
            f"WHERE p.{_qn('id')} = %s{lock_p}"
        ),
        "assessment": (
            f"SELECT {_ASSESSMENT.columns()} FROM {_qn(ScreeningAssessment._meta.db_table)} a "  # noqa: S608
            f"WHERE a.{_qn('participant_id')} = %s AND a.{_qn('assessed_on')} >= %s AND a.{_qn('assessed_on')} <= %s "
            f"ORDER BY a.{_qn('assessed_on')} DESC, a.{_qn('id')} DESC LIMIT 1"
        ),
        "lock": f"SELECT scheme_id, sequence, last_hash, state FROM {state_table} WHERE trial_id = %s{lock}",  # noqa: S608
        "allocation": (
            f"INSERT INTO {_qn(Allocation._meta.db_table)} ({_quoted(_column(f) for f in _ALLOCATION_FIELDS)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(_ALLOCATION_FIELDS))}) RETURNING id"
        ),
        "state": (
            f"UPDATE {state_table} SET sequence = %s, last_hash = %s, state = %s, updated_at = %s "  # noqa: S608
            "WHERE trial_id = %s"
        ),
        "randomized": (
            f"UPDATE {_qn(Participant._meta.db_table)} "  # noqa: S608
            f"SET {', '.join(f'{_qn(f.column)} = %s' for f in _PARTICIPANT_RANDOMIZED_FIELDS)} WHERE id = %s"
        ),
        "history": (
            f"INSERT INTO {_qn(_HISTORY_MODEL._meta.db_table)} ({history_columns}, {_quoted(_HISTORY_META[1:])}) "
            f"SELECT {history_columns}, %s, NULL, '~', %s"
        ),
    }
    sql["history_from_table"] = f"{sql['history']} FROM {_qn(Participant._meta.db_table)} WHERE id = %s"
    # PostgreSQL: every write in one statement (data-modifying CTEs all run, once, to completion).
    sql["combined"] = (
        f"WITH a AS ({sql['allocation']}), s AS ({sql['state']}), p AS ({sql['randomized']} RETURNING *), "  # noqa: S608
        f"h AS ({sql['history']} FROM p) SELECT id FROM a"
    )
    return sql


def participant_lock(pk: int) -> Participant | None:
    """Lock the participant's row and read it with its trial and site (cached on it), in one
    round trip; None if there is no such participant."""
    with connection.cursor() as cursor:
        cursor.execute(statements()["participant"], [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    first, second = len(_PARTICIPANT.fields), len(_PARTICIPANT.fields) + len(_TRIAL.fields)
    participant = _PARTICIPANT.instance(row[:first])
    participant.trial = _TRIAL.instance(row[first:second])
    participant.site = _SITE.instance(row[second:])
    return participant


def latest_assessment(participant_id: int, *, since: dt.date, until: dt.date) -> ScreeningAssessment | None:
    """The participant's latest assessment made between `since` and `until` (inclusive)."""
    with connection.cursor() as cursor:
        cursor.execute(statements()["assessment"], [participant_id, since, until])
        row = cursor.fetchone()
    return None if row is None else _ASSESSMENT.instance(row)


def state_lock(trial_id: int) -> tuple[int, int, str, Any] | None:
    """Lock the trial's allocation-state row: (scheme id, allocations so far, last entry hash,
    stored state), or None before activation. Under READ COMMITTED the locked row comes back in
    its latest committed version, so the previous holder's allocation is always seen."""
    with connection.cursor() as cursor:
        cursor.execute(statements()["lock"], [trial_id])
        row = cursor.fetchone()
    if row is None:
        return None
    state = _STATE_FIELD.from_db_value(row[3], None, connection)  # JSON text into data, as the ORM does
    return int(row[0]), int(row[1]), str(row[2]), state


def allocation_write(
    allocation: Allocation, participant: Participant, state_data: Any, *, by_id: int, now: dt.datetime
) -> int:
    """Insert the allocation, move the state row on, mark the participant randomized and add the
    participant's history row (what django-simple-history writes for a save, by `by_id`). On
    PostgreSQL this is one statement, the serialised part's only write round trip. The database
    backs it with the allocation's unique and chain checks and the participant's status check.
    Returns the allocation's id."""
    sql = statements()
    allocation_params = _db_values(allocation, _ALLOCATION_FIELDS)
    state_params = [
        allocation.sequence,
        allocation.entry_hash,
        _STATE_FIELD.get_db_prep_save(state_data, connection),
        AllocationState._meta.get_field("updated_at").get_db_prep_save(now, connection),
        allocation.trial_id,
    ]
    participant_params = [*_db_values(participant, _PARTICIPANT_RANDOMIZED_FIELDS), participant.pk]
    history_params = [_HISTORY_MODEL._meta.get_field("history_date").get_db_prep_save(now, connection), by_id]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql["combined"], [*allocation_params, *state_params, *participant_params, *history_params])
            return int(cursor.fetchone()[0])
        cursor.execute(sql["allocation"], allocation_params)
        allocation_id = int(cursor.fetchone()[0])
        cursor.execute(sql["state"], state_params)
        cursor.execute(sql["randomized"], participant_params)
        cursor.execute(sql["history_from_table"], [*history_params, participant.pk])
        return allocation_id
