"""Benchmark of randomization on PostgreSQL: the randomize service, a raw-psycopg baseline doing
the same locking transaction, and the HTTP endpoint under gunicorn, at 1, 8 and 32 concurrent
clients. Prints throughput (randomizations/s), p50/p99 latency and a duplicate/gap check.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialsite_rand .venv/bin/python bench/randomize.py
    options: --per-level 300 --levels 1,8,32 --skip-http --gunicorn "-k gthread -w 4 --threads 8"

The HTTP series runs gunicorn with production's arguments (docker-compose.yml's web command).

Every series runs against its own throw-away trial (a copy of the NCT06850103 definition under
another registry id, cap raised), so the real trial's record is never touched. Each client first
randomizes one participant of its own before the clock starts (a warm-up: connections, first
queries and per-process caches are not measured, in every series alike). Clients of the
service and baseline series are processes (no GIL contention between them); HTTP clients are
threads (they only wait on sockets). About 10 % of the requests are duplicates of another
client's participant, sent at the same time; they must come back as conflicts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import http.client
import json
import multiprocessing as mp
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
# Production mode (no debug cursor wrapper), as gunicorn runs below.
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 50)
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

import django  # noqa: E402
from gunicorn_args import production_gunicorn_args  # noqa: E402
from keys import production_keys  # noqa: E402

for _name, _value in production_keys().items():
    os.environ.setdefault(_name, _value)

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connections  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from randomization import selectors as rsel  # noqa: E402
from randomization import services as rs  # noqa: E402
from randomization.models import Allocation, EligibilityOutcome, ScreeningAssessment  # noqa: E402
from randomization.verification import verify_trial  # noqa: E402
from trialsite import roles, services  # noqa: E402
from trialsite.errors import Conflict  # noqa: E402
from trialsite.models import Participant, Signature, Site, SiteMembership, Trial  # noqa: E402

PROTOCOL = settings.PROTOCOL_DIR / "NCT06850103.yaml"


# --- set-up --------------------------------------------------------------------------------


def make_trial(label: str) -> Trial:
    registry_id = f"BEN{label}{int(time.time() * 1000) % 10**9}"
    text = PROTOCOL.read_text(encoding="utf-8").replace("NCT06850103", registry_id)
    version, _ = services.protocol_load(by=None, text=text)
    Trial.objects.filter(pk=version.trial_id).update(target_enrollment=10**6)
    return Trial.objects.get(pk=version.trial_id)


# The bench users' password: randomize is a signed act (X-Signature-Password).
PASSWORD = "bench-only-pw-1"  # noqa: S105


def make_users() -> tuple[User, User]:
    sites = list(Site.objects.all())
    users = []
    for role in (roles.RESEARCH_NURSE, roles.STATISTICIAN):
        user, _ = User.objects.get_or_create(username=f"bench_{role}", defaults={"is_staff": True})
        user.set_password(PASSWORD)  # randomize is signed with it (trialsite.signatures)
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role))
        for site in sites:
            SiteMembership.objects.get_or_create(user=user, site=site)
        Token.objects.get_or_create(user=user)
        users.append(user)
    return users[0], users[1]


def make_participants(trial: Trial, count: int, rng: random.Random) -> list[int]:
    """Eligible, consented participants with an eligible screening (bulk: set-up, not measured)."""
    sites = list(trial.sites.all())
    today = timezone.localdate()
    rows = [
        Participant(
            trial=trial,
            protocol_version_id=trial.current_protocol_id,
            site=rng.choice(sites),
            screening_number=f"B{i:06d}",
            full_name=f"bench {i}",
            sex=rng.choice(["male", "female"]),
            birth_date=dt.date(1965, 1, 1),
            consent_date=today,
            status="eligible",
        )
        for i in range(count)
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
    return [p.pk for p in created]


def activate(trial: Trial, statistician: User) -> None:
    draft = rs.scheme_create(trial=trial, by=statistician)
    rs.scheme_activate(scheme=draft, by=statistician, now=timezone.now())


def plan(ids: list[int], clients: int, rng: random.Random) -> list[list[int]]:
    """Split the participants over the clients; ~10 % are also sent by another client. The first
    `clients` participants are warm-ups, one per client, randomized before the clock starts (so
    each process's start-up — first queries, caches — is not measured; the baseline's clients
    warm up the same way)."""
    warm, ids = ids[:clients], ids[clients:]
    shares: list[list[int]] = [[] for _ in range(clients)]
    for i, pk in enumerate(ids):
        shares[i % clients].append(pk)
    if clients > 1:
        for pk in rng.sample(ids, max(1, len(ids) // 10)):
            owner = next(k for k, s in enumerate(shares) if pk in s)
            other = (owner + 1 + rng.randrange(clients - 1)) % clients
            shares[other].insert(rng.randrange(len(shares[other]) + 1), pk)
    return [[w, *share] for w, share in zip(warm, shares, strict=True)]


# --- the three kinds of client --------------------------------------------------------------


def _signed(user: User) -> Signature:
    """The signature `trialsite.signatures.sign` writes after a correct password."""
    return Signature.objects.create(
        signer=user, signer_name=user.username, meaning="randomize", signed_at=timezone.now()
    )


def service_client(ids: list[int], nurse_id: int, start: Any, out: Any) -> None:
    connections.close_all()  # a forked child must not share the parent's connection
    nurse = User.objects.get(pk=nurse_id)
    latencies, conflicts = [], 0
    warm_up, ids = ids[0], ids[1:]
    rs.participant_randomize(
        participant=Participant.objects.get(pk=warm_up), by=nurse, now=timezone.now(), signature=_signed(nurse)
    )
    # The service is handed the participant as a view has it (the HTTP series measures the view).
    participants = Participant.objects.in_bulk(ids)
    start.wait()
    for pk in ids:
        # The password check is the door's (the HTTP series measures it); here the row it writes.
        signature = _signed(nurse)
        began = time.perf_counter()
        try:
            rs.participant_randomize(participant=participants[pk], by=nurse, now=timezone.now(), signature=signature)
        except Conflict:
            conflicts += 1
            continue
        latencies.append(time.perf_counter() - began)
    out.put((latencies, conflicts))
    connections.close_all()


def _conninfo() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }


def baseline_client(
    ids: list[int], trial_id: int, scheme_id: int, nurse_id: int, seed: bytes, start: Any, out: Any
) -> None:
    """The same locking transaction with raw psycopg, in the service's lock order: lock the
    participant, check for an allocation, lock the trial's allocation-state row (it holds the
    last number and hash), insert the allocation, move the state row on, update the
    participant, commit. The arm is an HMAC coin (no minimization, no eligibility, no history
    row): the floor the ORM and service layers add to."""
    import psycopg

    conn = psycopg.connect(**{k: v for k, v in _conninfo().items() if v is not None})

    def randomize(pk: int) -> bool:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT status FROM trialsite_participant WHERE id = %s FOR UPDATE", [pk])
            cur.execute("SELECT sequence FROM randomization_allocation WHERE participant_id = %s", [pk])
            if cur.fetchone() is not None:
                return False
            cur.execute(
                "SELECT sequence, last_hash FROM randomization_allocationstate WHERE trial_id = %s FOR UPDATE",
                [trial_id],
            )
            last_sequence, prev_hash = cur.fetchone()
            sequence = last_sequence + 1
            digest = hmac.new(seed, sequence.to_bytes(8, "big"), hashlib.sha256).digest()
            arm = "experimental" if digest[0] & 1 else "control"
            now = dt.datetime.now(dt.UTC)
            entry = hashlib.sha256(f"{prev_hash}|{sequence}|{pk}|{arm}".encode()).hexdigest()
            cur.execute(
                "INSERT INTO randomization_allocation (trial_id, scheme_id, participant_id, sequence, arm, method, "
                "factors, draws, details, allocated_at, allocated_by_id, prev_hash, chain_key_id, entry_hash) "
                "VALUES (%s, %s, %s, %s, %s, 'simple', '{}', '[]', '{}', %s, %s, %s, 'bench', %s)",
                [trial_id, scheme_id, pk, sequence, arm, now, nurse_id, prev_hash, entry],
            )
            cur.execute(
                "UPDATE randomization_allocationstate SET sequence = %s, last_hash = %s, updated_at = %s "
                "WHERE trial_id = %s",
                [sequence, entry, now, trial_id],
            )
            cur.execute(
                "UPDATE trialsite_participant SET status = 'randomized', arm = %s, randomization_number = %s, "
                "randomized_at = %s WHERE id = %s",
                [arm, sequence, now, pk],
            )
        return True

    latencies, conflicts = [], 0
    randomize(ids[0])  # warm-up, as the service's clients do
    start.wait()
    for pk in ids[1:]:
        began = time.perf_counter()
        if not randomize(pk):
            conflicts += 1
            continue
        latencies.append(time.perf_counter() - began)
    conn.close()
    out.put((latencies, conflicts))


def http_client(ids: list[int], port: int, token: str, start: threading.Barrier, out: list[Any]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json", "X-Signature-Password": PASSWORD}
    latencies, conflicts, errors = [], 0, 0
    conn.request("POST", f"/api/v1/participants/{ids[0]}/randomize/", body="{}", headers=headers)  # warm-up
    conn.getresponse().read()
    ids = ids[1:]
    start.wait()
    for pk in ids:
        began = time.perf_counter()
        conn.request("POST", f"/api/v1/participants/{pk}/randomize/", body="{}", headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status == 201:
            latencies.append(time.perf_counter() - began)
        elif response.status == 409:
            conflicts += 1
        else:
            errors += 1
    conn.close()
    out.append((latencies, conflicts, errors))


# --- running and reporting ------------------------------------------------------------------


def run_processes(target: Any, shares: list[list[int]], *args: Any) -> tuple[float, list[float], int]:
    ctx = mp.get_context("fork")
    start = ctx.Event()
    out = ctx.Queue()
    connections.close_all()
    procs = [ctx.Process(target=target, args=(share, *args, start, out)) for share in shares]
    for p in procs:
        p.start()
    time.sleep(0.5)
    began = time.perf_counter()
    start.set()
    results = [out.get() for _ in procs]
    wall = time.perf_counter() - began
    for p in procs:
        p.join()
    latencies = [x for lat, _ in results for x in lat]
    return wall, latencies, sum(c for _, c in results)


def check(trial: Trial, expected: int, *, replay: bool) -> str:
    sequences = list(Allocation.objects.filter(trial=trial).order_by("sequence").values_list("sequence", flat=True))
    participants = Allocation.objects.filter(trial=trial).values("participant").distinct().count()
    ok = sequences == list(range(1, expected + 1)) and participants == expected
    verdict = "no duplicates, no gaps" if ok else f"PROBLEM: {len(sequences)} rows, {participants} participants"
    if replay:
        report = verify_trial(trial)
        verdict += ", replay OK" if report.ok else f", REPLAY FAILED: {report.problem}"
    return verdict


def summary(name: str, clients: int, wall: float, latencies: list[float], conflicts: int, verdict: str) -> dict:
    latencies = sorted(latencies)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    row = {
        "series": name,
        "clients": clients,
        "randomized": len(latencies),
        "per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "conflicts": conflicts,
        "check": verdict,
    }
    print(
        f"{name:9} {clients:3} clients  {row['per_s']:8.1f}/s  p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms"
        f"  409s {conflicts:4}  {verdict}",
        flush=True,
    )
    return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(shape: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(
        os.environ,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="ERROR",  # 409s are expected here; django.request would log each one
        CONN_MAX_AGE="300",  # as in docker-compose.yml: a worker keeps its database connection
    )
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "trialsite.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        *shape,
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-level", type=int, default=300, help="randomizations per series and level")
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--gunicorn", help="gunicorn arguments instead of docker-compose.yml's (experiments)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    rng = random.Random(1)
    nurse, statistician = make_users()
    token = Token.objects.get(user=nurse).key
    rows = []
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, {args.per_level} per series/level")

    for clients in levels:
        # the service
        trial = make_trial("S")
        activate(trial, statistician)
        ids = make_participants(trial, args.per_level + clients, rng)
        wall, lat, conflicts = run_processes(service_client, plan(ids, clients, rng), nurse.pk)
        rows.append(summary("service", clients, wall, lat, conflicts, check(trial, len(ids), replay=True)))

        # the raw-psycopg floor
        trial = make_trial("B")
        activate(trial, statistician)
        scheme = rsel.active_scheme(trial)
        assert scheme is not None
        ids = make_participants(trial, args.per_level + clients, rng)
        wall, lat, conflicts = run_processes(
            baseline_client, plan(ids, clients, rng), trial.pk, scheme.pk, nurse.pk, secrets.token_bytes(32)
        )
        rows.append(summary("baseline", clients, wall, lat, conflicts, check(trial, len(ids), replay=False)))

    if not args.skip_http:
        shape = args.gunicorn.split() if args.gunicorn else production_gunicorn_args()
        print("gunicorn", " ".join(shape), flush=True)
        proc, port = start_gunicorn(shape)
        try:
            for clients in levels:
                trial = make_trial("H")
                activate(trial, statistician)
                ids = make_participants(trial, args.per_level + clients, rng)
                shares = plan(ids, clients, rng)
                barrier = threading.Barrier(clients + 1)
                out: list[Any] = []
                threads = [
                    threading.Thread(target=http_client, args=(share, port, token, barrier, out)) for share in shares
                ]
                for t in threads:
                    t.start()
                barrier.wait()
                began = time.perf_counter()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - began
                lat = [x for latencies, _, _ in out for x in latencies]
                errors = sum(e for _, _, e in out)
                verdict = check(trial, len(ids), replay=True) + (f", {errors} ERRORS" if errors else "")
                rows.append(summary("http", clients, wall, lat, sum(c for _, c, _ in out), verdict))
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
