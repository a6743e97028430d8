"""Production mode and the embedded development defaults, each in a fresh process (settings are
read once at start-up, so a subprocess is the honest way to see them)."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'trialsite.settings'); django.setup();"
# Keys as `manage.py generate_key` prints them (32 bytes, base64url); for these tests only.
CHAIN_KEY = "t2026a:" + base64.urlsafe_b64encode(b"c" * 32).decode().rstrip("=")
SEED_KEY = "t2026a:" + base64.urlsafe_b64encode(b"s" * 32).decode().rstrip("=")
PROD = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 20 + "-Zq7#p9$Lm2@vX4!rT8&yW1*uB6^nC3%sD5(eF0)gH" + "x" * 10,
    "ALLOWED_HOSTS": "trialsite.example.org",
    "ALLOCATION_CHAIN_KEY": CHAIN_KEY,
    "SEED_ENCRYPTION_KEY": SEED_KEY,
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


@pytest.mark.parametrize("variable", ["ALLOCATION_CHAIN_KEY", "SEED_ENCRYPTION_KEY"])
@pytest.mark.parametrize(
    "value, message",
    [
        ("", "is not set. Production mode (DEBUG=false) needs it"),
        ("dev-key", "each key is '<id>:<32 bytes in base64url>'"),
        ("k1:" + base64.urlsafe_b64encode(b"short").decode(), "each key is '<id>:<32 bytes in base64url>'"),
    ],
)
def test_production_needs_its_own_chain_and_seed_keys(variable: str, value: str, message: str) -> None:
    result = manage("check", env={**PROD, variable: value})
    assert result.returncode != 0
    assert f"{variable}" in result.stderr and message in result.stderr


def test_production_refuses_the_public_development_keys() -> None:
    from django.conf import settings

    dev = "dev:" + base64.urlsafe_b64encode(settings.ALLOCATION_CHAIN_KEYS["dev"]).decode().rstrip("=")
    result = manage("check", env={**PROD, "ALLOCATION_CHAIN_KEY": dev})
    assert result.returncode != 0 and "is the public development key" in result.stderr


def test_generate_key_prints_a_key_the_settings_accept() -> None:
    key = manage("generate_key", "--id", "2026b", env={}).stdout.strip()
    assert key.startswith("2026b:")
    show = "from django.conf import settings as s; print(s.ALLOCATION_CHAIN_KEY_ID, *sorted(s.ALLOCATION_CHAIN_KEYS))"
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        show,
        env={**PROD, "ALLOCATION_CHAIN_KEY": key, "ALLOCATION_CHAIN_OLD_KEYS": CHAIN_KEY},
    )
    assert result.stdout.split() == ["2026b", "2026b", "t2026a"], result.stderr


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
from tests.support.signatures import signed

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
    signature = signed(nurse, "randomize", at=now)
    print(rs.participant_randomize(participant=p, by=nurse, now=now, signature=signature).sequence)
print("verified" if verify_trial(trial).ok else "NOT VERIFIED")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a loopback URL of the test
            return int(response.status)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def _group_alive(pgid: int) -> list[str]:
    found = subprocess.run(["pgrep", "-a", "-g", str(pgid)], capture_output=True, text=True)
    return found.stdout.splitlines()


@pytest.mark.slow
def test_make_run_serves_the_embedded_defaults_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`make run` as a newcomer runs it: SQLite and the filesystem broker under the var directory,
    migrations and seed_demo, the web server answering, a real worker with beat running a task, the
    nurse's randomization working; and a SIGTERM sent to make stops the web server and the worker
    (not only Ctrl-C)."""
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "CACHE_URL")
        and not k.startswith(("DJANGO_", "PYTEST_"))
    }
    env.update({"TRIALSITE_VAR_DIR": str(tmp_path), "DEBUG": "true"})
    venv = sys.prefix  # this test's own virtualenv: `-o` keeps make from reinstalling it
    log = (tmp_path / "make-run.log").open("w")
    make = subprocess.Popen(
        ["make", f"VENV={venv}", "-o", f"{venv}/.installed", "run", f"VAR={tmp_path}", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so that the test can find every child
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and _get(f"http://127.0.0.1:{port}/healthz") != 200:
            assert make.poll() is None, (tmp_path / "make-run.log").read_text()
            time.sleep(1)
        assert _get(f"http://127.0.0.1:{port}/healthz") == 200, (tmp_path / "make-run.log").read_text()
        assert (tmp_path / "trialsite.sqlite3").exists()
        assert "trialsite-demo" in (tmp_path / "make-run.log").read_text()  # seed_demo printed the logins

        # the nurse's workflow works on the embedded default too
        demo = subprocess.run(
            [sys.executable, "-c", SETUP + DEMO_RANDOMIZATION],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert demo.returncode == 0, demo.stderr
        assert demo.stdout.split() == ["1", "2", "3", "verified"], demo.stdout

        # make run's worker takes a task from the filesystem broker
        send = subprocess.run(
            [sys.executable, "-c", SETUP + "from trialsite.tasks import heartbeat; heartbeat.delay()"],
            cwd=ROOT,
            env=env,
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
                [sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
            ).stdout.strip()
        assert seen == "1", "make run's worker did not run the heartbeat task on the filesystem broker"
        running = _group_alive(make.pid)
        assert any("runserver" in line for line in running) and any("celery" in line for line in running)

        # when: SIGTERM to make itself
        make.send_signal(signal.SIGTERM)
        make.wait(timeout=60)
        # then: the web server, its autoreload child and the worker stop too
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _group_alive(make.pid):
            time.sleep(1)
        assert _group_alive(make.pid) == [], "still running after SIGTERM to make"
        assert _get(f"http://127.0.0.1:{port}/healthz") == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGKILL)
        log.close()
