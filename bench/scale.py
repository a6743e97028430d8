"""Every admin page and GET API route at 100 and at 10,000 participants (issue 16).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialsite .venv/bin/python bench/scale.py \
        [--sizes 100,10000] [--repeat 5] [--roles research_nurse,pharmacist,investigator,statistician]

Runs in a throwaway database (test_<NAME>, created and dropped as the test runner does). The
data set grows in steps, through the services where a person would act and through their bulk
paths where a trial's history would have made the rows:
- participants (bulk rows, randomized, spread over the 7 sites; the first 100 screened and
  randomized through the services, so allocations, assessments and the chain are real);
- treatment plans for all of them (`treatment_plans_create_bulk`: about 37 events each, and the
  reminders of the quarter who gave an e-mail address);
- for 30 % of them, weight, height and labs before cycle 1 and the cycle-1 dose sheet
  (`dose_sheet_prepare`), and for 10 % (all of the first 100) a cycle-1 booking
  (`booking_create`).
At each size it opens, as a research nurse of one site and as a pharmacist, an investigator and a
statistician of all sites, every admin changelist, add and change page of the project's models,
the history pages, the workflow pages, and every GET route of /api/v1/ (token authentication),
each --repeat times after one warm-up call: status, SQL queries, p50/p95 time, response size.

It prints one table and exits 1 when a page's query count differs between the sizes, or a page
is over its budget at the largest size: p50 under 150 ms for every page and API read, under
1 s for a calendar feed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import re
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")

import django

django.setup()

import time_machine  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from tests.randomization.conftest import GOOD_LABS, good_findings  # noqa: E402
from tests.support.signatures import signed  # noqa: E402

PROJECT_APPS = ("trialsite", "randomization", "dosing", "schedules", "reminders")
ROLES = ("research_nurse", "pharmacist", "investigator", "statistician")
# The day the pages are read: plans started from 2026-03-02 on, so the calendar, the feeds and
# the worklists have visits behind and ahead of them.
READ_AT = dt.datetime(2026, 5, 4, 2, 0, tzinfo=dt.UTC)  # Monday 10:00 in Shanghai
FIRST_START = dt.date(2026, 3, 2)
PAGE_BUDGET_MS = 150.0
FEED_BUDGET_MS = 1000.0


@dataclass
class Measured:
    status: int
    queries: int
    p50_ms: float
    p95_ms: float
    size_kb: float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,10000", help="participant counts, ascending (default 100,10000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per page (default 5)")
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if sizes != sorted(sizes) or sizes[0] < 100:
        sys.exit("--sizes: ascending, the first at least 100 (the first 100 are randomized through the services)")
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        sys.exit("Run the benchmark on PostgreSQL: set DATABASE_URL=postgres://…")
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        sys.exit(run(sizes, args))
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(sizes: list[int], args: argparse.Namespace) -> int:
    world = World(seed=args.seed)
    results: dict[int, dict[tuple[str, str], Measured]] = {}
    for size in sizes:
        started = time.perf_counter()
        world.grow(size)
        print(f"# {size} participants built in {time.perf_counter() - started:.0f} s: {world.counts()}", flush=True)
        started = time.perf_counter()
        results[size] = {}
        for role in args.roles.split(","):
            for url in world.urls(role):
                results[size][(role, page_name(url))] = world.measure(role, url, repeat=args.repeat)
        print(f"# {len(results[size])} pages measured in {time.perf_counter() - started:.0f} s", flush=True)
    return report(sizes, results)


def page_name(url: str) -> str:
    """The page without the ids of its rows (which differ between sizes) or the feed's key."""
    url = re.sub(r"/calendar-feeds/[^/]+\.ics", "/calendar-feeds/{key}.ics", url)
    return re.sub(r"/\d+(?=[/.])", "/{id}", url)


