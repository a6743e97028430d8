from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from trialsite.models import ProtocolVersion, Site, SiteMembership, Trial

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_seed_demo_is_idempotent_and_prints_the_logins(db: Any, settings: Any) -> None:
    settings.DEBUG = True  # development, as in `make run` (pytest-django runs tests with DEBUG off)
    first = run("seed_demo")
    counts = (
        Trial.objects.count(),
        Site.objects.count(),
        ProtocolVersion.objects.count(),
        User.objects.count(),
        SiteMembership.objects.count(),
    )
    second = run("seed_demo")

    assert counts == (1, 7, 1, 7, 2 + 5 * 7)
    assert counts == (
        Trial.objects.count(),
        Site.objects.count(),
        ProtocolVersion.objects.count(),
        User.objects.count(),
        SiteMembership.objects.count(),
    )
    for role in ("research_nurse", "pharmacist", "investigator", "statistician", "api_client"):
        assert role in first and role in second
        assert User.objects.filter(groups__name=role).exists()
    assert "already loaded" in second
    assert User.objects.get(username="nurse").check_password("trialsite-demo")


def test_seed_demo_refuses_known_passwords_in_production(db: Any, settings: Any) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--allow-production"):
        run("seed_demo")
    assert not User.objects.exists()


def test_create_api_user_prints_the_token_last(trial: Trial) -> None:
    out = run("create_api_user", "his-zju1", "--role", "api_client", "--site", "ZJU1")

    user = User.objects.get(username="his-zju1")
    assert out.strip().splitlines()[-1] == Token.objects.get(user=user).key
    assert list(user.groups.values_list("name", flat=True)) == ["api_client"]
    assert list(user.site_memberships.values_list("site__code", flat=True)) == ["ZJU1"]
    assert not user.has_usable_password()
    # Running it again keeps the same token (an integration's credentials do not silently change).
    again = run("create_api_user", "his-zju1", "--role", "api_client", "--site", "ZJU1")
    assert again.strip().splitlines()[-1] == Token.objects.get(user=user).key


def test_create_api_user_rejects_unknown_sites_and_roles(trial: Trial) -> None:
    with pytest.raises(CommandError, match="Unknown site code"):
        run("create_api_user", "x", "--role", "api_client", "--site", "NOPE")
    with pytest.raises(CommandError):
        run("create_api_user", "x", "--role", "janitor")
    assert not User.objects.filter(username="x").exists()


def test_compose_file_has_the_production_shape() -> None:
    # Docker does not run on our machines, so the file is checked for its shape here and against
    # the Compose specification by reading.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "db", "redis"} <= set(services)
    assert services["db"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert "gunicorn" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "trialsite", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "trialsite", "beat"]
    for name in ("web", "db", "redis", "worker"):
        assert "healthcheck" in services[name], name
    assert {"pgdata", "redisdata"} <= set(compose["volumes"])
    assert services["web"]["environment"]["DEBUG"] == "false"
    # the workers share one cache, in a Redis database apart from the broker's
    env = services["web"]["environment"]
    assert env["CACHE_URL"].startswith("redis://redis:6379/")
    assert env["CACHE_URL"].rsplit("/", 1)[1] != env["CELERY_BROKER_URL"].rsplit("/", 1)[1]
    assert (ROOT / "Dockerfile").exists()
    # database roles: only the one-shot migrate service has the owner's credentials; web, worker
    # and beat connect as the application role, whose privileges it grants
    owner = services["migrate"]["environment"]["DATABASE_OWNER_URL"]
    assert owner.startswith("postgres://trialsite_owner:")
    assert "grant_app_role trialsite_app" in services["migrate"]["command"][-1]
    for name in ("web", "worker", "beat", "migrate"):
        app_env = services[name]["environment"]
        assert app_env["DATABASE_URL"].startswith("postgres://trialsite_app:"), name
        assert name == "migrate" or "DATABASE_OWNER_URL" not in app_env, name
        assert {"ALLOCATION_CHAIN_KEY", "SEED_ENCRYPTION_KEY"} <= set(app_env), name
    init = services["db"]["volumes"][1].split(":")
    assert init[1].startswith("/docker-entrypoint-initdb.d/") and (ROOT / init[0]).exists()
    # chain heads on a volume of their own
    assert services["web"]["environment"]["ALLOCATION_HEAD_FILE"].startswith("/var/lib/trialsite/chain/")
    assert "chainheads:/var/lib/trialsite/chain" in services["web"]["volumes"]
