"""Dosing benchmark: p50/p99 latency of the dose-calculation preview, a dose sheet's JSON and its
PDF through the whole Django stack (middleware, token auth, permissions, DRF), and the SQL
queries per sheet request for cycle 1 and for cycle 8 after seven dose modifications (the count
must not grow). Runs on a throw-away test database (test_<name> of DATABASE_URL, PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialsite .venv/bin/python bench/dosing.py [--n 300] [--pdf-n 40]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50 * 1000, p99 * 1000


def timed(n: int, call: Callable[[], object]) -> tuple[float, float]:
    for _ in range(min(10, n)):
        call()  # warm-up
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def arrange() -> tuple[APIClient, int, int]:
    """A randomized participant with 8 cycles' sheets and 7 modifications; a pharmacist's client."""
    from dosing import services as dosing
    from dosing.models import DoseSheet
    from trialsite import services
    from trialsite.models import Participant, Signature, Site, SiteMembership

    version, _ = services.protocol_load(by=None, path=settings.PROTOCOL_DIR / "NCT06850103.yaml")
    site = Site.objects.get(code="ZJU1")
    users = {}
    for name, role in (("pharmacist", "pharmacist"), ("investigator", "investigator")):
        user = User.objects.create_user(
            username=f"bench-{name}",
            password="bench-only-pw-1",  # noqa: S106 - a throw-away test database
            is_staff=True,
        )
        user.groups.add(Group.objects.get_or_create(name=role)[0])
        SiteMembership.objects.create(user=user, site=site)
        users[name] = user
    token = Token.objects.create(user=users["pharmacist"])
    now = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
    participant = Participant.objects.create(
        trial=version.trial,
        protocol_version=version,
        site=site,
        screening_number="BENCH-1",
        full_name="张伟",
        sex="male",
        birth_date=dt.date(1966, 5, 17),
        status="randomized",
        arm="experimental",
        randomization_number=1,
        randomized_at=now,
    )
    first_day1 = dt.date(2026, 3, 5)
    sheets: list[DoseSheet] = []
    for seq in range(1, 9):
        phase, cycle = ("neoadjuvant", seq) if seq <= 4 else ("adjuvant", seq - 4)
        day1 = first_day1 + dt.timedelta(days=21 * (seq - 1) + (42 if seq > 4 else 0))
        on = day1 - dt.timedelta(days=2)
        services.measurement_record(
            participant=participant, kind="height", value="172", measured_on=on, by=None, today=on
        )
        services.measurement_record(
            participant=participant, kind="weight", value="68", measured_on=on, by=None, today=on
        )
        for analyte, value, unit in (
            ("creatinine", "82", "umol/L"),
            ("anc", "2.4", "10^9/L"),
            ("platelets", "180", "10^9/L"),
        ):
            services.lab_result_record(
                participant=participant, analyte=analyte, value=value, unit=unit, collected_on=on, by=None, today=on
            )
        if seq > 1:
            prev_phase, prev_cycle = ("neoadjuvant", seq - 1) if seq - 1 <= 4 else ("adjuvant", seq - 5)
            dosing.dose_modification_record(
                participant=participant,
                drug="capecitabine",
                phase=prev_phase,
                cycle_number=prev_cycle,
                toxicity_term="Fatigue",
                ctcae_grade=1,
                reason="grade 1, dose maintained",
                by=users["investigator"],
                now=now,
                # The row `sign` writes after a correct password (the bench measures the API).
                signature=Signature.objects.create(
                    signer=users["investigator"],
                    signer_name="investigator",
                    meaning="dose_modification",
                    signed_at=now,
                ),
            )
        sheets.append(
            dosing.dose_sheet_prepare(
                by=None, participant=participant, phase=phase, cycle_number=cycle, day1=day1, now=now
            )
        )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client, sheets[0].pk, sheets[-1].pk


def _uncached(client: APIClient, pk: int) -> object:
    from django.core.cache import cache

    cache.clear()  # the PDF is cached per sheet state; this measures the WeasyPrint render
    return client.get(f"/api/v1/dose-sheets/{pk}/pdf/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300, help="requests per JSON measurement")
    parser.add_argument("--pdf-n", type=int, default=40, help="requests per PDF measurement")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench/dosing.py needs PostgreSQL (DATABASE_URL=postgres://…)")

    load = os.getloadavg()
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        client, first, last = arrange()
        body = {
            "arm": "experimental",
            "height_cm": 172,
            "weight_kg": 68,
            "sex": "male",
            "age_years": 59,
            "serum_creatinine_umol_l": 82,
        }
        results = {
            "dose-calculation preview (POST)": timed(
                args.n, lambda: client.post("/api/v1/dose-calculations/", body, format="json")
            ),
            "dose sheet JSON (GET, cycle 8)": timed(args.n, lambda: client.get(f"/api/v1/dose-sheets/{last}/")),
            "dose sheet PDF (GET, cycle 8, rendered)": timed(args.pdf_n, lambda: _uncached(client, last)),
            "dose sheet PDF (GET, cycle 8, reprint)": timed(
                args.n, lambda: client.get(f"/api/v1/dose-sheets/{last}/pdf/")
            ),
        }
        queries = {}
        for label, pk in (("cycle 1, no modifications", first), ("cycle 8, 7 modifications", last)):
            for kind, url in (("JSON", f"/api/v1/dose-sheets/{pk}/"), ("PDF", f"/api/v1/dose-sheets/{pk}/pdf/")):
                client.get(url)
                with CaptureQueriesContext(connection) as ctx:
                    response = client.get(url)
                assert response.status_code == 200, response.status_code
                queries[f"{kind}, {label}"] = len(ctx.captured_queries)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    today = dt.datetime.now(dt.UTC).date().isoformat()
    machine = f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"dosing benchmark — {today} — {machine}; load average before the run {load[0]:.2f}")
    print(f"{'operation':40} {'p50 ms':>8} {'p99 ms':>8}")
    for label, (p50, p99) in results.items():
        print(f"{label:40} {p50:8.1f} {p99:8.1f}")
    print("SQL queries per sheet request:")
    for label, count in queries.items():
        print(f"  {label:40} {count}")


if __name__ == "__main__":
    main()
