"""Production mode and the embedded development defaults, each in a fresh process (settings are
read once at start-up, so a subprocess is the honest way to see them)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'trialsite.settings'); django.setup();"
PROD = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-Zq7#p9$Lm2@vX4!rT8&yW1*uB6^nC3%sD5(eF0)gH" + "x" * 10,
    "ALLOWED_HOSTS": "trialsite.example.org",
}


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_check_deploy_is_clean_in_production_mode() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PROD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_without_secret_key_is_a_clear_startup_error() -> None:
    env = {**PROD, "SECRET_KEY": ""}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_cache_url_selects_a_shared_redis_cache_or_fails_loudly() -> None:
    show = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    shared = manage("shell", "--no-imports", "-c", show, env={"CACHE_URL": "redis://127.0.0.1:6379/1"})
    assert shared.stdout.strip() == "django.core.cache.backends.redis.RedisCache", shared.stderr
    local = manage("shell", "--no-imports", "-c", show, env={"CACHE_URL": ""})
    assert local.stdout.strip() == "django.core.cache.backends.locmem.LocMemCache", local.stderr
    wrong = manage("check", env={"CACHE_URL": "memcached://127.0.0.1:11211"})
    assert wrong.returncode != 0
    assert "CACHE_URL must be a redis:// URL" in wrong.stderr


def test_log_level_is_the_threshold_for_django_loggers_too() -> None:
    # django.request logs every 4xx as a warning; its records reach the root handler without
    # passing the root logger's level, so LOG_LEVEL must hold at the handler.
    log = "import logging; logging.getLogger('django.request').warning('a 409 here'); print('done')"
    quiet = manage("shell", "--no-imports", "-c", log, env={"LOG_LEVEL": "error"})
    assert quiet.stdout.strip() == "done" and "a 409 here" not in quiet.stderr, quiet.stderr
    loud = manage("shell", "--no-imports", "-c", log, env={"LOG_LEVEL": "WARNING"})
    assert "WARNING django.request a 409 here" in loud.stderr
    wrong = manage("check", env={"LOG_LEVEL": "chatty"})
    assert wrong.returncode != 0 and "LOG_LEVEL must be" in wrong.stderr


def test_a_bad_time_zone_fails_loudly() -> None:
    result = manage("check", env={"TIME_ZONE": "Mars/Olympus"})
    assert result.returncode != 0
    assert "TIME_ZONE='Mars/Olympus' is not a known IANA time zone" in result.stderr


# Activate the scheme, screen and randomize three participants, verify the record (SQLite).
DEMO_RANDOMIZATION = """
from django.contrib.auth.models import User
from django.utils import timezone
from randomization import services as rs
from randomization.verification import verify_trial
from tests.factories import ParticipantFactory
from tests.randomization.conftest import GOOD_LABS, good_findings
from trialsite import labs, services
from trialsite.models import Site, Trial

trial = Trial.objects.get(registry_id="NCT06850103")
statistician, nurse = User.objects.get(username="statistician"), User.objects.get(username="nurse")
now = timezone.now()
today = timezone.localdate(now)
rs.scheme_activate(scheme=rs.scheme_create(trial=trial, by=statistician), by=statistician, now=now)
for i in range(3):
    p = ParticipantFactory(trial=trial, site=Site.objects.get(code="ZJU1"), consent_date=today)
    for analyte, value in GOOD_LABS.items():
        unit = labs.ANALYTES[analyte].unit
        services.lab_result_record(
            participant=p, analyte=analyte, value=value, unit=unit, collected_on=today, by=None, today=today
        )
    services.measurement_record(participant=p, kind="weight", value="68", measured_on=today, by=None, today=today)
    findings = good_findings(trial.definition, ecog=i % 2)
    rs.screening_assessment_record(participant=p, assessed_on=today, findings=findings, by=nurse, today=today)
    print(rs.participant_randomize(participant=p, by=nurse, now=now).sequence)
print("verified" if verify_trial(trial).ok else "NOT VERIFIED")
"""


@pytest.mark.slow
def test_embedded_defaults_run_migrations_seed_and_a_real_worker(tmp_path: Path) -> None:
    """What `make run` does, minus the web server: SQLite and the filesystem broker under var/,
    a real Celery worker with beat, and the heartbeat task arriving in the database."""
    env = {
        "TRIALSITE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "CELERY_BROKER_URL": "",
        "REDIS_URL": "",
        "DEBUG": "true",
    }
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL") and not k.startswith(("DJANGO_", "PYTEST_"))
    }
    full_env = {**base, **{k: v for k, v in env.items() if v}}

    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr
    seed = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120
    )
    assert seed.returncode == 0, seed.stderr
    assert "nurse" in seed.stdout and "trialsite-demo" in seed.stdout
    assert (tmp_path / "trialsite.sqlite3").exists()
    # the nurse's workflow works on the embedded default too (randomize's raw SQL is portable)
    demo = subprocess.run(
        [sys.executable, "-c", SETUP + DEMO_RANDOMIZATION],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.split() == ["1", "2", "3", "verified"], demo.stdout

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "trialsite",
            "worker",
            "--pool",
            "solo",
            "-Q",
            "default,reminders",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        send = subprocess.run(
            [
                sys.executable,
                "-c",
                SETUP + "from trialsite.tasks import heartbeat; heartbeat.delay()",
            ],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert send.returncode == 0, send.stderr
        check = SETUP + "from trialsite.models import WorkerHeartbeat; print(WorkerHeartbeat.objects.count())"
        deadline = time.monotonic() + 60
        seen = "0"
        while time.monotonic() < deadline and seen != "1":
            time.sleep(1)
            seen = subprocess.run(
                [sys.executable, "-c", check], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=60
            ).stdout.strip()
        assert seen == "1", "the worker did not run the heartbeat task on the filesystem broker"
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
