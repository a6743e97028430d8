"""What an export is: a declared dataset (its rows, its columns, who may read it) turned into a
table (tablib) and written as CSV or Excel by tablib's own writers (openpyxl for xlsx).

A dataset is one `Dataset(...)` declaration passed to `register` (exports/datasets.py holds the
project's); the API routes, the admin actions and the README's column table all come from the
registry, so a new dataset (the adverse-event log, say) is one declaration and nothing else.

Time-zone trap: a timestamp is stored in UTC, but a nurse reads "10:00" as the clinic's clock.
Every datetime is written in the row's site time zone (Site.time_zone); CSV keeps the offset
(ISO 8601, "2026-03-02T10:00:00+08:00"), xlsx cannot hold one (openpyxl refuses aware
datetimes), so its cells are the site's wall-clock time and each dataset carries a `time_zone`
column saying which zone that is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import tablib
from django.db.models import Model, QuerySet
from django.utils.functional import Promise

FORMATS: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Text a spreadsheet would run as a formula when the cell starts with one of these (CSV
# injection): such a cell gets a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One column: `name` is the header (stable, snake_case, English: scripts read it), `help`
    its line in the README's table, `get` reads the value from a record. `shown` limits the column to
    the users it returns True for (participants' identity); left out, everyone who may read the
    dataset gets it."""

    name: str
    help: str  # English, like the names: the README's column table (not shown in the UI)
    get: Callable[[Any], Any]
    shown: Callable[[Any], bool] | None = None

    def shown_to(self, user: Any) -> bool:
        return self.shown is None or bool(self.shown(user))


@dataclass(frozen=True)
class Dataset:
    """A declared export.

    - `model` and `queryset`: the rows' model and the query that reads them with their
      relations (select_related); the admin action of `model`'s list exports its selection.
    - `site`: the lookup from the model to its Site ("site", "participant__site"): the rows are
      those of `sites_for_user` (the user's sites; a superuser all), and the site's time zone
      is the one the row's datetimes are written in.
    - `permission`: "app_label.codename" the reader needs (the admin list's view permission).
    - `records`: one row of the model may give several records (a dose sheet gives one per
      drug); columns read records.
    """

    name: str
    title: str | Promise
    model: type[Model]
    queryset: Callable[[], QuerySet[Any]]
    site: str
    permission: str
    columns: Sequence[Column]
    records: Callable[[Any], Iterable[Any]] = field(default=lambda row: (row,))
    record_site: Callable[[Any], Any] | None = None  # the Site of a record; default: the row's

    def columns_for(self, user: Any) -> list[Column]:
        return [c for c in self.columns if c.shown_to(user)]


REGISTRY: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    if dataset.name in REGISTRY:
        raise ValueError(f"export dataset {dataset.name!r} declared twice")
    if len({c.name for c in dataset.columns}) != len(dataset.columns):
        raise ValueError(f"export dataset {dataset.name!r} repeats a column name")
    REGISTRY[dataset.name] = dataset
    return dataset


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def site_of(row: Any, lookup: str) -> Any:
    """Follow "participant__site" on a loaded row (its relations are select_related)."""
    for part in lookup.split("__"):
        row = getattr(row, part)
    return row


def local(value: Any, tz: ZoneInfo) -> Any:
    """A datetime in the site's zone; anything else as it is."""
    if isinstance(value, dt.datetime):
        return value.astimezone(tz)
    return value


def csv_cell(value: Any) -> Any:
    """A value as CSV text: ISO dates and times (with the offset), true/false, text that a
    spreadsheet would run as a formula defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, int | Decimal | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def xlsx_cell(value: Any) -> Any:
    """A value as an Excel cell: dates, numbers and booleans typed; datetimes as the site's
    wall-clock time (Excel has no time zones); other values as text."""
    if value is None or isinstance(value, bool | int | float | Decimal | dt.date | dt.time):
        if isinstance(value, dt.datetime):
            return value.replace(tzinfo=None)
        return value
    return str(value)


def build(dataset: Dataset, rows: Iterable[Any], user: Any) -> tablib.Dataset:
    """The table of `rows` with the columns `user` may see, values in the site time zone."""
    columns = dataset.columns_for(user)
    table = tablib.Dataset(headers=[c.name for c in columns], title=dataset.name)
    for row in rows:
        for record in dataset.records(row):
            site = dataset.record_site(record) if dataset.record_site else site_of(row, dataset.site)
            tz = zone(site.time_zone)
            table.append([local(c.get(record), tz) for c in columns])
    return table


def write(table: tablib.Dataset, fmt: str, *, preamble: Sequence[str] = ()) -> bytes:
    """The table as a file. CSV is UTF-8 with a byte-order mark (Excel reads Chinese names only
    with it); `preamble` lines go first as "# …" comment lines (read.csv(comment.char="#"),
    pandas' comment="#"; the allocation record's). xlsx: tablib's writer, with bold frozen headers
    and formulas defused."""
    if fmt == "csv":
        out = tablib.Dataset(headers=table.headers, title=table.title)
        for values in table:
            out.append([csv_cell(v) for v in values])
        comments = "".join(f"# {line}\r\n" for line in preamble)
        return ("\ufeff" + comments + out.export("csv")).encode("utf-8")
    if fmt == "xlsx":
        out = tablib.Dataset(headers=table.headers, title=table.title)
        for values in table:
            out.append([xlsx_cell(v) for v in values])
        if preamble:
            raise ValueError("an xlsx export has no preamble")
        content: bytes = tablib.Databook([out]).export("xlsx", escape=True)
        return content
    raise ValueError(f"unknown export format {fmt!r}")
