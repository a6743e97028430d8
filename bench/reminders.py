"""Benchmark of the reminders: with 100,000 pending reminder rows of which 10,000 are due,
(1) the dispatcher's claim-and-enqueue time (expire, SKIP LOCKED claims in batches of 1,000, one
send task per REMINDER_SEND_BATCH rows published to Redis), and (2) the end-to-end delivery rate
to a loopback SMTP sink (aiosmtpd) with one Celery worker of 2 prefork processes (each task: one
claim, one joined read, one SMTP session, one `sent` commit per row), next to (3) a baseline of
plain smtplib sending the same 10,000 messages from one process: one SMTP session per message
(measured just before and just after the delivery; the ratio is to their mean) and, for
reference, all messages in one session.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/trialsite_remind \\
    REDIS_URL=redis://127.0.0.1:6379/4 .venv/bin/python bench/reminders.py [--total 100000 --due 10000]

It uses (and empties) the reminder rows of the database it is given: run it on a scratch
database, never on a real one. Targets: dispatch of 10,000 due rows under 10 s; delivery at
least half the baseline's rate.

Knobs for experiments (environment): REMINDER_SEND_BATCH (50, reminders per send task),
BENCH_POOL (prefork), BENCH_CONCURRENCY (2), BENCH_PREFETCH (1), BENCH_LOGLEVEL (WARNING),
CONN_MAX_AGE (300).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 50)
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("CELERY_BROKER_URL", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/4"))
from keys import production_keys  # noqa: E402

for _name, _value in production_keys().items():
    os.environ.setdefault(_name, _value)

import logging  # noqa: E402

import django  # noqa: E402

django.setup()

from aiosmtpd.controller import Controller  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from reminders import services as rs  # noqa: E402
from reminders.models import Reminder  # noqa: E402
from reminders.tasks import publish_sends  # noqa: E402
from schedules.models import ScheduledEvent  # noqa: E402
from schedules.services.plans import treatment_plan_create  # noqa: E402
from trialsite import services as registry  # noqa: E402
from trialsite.models import Participant, Site  # noqa: E402

PROTOCOL = settings.PROTOCOL_DIR / "NCT06850103.yaml"


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


def _participants(n: int, now: dt.datetime) -> list[Participant]:
    version, _ = registry.protocol_load(by=None, path=PROTOCOL)
    trial = version.trial
    site = Site.objects.get(code="ZJU1")
    out = list(Participant.objects.filter(trial=trial, screening_number__startswith="BENCH-", status="randomized"))
    start = dt.date(2027, 3, 1)
    for i in range(len(out), n):
        p = Participant.objects.create(
            trial=trial,
            protocol_version=version,
            site=site,
            screening_number=f"BENCH-{i:04d}",
            full_name=f"Bench {i}",
            sex="male",
            birth_date=dt.date(1960, 1, 1),
            status="randomized",
            arm="experimental",
            randomization_number=90000 + i,
            randomized_at=now,
            email=f"bench{i}@example.org",
            reminders_by_email=True,
            reminders_by_sms=False,
            preferred_language="en",
        )
        treatment_plan_create(participant=p, scrt_start_date=start, by=None, now=now)
        out.append(p)
    return out


def setup_rows(total: int, due: int, now: dt.datetime) -> None:
    """`due` rows that pass every re-check (their event date is the event's date) due now, and
    `total - due` rows due in a year (their dates are synthetic: they are never sent)."""
    Reminder.objects.all().delete()
    version, _ = registry.protocol_load(by=None, path=PROTOCOL)
    rules = rs.reminder_rules_for_trial(trial=version.trial)
    n = 1
    while True:
        participants = _participants(n, now)
        events = list(
            ScheduledEvent.objects.filter(participant__in=participants).exclude(status="cancelled").order_by("id")
        )
        if len(events) * len(rules) >= due:
            break
        n = max(n + 1, n * due // (len(events) * len(rules)) + 1)
    Reminder.objects.all().delete()  # the ones the plans made
    far = now + dt.timedelta(days=365)
    rows: list[Reminder] = []
    for i in range(total):
        event = events[i % len(events)]
        rule = rules[(i // len(events)) % len(rules)]
        round_ = i // (len(events) * len(rules))
        is_due = i < due
        assert not is_due or round_ == 0, "not enough participants for the due rows"
        rows.append(
            Reminder(
                rule=rule,
                event=event,
                participant_id=event.participant_id,
                site_id=event.site_id,
                channel="email",
                event_date=event.planned_date + dt.timedelta(days=round_ * 400),
                send_at=now if is_due else far,
                due_at=now if is_due else far,
                expires_at=now + dt.timedelta(hours=6) if is_due else far + dt.timedelta(hours=6),
            )
        )
    Reminder.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reminders_reminder")


def purge_queue() -> None:
    from trialsite.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("reminders")


def bench_dispatch(now: dt.datetime) -> tuple[float, rs.DispatchResult]:
    purge_queue()
    t0 = time.perf_counter()
    result = rs.reminders_dispatch(now=now, enqueue=publish_sends)
    return time.perf_counter() - t0, result


def bench_delivery(smtp_port: int, counter: Counter, due: int, now: dt.datetime) -> tuple[float, float]:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        # Workers keep their database connection between tasks (as in docker-compose.yml).
        "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "300"),
    }
    log = open(ROOT / "var" / "bench-reminders-worker.log", "w")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            *(
                sys.executable,
                "-m",
                "celery",
                "-A",
                "trialsite",
                "worker",
                "-Q",
                "reminders",
                "--concurrency",
                os.environ.get("BENCH_CONCURRENCY", "2"),
            ),
            *(
                "--pool",
                os.environ.get("BENCH_POOL", "prefork"),
                "--loglevel",
                os.environ.get("BENCH_LOGLEVEL", "WARNING"),
                "--without-gossip",
                "--without-mingle",
                "--purge",
            ),
            *("--prefetch-multiplier", os.environ.get("BENCH_PREFETCH", "1")),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        time.sleep(6)  # the worker starts (not timed)
        # The dispatcher's claim leaves rows queued: put them back to pending for the timed run.
        Reminder.objects.filter(status="queued").update(status="pending", lease_until=None)
        counter.count = 0
        t0 = time.perf_counter()
        rs.reminders_dispatch(now=now, enqueue=publish_sends)
        while counter.count < due:
            time.sleep(0.05)
            if time.perf_counter() - t0 > 900:
                raise RuntimeError(f"only {counter.count} delivered after 900 s")
        elapsed = time.perf_counter() - t0
        sent = Reminder.objects.filter(status="sent").count()
        assert sent == due, (sent, due)
        return elapsed, due / elapsed
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()


def _messages(due: int, now: dt.datetime) -> list[EmailMessage]:
    out = []
    for r in Reminder.objects.filter(due_at__lte=now).select_related("participant").order_by("id")[:due]:
        m = EmailMessage()
        m["From"] = settings.DEFAULT_FROM_EMAIL
        m["To"] = r.participant.email
        m["Subject"] = "Reminder: cycle day 1"
        m["Message-ID"] = f"<reminder-{r.idempotency_key}@trialsite>"
        m.set_content("Reminder from Sample Hospital: your visit is on Tuesday 17 March 2026 at 08:30.")
        out.append(m)
    return out


def bench_baseline(port: int, counter: Counter, messages: list[EmailMessage]) -> float:
    """The floor: plain smtplib, one process, one SMTP session per message."""
    counter.count = 0
    t0 = time.perf_counter()
    for m in messages:
        with smtplib.SMTP("127.0.0.1", port) as s:
            s.send_message(m)
    return len(messages) / (time.perf_counter() - t0)


def bench_one_session(port: int, counter: Counter, messages: list[EmailMessage]) -> float:
    counter.count = 0
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as s:
        for m in messages:
            s.send_message(m)
    return len(messages) / (time.perf_counter() - t0)


def main() -> None:
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    t0 = time.perf_counter()
    setup_rows(args.total, args.due, now)
    print(f"setup: {args.total} pending rows, {args.due} due, in {time.perf_counter() - t0:.1f} s")

    elapsed, result = bench_dispatch(now)
    print(
        f"dispatcher: claimed and enqueued {result.enqueued} of {result.claimed} due reminders "
        f"in {elapsed:.2f} s ({result.enqueued / elapsed:.0f}/s; target < 10 s), "
        f"{-(-result.enqueued // settings.REMINDER_SEND_BATCH)} send tasks of up to {settings.REMINDER_SEND_BATCH}"
    )

    counter = Counter()
    with socket.socket() as probe:  # aiosmtpd checks readiness on its port: it needs a real number
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        # The baseline is measured just before and just after the delivery, and the ratio taken
        # to their mean: on a shared machine the load moves within a minute, and one baseline
        # measured after the delivery alone swung the ratio by ±50 %.
        messages = _messages(args.due, now)
        before = bench_baseline(port, counter, messages)
        elapsed, rate = bench_delivery(port, counter, args.due, now)
        after = bench_baseline(port, counter, messages)
        one_session = bench_one_session(port, counter, messages)
        baseline = (before + after) / 2
        print(f"delivery (1 worker, 2 processes): {args.due} messages in {elapsed:.1f} s = {rate:.0f} messages/s")
        print(
            f"baseline smtplib, one process, one session per message: {before:.0f} messages/s before the "
            f"delivery, {after:.0f} after (mean {baseline:.0f})"
        )
        print(f"baseline smtplib, one process, one session for all (reference): {one_session:.0f} messages/s")
        print(
            f"delivery / baseline (session per message): {rate / baseline:.2f} "
            f"(to the one before {rate / before:.2f}, after {rate / after:.2f}; target >= 0.5)"
        )
    finally:
        controller.stop()
        purge_queue()
        Reminder.objects.all().delete()


if __name__ == "__main__":
    main()
