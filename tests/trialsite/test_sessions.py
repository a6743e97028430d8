"""Sessions end after inactivity and after a maximum age (issue 12 §7, 21 CFR 11.300)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def _signed_in(client: Client) -> bool:
    response = client.get("/admin/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


@pytest.fixture
def nurse_client(nurse: User) -> Client:
    """Signed in at START (the tests travel there first: signing in starts the session's clocks)."""
    client = Client()
    with time_machine.travel(START, tick=False):
        client.force_login(nurse)
    return client


def test_the_defaults_are_30_minutes_idle_and_12_hours(settings: Any) -> None:
    assert settings.SESSION_IDLE_TIMEOUT_MINUTES == 30
    assert settings.SESSION_MAX_AGE_HOURS == 12
    assert settings.SESSION_COOKIE_AGE == 12 * 3600


def test_a_session_idle_for_longer_than_the_timeout_is_signed_out(nurse_client: Client) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        assert _signed_in(nurse_client)
        traveller.shift(dt.timedelta(minutes=29))
        assert _signed_in(nurse_client)  # 29 minutes idle: still in, and the clock restarts
        traveller.shift(dt.timedelta(minutes=29))
        assert _signed_in(nurse_client)
        traveller.shift(dt.timedelta(minutes=31))
        response = nurse_client.get("/admin/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
        # and the session is gone for good, not only for that request
        assert not _signed_in(nurse_client)


def test_the_api_refuses_an_idle_session(nurse_client: Client) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        assert nurse_client.get("/api/v1/participants/").status_code == 200
        traveller.shift(dt.timedelta(minutes=31))
        assert nurse_client.get("/api/v1/participants/").status_code in (401, 403)


def test_a_busy_session_still_ends_at_the_maximum_age(nurse_client: Client) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        assert _signed_in(nurse_client)
        for _ in range(35):  # a request every 20 minutes for 11 h 40 min
            traveller.shift(dt.timedelta(minutes=20))
            assert _signed_in(nurse_client)
        traveller.shift(dt.timedelta(minutes=15))  # 11 h 55 min since signing in
        assert _signed_in(nurse_client)
        traveller.shift(dt.timedelta(minutes=15))  # 12 h 10 min
        assert not _signed_in(nurse_client)


def test_the_timeouts_are_settings(nurse_client: Client, settings: Any) -> None:
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 5
    with time_machine.travel(START, tick=False) as traveller:
        assert _signed_in(nurse_client)
        traveller.shift(dt.timedelta(minutes=6))
        assert not _signed_in(nurse_client)


def test_a_token_client_has_no_session_to_time_out(api_client_user: User, api: Any) -> None:
    client = api(api_client_user)
    with time_machine.travel(START, tick=False) as traveller:
        assert client.get("/api/v1/participants/").status_code == 200
        traveller.shift(dt.timedelta(hours=13))
        assert client.get("/api/v1/participants/").status_code == 200


def _sign_in(client: Client) -> bool:
    response = client.post("/admin/login/?next=/admin/", {"username": "nurse", "password": "pw-for-tests-1"})
    return response.status_code == 302


def test_signing_in_again_restarts_the_maximum_age(nurse: User) -> None:
    client = Client()
    with time_machine.travel(START, tick=False) as traveller:
        assert _sign_in(client)
        for _ in range(34):  # busy until 11 h 20 min
            traveller.shift(dt.timedelta(minutes=20))
            assert _signed_in(client)
        # signing in again (same user, same browser: Django keeps the session's data)
        assert _sign_in(client)
        for _ in range(3):  # on to 12 h 20 min since the first sign-in, 1 h since the second
            traveller.shift(dt.timedelta(minutes=20))
            assert _signed_in(client)