def report(sizes: list[int], results: dict[int, dict[tuple[str, str], Measured]]) -> int:
    small, large = sizes[0], sizes[-1]
    print(
        f"\nmachine: {platform.node()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    header = f"{'role':<15} {'page':<72} {'st':>3} {'q@' + str(small):>7} {'q@' + str(large):>8}"
    header += f" {'p50 ms':>8} {'p95 ms':>8} {'KB':>8}  verdict"
    print(header)
    failures = 0
    for key, big in results[large].items():
        role, url = key
        little = results[small].get(key)
        budget = FEED_BUDGET_MS if url.endswith(".ics") else PAGE_BUDGET_MS
        problems = []
        if little is not None and little.queries != big.queries:
            problems.append(f"queries {little.queries}→{big.queries}")
        if big.p50_ms > budget:
            problems.append(f"p50 over {budget:.0f} ms")
        if big.status >= 500:
            problems.append("server error")
        failures += bool(problems)
        print(
            f"{role:<15} {url[:72]:<72} {big.status:>3} {little.queries if little else '-':>7} {big.queries:>8}"
            f" {big.p50_ms:>8.1f} {big.p95_ms:>8.1f} {big.size_kb:>8.1f}  {'; '.join(problems) or 'ok'}"
        )
    print(f"\n{len(results[large])} pages, {failures} over budget or growing with the data")
    return 1 if failures else 0


class World:
    """The data set, its users and their clients."""

    def __init__(self, *, seed: int) -> None:
        from django.contrib.auth.models import Group, User
        from django.test import Client
        from rest_framework.authtoken.models import Token
        from rest_framework.test import APIClient

        from trialsite import services as registry
        from trialsite.models import Site, SiteMembership

        self.rng = random.Random(seed)
        self.version, _ = registry.protocol_load(path=settings.PROTOCOL_DIR / "NCT06850103.yaml", by=None)
        self.trial = self.version.trial
        self.sites = list(Site.objects.order_by("code"))
        self.home = next(s for s in self.sites if s.code == "ZJU1")
        self.users: dict[str, Any] = {}
        self.browsers: dict[str, Client] = {}
        self.api: dict[str, APIClient] = {}
        for role in ROLES:
            user = User.objects.create_user(f"bench-{role}", password="bench-only-pw-1", is_staff=True)  # noqa: S106
            user.groups.add(Group.objects.get(name=role))
            for site in [self.home] if role == "research_nurse" else self.sites:
                SiteMembership.objects.create(user=user, site=site)
            self.users[role] = user
            browser = Client()
            browser.force_login(user)
            self.browsers[role] = browser
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
            self.api[role] = api
        self.size = 0
        self.full_days = 0  # bookings not made: the site's chairs were all taken that day
        self.feeds: dict[str, str] = {}
        # The newest primary key of each model after the first step (see urls()).
        self.first_rows: dict[str, int] = {}

    # --- building -------------------------------------------------------------------------

    def grow(self, size: int) -> None:
        from trialsite.models import Participant

        with time_machine.travel(dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC), tick=False):
            if self.size == 0:
                self._randomize_first_hundred()
            start = max(self.size, 100)
            Participant.objects.bulk_create(
                [self._participant(i, status="randomized") for i in range(start, size)], batch_size=5000
            )
        ids = list(
            Participant.objects.filter(screening_number__gte=f"B{start:06d}", screening_number__lt=f"B{size:06d}")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        self._plan(ids if self.size else list(Participant.objects.order_by("pk").values_list("pk", flat=True)))
        first_new = self.size
        self.size = size
        self._sheets_and_bookings(first_new, size)
        if not self.first_rows:
            from django.apps import apps
            from django.db.models import Max

            for model in apps.get_models():
                if model._meta.app_label in PROJECT_APPS and model._meta.pk.get_internal_type() in (
                    "AutoField",
                    "BigAutoField",
                ):
                    newest = model._default_manager.aggregate(newest=Max("pk"))["newest"]
                    if newest is not None:
                        self.first_rows[model._meta.label] = newest
        with time_machine.travel(READ_AT, tick=False):
            from schedules.services.feeds import calendar_feed_create

            for role in ROLES:
                self.feeds[role] = calendar_feed_create(user=self.users[role], now=READ_AT).key

    def _participant(self, i: int, *, status: str) -> Any:
        from trialsite.models import Participant

        randomized = status == "randomized"
        return Participant(
            trial=self.trial,
            protocol_version=self.version,
            site=self.sites[i % len(self.sites)],
            screening_number=f"B{i:06d}",
            full_name=f"受试者 {i}",
            sex="female" if i % 2 else "male",
            birth_date=dt.date(1955 + i % 30, 1 + i % 12, 1 + i % 28),
            consent_date=dt.date(2026, 2, 20),
            email=f"p{i}@example.org" if i % 4 == 0 else "",
            reminders_by_email=i % 4 == 0,
            status=status,
            arm=("experimental" if i % 2 else "control") if randomized else "",
            randomization_number=i + 1 if randomized else None,
            randomized_at=dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC) if randomized else None,
        )

    def _randomize_first_hundred(self) -> None:
        """The first 100 through screening and randomization as a nurse would: real assessments,
        allocations and chain. Later participants are arranged rows (randomization numbers after
        these), as if randomized before the data set was loaded."""
        from randomization import services as rs
        from trialsite import services as registry
        from trialsite.models import Participant

        today = dt.date(2026, 3, 1)
        now = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
        statistician, nurse = self.users["statistician"], self.users["research_nurse"]
        scheme = rs.scheme_create(trial=self.trial, by=statistician)
        rs.scheme_activate(scheme=scheme, by=statistician, now=now - dt.timedelta(days=1))
        nurses = {self.home.pk: nurse}
        # The test suite's eligible participant (one definition of "eligible" for both).
        findings = good_findings(self.trial.definition)
        from django.contrib.auth.models import Group, User

        from trialsite.models import SiteMembership

        for site in self.sites:
            if site.pk not in nurses:
                other = User.objects.create_user(f"bench-nurse-{site.code}", is_staff=True)
                other.groups.add(Group.objects.get(name="research_nurse"))
                SiteMembership.objects.create(user=other, site=site)
                nurses[site.pk] = other
        created = Participant.objects.bulk_create([self._participant(i, status="screening") for i in range(100)])
        for participant in created:
            by = nurses[participant.site_id]
            for analyte, value in GOOD_LABS.items():
                registry.lab_result_record(
                    participant=participant,
                    analyte=analyte,
                    value=value,
                    unit=_unit(analyte),
                    collected_on=today,
                    by=by,
                    today=today,
                )
            for kind, value in (("weight", "68"), ("height", "170")):
                registry.measurement_record(
                    participant=participant, kind=kind, value=value, measured_on=today, by=by, today=today
                )
            rs.screening_assessment_record(
                participant=participant, assessed_on=today, findings=findings, by=by, today=today
            )
            participant.refresh_from_db()
            rs.participant_randomize(participant=participant, by=by, now=now, signature=signed(by, "randomize", at=now))

    def _plan(self, ids: list[int]) -> None:
        from bench.bulk import treatment_plans_create_bulk
        from schedules import calendar

        cal = calendar.public_calendar("CN", range(2026, 2028))
        starts = {}
        for pk in ids:
            day = FIRST_START + dt.timedelta(days=self.rng.randrange(120))
            starts[pk] = calendar.next_scrt_start(day, fractions=5, max_overall_days=8, cal=cal) or day
        with time_machine.travel(dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC), tick=False):
            treatment_plans_create_bulk(
                starts=starts, now=dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC), by=self.users["investigator"]
            )

    def _sheets_and_bookings(self, first: int, last: int) -> None:
        """Cycle-1 sheets for 30 % (labs and measurements the day before), bookings for 10 %
        and for all of the first 100."""
        from dosing import services as dosing
        from schedules.models import ScheduledEvent
        from schedules.services.bookings import booking_create
        from trialsite import services as registry
        from trialsite.errors import Conflict

        cycle1 = {
            e.participant.screening_number: e
            for e in ScheduledEvent.objects.filter(kind="cycle_day1", phase="neoadjuvant", number=1)
            .filter(
                participant__screening_number__gte=f"B{first:06d}", participant__screening_number__lt=f"B{last:06d}"
            )
            .select_related("participant", "site")
        }
        for number, event in sorted(cycle1.items()):
            i = int(number[1:])
            day1 = event.planned_date
            before = day1 - dt.timedelta(days=1)
            if i % 10 < 3:
                with time_machine.travel(dt.datetime.combine(before, dt.time(2, 0), tzinfo=dt.UTC), tick=False):
                    participant = event.participant
                    for kind, value in (("weight", "68"), ("height", "170")):
                        registry.measurement_record(
                            participant=participant, kind=kind, value=value, measured_on=before, by=None, today=before
                        )
                    for analyte in ("anc", "platelets", "creatinine"):
                        registry.lab_result_record(
                            participant=participant,
                            analyte=analyte,
                            value=GOOD_LABS[analyte],
                            unit=_unit(analyte),
                            collected_on=before,
                            by=None,
                            today=before,
                        )
                    now = dt.datetime.combine(before, dt.time(3, 0), tzinfo=dt.UTC)
                    dosing.dose_sheet_prepare(
                        participant=participant, phase="neoadjuvant", cycle_number=1, day1=day1, by=None, now=now
                    )
            if i < 100 or i % 10 == 0:
                today = event.planned_date - dt.timedelta(days=7)
                with time_machine.travel(dt.datetime.combine(today, dt.time(2, 0), tzinfo=dt.UTC), tick=False):
                    try:
                        booking_create(
                            event=event,
                            date=event.planned_date,
                            time=dt.time(8 + i % 8, 0),
                            by=self.users["investigator"],
                            today=today,
                        )
                    except Conflict:
                        self.full_days += 1  # every chair taken that day: a nurse would pick another

    def counts(self) -> str:
        from dosing.models import DoseSheet
        from reminders.models import Reminder
        from schedules.models import Booking, ScheduledEvent
        from trialsite.models import Participant

        counts = ", ".join(
            f"{model._meta.verbose_name_plural}: {model.objects.count():,}"
            for model in (Participant, ScheduledEvent, Booking, DoseSheet, Reminder)
        )
        return f"{counts} (bookings not made, chairs full: {self.full_days})"

    # --- reading ---------------------------------------------------------------------------

    def urls(self, role: str) -> list[str]:
        """The admin's pages this role can open and the API's GET routes, for the newest row the
        role can see of each model (the same rows at every size: the newest ones)."""
        from django.contrib import admin
        from django.test import RequestFactory
        from django.urls import reverse

        user = self.users[role]
        request = RequestFactory().get("/admin/")
        request.user = user
        out = ["/admin/"]
        for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
            meta = model._meta
            if meta.app_label not in PROJECT_APPS or not model_admin.has_view_permission(request):
                continue
            base = f"admin:{meta.app_label}_{meta.model_name}"
            out.append(reverse(f"{base}_changelist"))
            if model_admin.has_add_permission(request):
                out.append(reverse(f"{base}_add"))
            # The same row at every size: the newest the role could see in the first data set.
            rows = model_admin.get_queryset(request)
            if meta.label in self.first_rows:
                rows = rows.filter(pk__lte=self.first_rows[meta.label])
            obj = rows.order_by("-pk").first()
            if obj is not None:
                out.append(reverse(f"{base}_change", args=[obj.pk]))
                out.append(reverse(f"{base}_history", args=[obj.pk]))
        planned = self._visible_participant(user)
        out += [
            reverse("admin:schedules_timeline", args=[planned]),
            reverse("admin:schedules_site_calendar") + "?site=ZJU1&date=2026-05-04&view=week",
            reverse("admin:dosing_dosesheet_prepare"),
            reverse("admin:schedules_site_calendar") + "?site=ZJU1&date=2026-05-04&view=month",
            reverse("admin:randomization_participanttorandomize_confirmation", args=[planned]),
            reverse("admin-audit-log"),
            reverse("admin-accrual"),
        ]
        return out + self._api_urls(role, planned)

    def _visible_participant(self, user: Any) -> int:
        """A planned participant of the nurse's site from the first data set (its first 100 are
        randomized through the services)."""
        from trialsite.models import Participant

        return int(
            Participant.objects.filter(site=self.home, treatment_plan__isnull=False, screening_number__lt="B000100")
            .order_by("-pk")
            .values_list("pk", flat=True)[0]
        )

    def _api_urls(self, role: str, participant: int) -> list[str]:
        from django.urls import URLPattern, URLResolver, get_resolver

        from dosing.models import DoseSheet
        from schedules.models import Booking

        values = {
            "participants": participant,
            "dose-sheets": DoseSheet.objects.filter(site=self.home, participant__screening_number__lt="B000100")
            .order_by("-pk")
            .values_list("pk", flat=True)[0],
            "bookings": Booking.objects.filter(site=self.home, participant__screening_number__lt="B000100")
            .order_by("-pk")
            .values_list("pk", flat=True)[0],
            "trials": self.trial.registry_id,
            "calendar-feeds": self.feeds[role],
        }

        def walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
            for p in patterns:
                if isinstance(p, URLResolver):
                    yield from walk(p.url_patterns, prefix + str(p.pattern))
                elif isinstance(p, URLPattern):
                    yield prefix + str(p.pattern), p.callback

        out = []
        for route, callback in walk(get_resolver().url_patterns):
            view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
            if not route.startswith("api/v1/") or view is None or not hasattr(view, "get"):
                continue
            first = route.removeprefix("api/v1/").split("/")[0]
            if "<" in route and first not in values:
                continue
            if (first == "exports" and route != "api/v1/exports/") or route.endswith(("allocations.csv", ".odm.xml")):
                continue  # bulk downloads of the whole dataset, not page reads: no page budget applies
            out.append("/" + re.sub(r"<(?:\w+:)?\w+>", str(values.get(first, "")), route))
        return sorted(set(out))

    def measure(self, role: str, url: str, *, repeat: int) -> Measured:
        client = self.api[role] if url.startswith("/api/") else self.browsers[role]
        with time_machine.travel(READ_AT, tick=True):
            client.get(url)  # warm-up: per-process caches (protocol, calendars, templates)
            samples = []
            counted = QueryCounter()
            with connection.execute_wrapper(counted):
                response = client.get(url)
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        return Measured(
            status=response.status_code,
            queries=counted.n,
            p50_ms=statistics.median(samples),
            p95_ms=samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))],
            size_kb=len(getattr(response, "content", b"")) / 1024,
        )


class QueryCounter:
    """Counts the statements a request sends (an execute wrapper: unlike the debug query log it
    has no length limit and needs no DEBUG)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.n += 1
        return execute(sql, params, many, context)


def _unit(analyte: str) -> str:
    from trialsite import labs

    return labs.ANALYTES[analyte].unit


if __name__ == "__main__":
    main()
