"""The WSGI module warms a server process up before it serves anyone, without touching the
database (gunicorn --preload imports it in the master, before the workers fork)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import trialsite.wsgi
from django.db import connections
lazy = [m for m in ("schedules.api", "dosing.api", "randomization.api", "holidays.countries") if m not in sys.modules]
opened = [c.alias for c in connections.all(initialized_only=True) if c.connection is not None]
print(lazy, opened)
"""


def test_the_wsgi_module_loads_every_view_and_opens_no_connection() -> None:
    from tests.trialsite.test_settings import CHAIN_KEY, SEED_KEY

    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "wsgi-test-" + "x" * 50,
        "ALLOWED_HOSTS": "localhost",
        "ALLOCATION_CHAIN_KEY": CHAIN_KEY,
        "SEED_ENCRYPTION_KEY": SEED_KEY,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[] []"
