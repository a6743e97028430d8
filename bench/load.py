"""Mixed load on the whole service: gunicorn with PostgreSQL and Redis on loopback, 50 simulated
users for 60 s mixing schedule reads, bookings, dose-sheet reads and randomizations. Prints
requests/s, p50/p95/p99 per endpoint, and errors (5xx, or a 4xx the script did not expect).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialsite_load REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/load.py [--users 50] [--seconds 60] [--think 1.0] [--server-times]

gunicorn runs with the production arguments: those of the `web` service's command in
docker-compose.yml (worker class, workers, threads, timeout, preload), bound to loopback.
`--gunicorn "…"` replaces them for an experiment (e.g. `--gunicorn "-k gthread -w 4 --threads 8"`).
`--server-times` also has gunicorn log each request's time (a temporary access log) and prints the
server-side percentiles next to the client's: the difference is time spent queued for a worker
or in the load generator, which shares the machine's cores.

The database named in DATABASE_URL is dropped and made anew (never point it at real data).
Set-up (not measured): the trial, one nurse per site, a pharmacist and an API client; 200
randomized participants with plans, measurements, labs and a prepared cycle-1 dose sheet; 400
eligible participants waiting to be randomized.

Each simulated user pauses 0.5–1.5 × `--think` seconds (default 1 s) between requests, as people
and scheduling systems do; `--think 0` is a closed-loop stress test instead. The mix (by weight):
a hospital scheduling system and nurses reading calendars (45 %), booking a cycle-1 visit and
cancelling it again (15 %), pharmacists reading dose sheets (20 %) and their queue (5 %),
participant look-ups (10 %), randomizations (5 %).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gunicorn_args import production_gunicorn_args
from keys import production_keys

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ENV = {
    "DJANGO_SETTINGS_MODULE": "trialsite.settings",
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-" + "y" * 50,
    "SECURE_SSL_REDIRECT": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "CONN_MAX_AGE": "300",  # as in docker-compose.yml
    "LOG_LEVEL": "WARNING",
    **production_keys(),
}


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if name in ("", "postgres", "trialsite"):
        sys.exit(f"refusing to drop the database {name!r}: name a scratch database")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def set_up(rng: random.Random) -> dict[str, Any]:
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from bench.bulk import treatment_plans_create_bulk
    from dosing import services as dosing
    from randomization import services as rs
    from randomization.models import EligibilityOutcome, ScreeningAssessment
    from schedules.models import ScheduledEvent
    from trialsite import services
    from trialsite.models import Participant, Site, SiteMembership

    call_command("migrate", verbosity=0)
    version, _ = services.protocol_load(by=None, path=ROOT / "trialsite" / "protocols" / "NCT06850103.yaml")
    trial = version.trial
    trial.target_enrollment = 10_000  # the bench randomizes more than the trial's 102
    trial.save(update_fields=["target_enrollment"])
    sites = list(Site.objects.order_by("code"))
    for site in sites:  # capacity is not what this bench measures
        site.infusion_chairs_per_day = 1000
        site.save(update_fields=["infusion_chairs_per_day"])

    def user(name: str, role: str, member_of: list[Any]) -> str:
        u, _ = User.objects.get_or_create(username=name, defaults={"is_staff": True})
        u.set_password(PASSWORD)  # randomize is signed with it (trialsite.signatures)
        u.save(update_fields=["password"])
        u.groups.add(Group.objects.get(name=role))
        for s in member_of:
            SiteMembership.objects.get_or_create(user=u, site=s)
        return Token.objects.get_or_create(user=u)[0].key

    nurse_tokens = {s.pk: user(f"nurse_{s.code}", "research_nurse", [s]) for s in sites}
    pharmacist = user("pharmacist", "pharmacist", sites)
    his = user("his", "api_client", sites)
    statistician = User.objects.create_user("statistician", is_staff=True)
    statistician.groups.add(Group.objects.get(name="statistician"))
    rs.scheme_activate(scheme=rs.scheme_create(trial=trial, by=statistician), by=statistician, now=timezone.now())

    today, now = timezone.localdate(), timezone.now()
    rows = [
        Participant(
            trial=trial,
            protocol_version=version,
            site=rng.choice(sites),
            screening_number=f"L{i:05d}",
            full_name=f"负载{i}",
            sex=rng.choice(["male", "female"]),
            birth_date=dt.date(1960 + i % 20, 1 + i % 12, 1 + i % 28),
            consent_date=today,
            status="eligible",
        )
        for i in range(600)
    ]
    created = Participant.objects.bulk_create(rows)
    ScreeningAssessment.objects.bulk_create(
        ScreeningAssessment(
            participant=p,
            assessed_on=today,
            findings={"liver_only_metastases": rng.random() < 0.6, "ecog": int(rng.random() < 0.4)},
            outcome=EligibilityOutcome.ELIGIBLE,
            criteria=[],
        )
        for p in created
    )
    treated, waiting = created[:200], created[200:]
    for number, p in enumerate(treated, start=1):
        Participant.objects.filter(pk=p.pk).update(
            status="randomized",
            arm=rng.choice(["experimental", "control"]),
            randomization_number=100000 + number,
            randomized_at=now,
        )
    start = today + dt.timedelta(days=14)
    while start.weekday() >= 5:
        start += dt.timedelta(days=1)
    treatment_plans_create_bulk(starts={p.pk: start for p in treated}, now=now)
    sheets = []
    for p in treated:
        p.refresh_from_db()
        services.measurement_record(participant=p, kind="height", value="168", measured_on=today, by=None, today=today)
        services.measurement_record(participant=p, kind="weight", value="64", measured_on=today, by=None, today=today)
        for analyte, value, unit in (
            ("creatinine", "80", "umol/L"),
            ("anc", "2.5", "10^9/L"),
            ("platelets", "180", "10^9/L"),
        ):
            services.lab_result_record(
                participant=p, analyte=analyte, value=value, unit=unit, collected_on=today, by=None, today=today
            )
        sheet = dosing.dose_sheet_prepare(
            by=None, participant=p, phase="neoadjuvant", cycle_number=1, day1=today + dt.timedelta(days=2), now=now
        )
        sheets.append(sheet.pk)
    cycle1 = {
        e.participant_id: (e.pk, e.planned_date.isoformat())
        for e in ScheduledEvent.objects.filter(
            participant__in=treated, kind="cycle_day1", number=1, phase="neoadjuvant"
        )
    }
    return {
        "treated": [(p.pk, nurse_tokens[p.site_id]) for p in treated],
        "waiting": [(p.pk, nurse_tokens[p.site_id]) for p in waiting],
        "sheets": sheets,
        "cycle1": cycle1,
        "pharmacist": pharmacist,
        "his": his,
    }


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.outcomes: dict[str, int] = defaultdict(int)

    def record(self, name: str, ms: float, status: int, expected: tuple[int, ...], body: bytes) -> None:
        with self.lock:
            self.latency[name].append(ms)
            self.outcomes[f"{name} {status}"] += 1
            if status not in expected:
                self.errors[name].append(f"{status} {body[:200]!r}")


# The bench users' password: randomize is a signed act (X-Signature-Password).
PASSWORD = "bench-only-pw-1"  # noqa: S105


def run_user(
    port: int, world: dict[str, Any], stats: Stats, deadline: float, seed: int, queue: list[Any], think: float
) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(
        name: str, method: str, path: str, token: str, body: Any = None, expected: tuple[int, ...] = (200,)
    ) -> Any:
        headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "X-Signature-Password": PASSWORD,
        }
        started = time.perf_counter()
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            stats.record(name, (time.perf_counter() - started) * 1000, 0, expected, repr(exc).encode())
            return None
        stats.record(name, (time.perf_counter() - started) * 1000, status, expected, data)
        return (
            json.loads(data)
            if data and status < 300 and response.getheader("Content-Type", "").startswith("application/json")
            else None
        )

    actions = (
        ["schedule"] * 45 + ["booking"] * 15 + ["sheet"] * 20 + ["queue"] * 5 + ["participant"] * 10 + ["randomize"] * 5
    )
    while time.monotonic() < deadline:
        # A person (or a scheduling system's worker) pauses between requests: uniform around `think`.
        time.sleep(rng.uniform(0.5, 1.5) * think)
        action = rng.choice(actions)
        pk, nurse = rng.choice(world["treated"])
        if action == "schedule":
            call("GET schedule", "GET", f"/api/v1/participants/{pk}/schedule/", rng.choice([nurse, world["his"]]))
        elif action == "participant":
            call("GET participant", "GET", f"/api/v1/participants/{pk}/", nurse)
        elif action == "sheet":
            call("GET dose sheet", "GET", f"/api/v1/dose-sheets/{rng.choice(world['sheets'])}/", world["pharmacist"])
        elif action == "queue":
            call("GET dose-sheet queue", "GET", "/api/v1/dose-sheets/?status=prepared", world["pharmacist"])
        elif action == "booking":
            event, day = world["cycle1"][pk]
            made = call(
                "POST booking",
                "POST",
                "/api/v1/bookings/",
                world["his"],
                {"event": event, "date": day, "time": f"{rng.randint(8, 15):02d}:{rng.choice(['00', '30'])}"},
                expected=(201, 409),  # 409: another user holds this visit's booking right now
            )
            if made:
                call("DELETE booking", "DELETE", f"/api/v1/bookings/{made['id']}/", world["his"], expected=(204,))
        elif action == "randomize":
            with stats.lock:
                item = queue.pop() if queue else None
            if item is not None:
                call(
                    "POST randomize", "POST", f"/api/v1/participants/{item[0]}/randomize/", item[1], {}, expected=(201,)
                )
    conn.close()


SERVER_ENDPOINTS = [  # gunicorn's access log has the path without the query: match it to the names above
    (r"GET /api/v1/participants/\d+/schedule/", "GET schedule"),
    (r"GET /api/v1/participants/\d+/", "GET participant"),
    (r"POST /api/v1/participants/\d+/randomize/", "POST randomize"),
    (r"GET /api/v1/dose-sheets/\d+/", "GET dose sheet"),
    (r"GET /api/v1/dose-sheets/", "GET dose-sheet queue"),
    (r"POST /api/v1/bookings/", "POST booking"),
    (r"DELETE /api/v1/bookings/\d+/", "DELETE booking"),
]


def server_times(log: Path) -> dict[str, list[float]]:
    """Milliseconds per endpoint from an access log written as '%(m)s %(U)s %(D)s'."""
    import re

    times: dict[str, list[float]] = defaultdict(list)
    for line in log.read_text().splitlines():
        method, path, micros = line.split()
        for pattern, name in SERVER_ENDPOINTS:
            if re.fullmatch(pattern, f"{method} {path}"):
                times[name].append(int(micros) / 1000)
    return times


def percentiles(values: list[float]) -> list[float]:
    values = sorted(values)
    return statistics.quantiles(values, n=100) if len(values) > 1 else values * 99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--gunicorn", help="gunicorn arguments instead of docker-compose.yml's (experiments)")
    parser.add_argument("--server-times", action="store_true", help="also print gunicorn's own request times")
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--think", type=float, default=1.0, help="mean pause between a user's requests, s (0: none)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/trialsite_load")
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/6")
    env = {**os.environ, **ENV, "DATABASE_URL": url, "CELERY_BROKER_URL": redis}
    os.environ.update(env)

    recreate_database(url)
    t0 = time.monotonic()
    world = set_up(random.Random(7))
    print(f"set-up: {time.monotonic() - t0:.1f} s ({len(world['treated'])} treated, {len(world['waiting'])} waiting)")

    shape = args.gunicorn.split() if args.gunicorn else production_gunicorn_args()
    access_log = Path(tempfile.mkstemp(prefix="trialsite-load-", suffix=".log")[1])
    logging = ["--access-logfile", str(access_log), "--access-logformat", "%(m)s %(U)s %(D)s"]
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "trialsite.wsgi:application",
            "-b",
            f"127.0.0.1:{args.port}",
            *shape,
            "--log-level",
            "warning",
            *(logging if args.server_times else []),
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(300):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
                probe.request("GET", "/healthz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        access_log.write_text("")  # the health checks are not part of the run
        stats = Stats()
        queue = list(reversed(world["waiting"]))
        deadline = time.monotonic() + args.seconds
        users = [
            threading.Thread(target=run_user, args=(args.port, world, stats, deadline, i, queue, args.think))
            for i in range(args.users)
        ]
        started = time.monotonic()
        for u in users:
            u.start()
        for u in users:
            u.join()
        elapsed = time.monotonic() - started
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
    served = server_times(access_log) if args.server_times else {}
    access_log.unlink()

    total = sum(len(v) for v in stats.latency.values())
    errors = sum(len(v) for v in stats.errors.values())
    print(
        f"\n{args.users} users (think {args.think} s), {elapsed:.0f} s, gunicorn {' '.join(shape)}: "
        f"{total} requests, {total / elapsed:.1f} requests/s, errors {errors}\n"
    )
    server_header = f"{'server p50':>12}{'server p99':>12}" if served else ""
    print(f"{'endpoint':<22}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}{server_header}")
    rows = [(name, stats.latency[name], served.get(name, [])) for name in sorted(stats.latency)]
    rows.append(("all", [x for v in stats.latency.values() for x in v], [x for v in served.values() for x in v]))
    for name, values, server in rows:
        q = percentiles(values)
        failed = errors if name == "all" else len(stats.errors[name])
        line = f"{name:<22}{len(values):>7}{q[49]:>9.1f}{q[94]:>9.1f}{q[98]:>9.1f}{failed:>8}"
        if server:
            s = percentiles(server)
            line += f"{s[49]:>12.1f}{s[98]:>12.1f}"
        print(line)
    print("\noutcomes:", dict(sorted(stats.outcomes.items())))
    for name, samples in stats.errors.items():
        print(f"first errors of {name}: {samples[:3]}")


if __name__ == "__main__":
    main()
