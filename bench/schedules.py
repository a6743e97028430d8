"""Benchmark of the schedules app (figures go to bench/README.md, section "schedules").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialsite .venv/bin/python bench/schedules.py [--n 10000]

Runs in a throwaway database (test_<NAME>, created and dropped like the test runner does):
1. bulk-creates N randomized participants spread over the 7 sites (arranged state, not timed);
2. times `treatment_plans_create_bulk` for all of them (rules and holiday calendars, ~37 events
   per plan, history rows included);
3. calls GET /api/v1/participants/{id}/schedule/ in-process (DRF test client, token auth) for
   --requests random participants and prints p50/p99 latency and the SQL query count per call.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="participants (default 10000)")
    parser.add_argument("--requests", type=int, default=1000, help="schedule calls to time (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        sys.exit("Run the benchmark on PostgreSQL: set DATABASE_URL=postgres://…")

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["*"]
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run(args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(args: argparse.Namespace) -> None:
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from bench.bulk import treatment_plans_create_bulk
    from schedules.models import ScheduledEvent
    from trialsite import services as registry
    from trialsite.models import Participant, Site, SiteMembership

    rng = random.Random(args.seed)
    version, _ = registry.protocol_load(by=None, path=settings.PROTOCOL_DIR / "NCT06850103.yaml")
    trial = version.trial
    sites = list(Site.objects.order_by("code"))
    randomized_at = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
    Participant.objects.bulk_create(
        [
            Participant(
                trial=trial,
                protocol_version=version,
                site=sites[i % len(sites)],
                screening_number=f"B{i:06d}",
                full_name=f"bench {i}",
                sex="female" if i % 2 else "male",
                birth_date=dt.date(1960, 1, 1),
                consent_date=dt.date(2026, 2, 20),
                status="randomized",
                arm="experimental" if i % 2 else "control",
                randomization_number=i + 1,
                randomized_at=randomized_at,
            )
            for i in range(args.n)
        ],
        batch_size=5000,
    )
    now = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
    first = dt.date(2026, 3, 2)
    # Start dates spread over a year, so Spring Festival, Labour Day and National Day all occur;
    # each is the date a nurse would end up with (the proposal of a refusal, see
    # calendar.next_scrt_start), so that all N plans are made.
    from schedules import calendar

    cal = calendar.public_calendar("CN", range(2026, 2028))
    starts = {}
    for pk in Participant.objects.values_list("pk", flat=True):
        day = first + dt.timedelta(days=rng.randrange(365))
        starts[pk] = calendar.next_scrt_start(day, fractions=5, max_overall_days=8, cal=cal) or day

    t0 = time.perf_counter()
    created, refused = treatment_plans_create_bulk(starts=starts, now=now)
    elapsed = time.perf_counter() - t0
    events = ScheduledEvent.objects.count()
    print(f"plans: {created} created, {len(refused)} start dates refused, in {elapsed:.1f} s")
    print(f"events: {events} ({events / max(created, 1):.1f} per plan); {created / elapsed:.0f} plans/s")

    nurse = User.objects.create_user("bench-nurse", is_staff=True)
    nurse.groups.add(Group.objects.get(name="research_nurse"))
    for site in sites:
        SiteMembership.objects.create(user=nurse, site=site)
    token = Token.objects.create(user=nurse)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    planned = list(ScheduledEvent.objects.values_list("participant_id", flat=True).distinct())
    timings: list[float] = []
    queries: list[int] = []
    for _ in range(args.requests):
        pid = rng.choice(planned)
        # The log holds 9,000 queries: once the bulk creation filled it, a capture would count 0.
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            response = client.get(f"/api/v1/participants/{pid}/schedule/")
            timings.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, response.content
        queries.append(len(ctx.captured_queries))
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(
        f"GET /api/v1/participants/{{id}}/schedule/ ({args.requests} calls, {events // max(created, 1)} events each): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, SQL queries per call {min(queries)}–{max(queries)}"
    )


if __name__ == "__main__":
    main()
