"""The settings of issue 12 §6-§8, each read in a fresh process as production reads them."""

from __future__ import annotations

import pytest

from tests.trialsite.test_settings import PROD, manage

SHOW = "from django.conf import settings; print({})"


def _show(expression: str, env: dict[str, str]) -> str:
    result = manage("shell", "--no-imports", "-c", SHOW.format(expression), env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("env", "expected"), [({}, "True"), (PROD, "False"), ({**PROD, "API_DOCS_PUBLIC": "true"}, "True")]
)
def test_the_api_docs_are_public_by_default_only_in_development(env: dict[str, str], expected: str) -> None:
    assert _show("settings.API_DOCS_PUBLIC", env) == expected


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TRUSTED_PROXIES", "10.0.0.2,proxy.local", "TRUSTED_PROXIES"),
        ("CLIENT_IP_HEADER", "X Forwarded For", "CLIENT_IP_HEADER"),
        ("SESSION_IDLE_TIMEOUT_MINUTES", "0", "SESSION_IDLE_TIMEOUT_MINUTES"),
        ("SESSION_MAX_AGE_HOURS", "1000", "SESSION_MAX_AGE_HOURS"),
    ],
)
def test_a_bad_value_is_a_clear_startup_error(variable: str, value: str, message: str) -> None:
    result = manage("check", env={variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_the_lockout_counts_name_and_address_together() -> None:
    assert _show("settings.AXES_LOCKOUT_PARAMETERS", {}) == "[['username', 'ip_address']]"
    assert _show("settings.AXES_CLIENT_IP_CALLABLE", {}) == "trialsite.client_ip.client_ip"


def test_at_log_level_debug_templates_dump_no_context() -> None:
    # A failed lookup in a template is logged by django.template at DEBUG with the whole object
    # it looked in (here a participant's name and birth date).
    render = (
        "from django.template import engines; "
        "t = engines['django'].from_string('{{ participant.nosuch }}'); "
        "t.render({'participant': {'full_name': 'Zhang Wei', 'birth_date': '1960-01-01'}}); "
        "import logging; logging.getLogger('trialsite').debug('debug is on'); print('done')"
    )
    result = manage("shell", "--no-imports", "-c", render, env={"LOG_LEVEL": "DEBUG"})
    assert result.stdout.strip() == "done", result.stderr
    assert "debug is on" in result.stderr  # DEBUG really is on for the application's loggers
    assert "Zhang Wei" not in result.stderr
    assert "VariableDoesNotExist" not in result.stderr
