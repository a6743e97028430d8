"""The client's address behind the proxy, and the lock-out on name and address (issue 12 §6)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory

from trialsite.client_ip import client_ip, parse_networks

PROXY = "10.0.0.2"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def behind_proxy(settings: Any) -> None:
    settings.TRUSTED_PROXIES = [PROXY]
    settings.TRUSTED_PROXY_NETWORKS = parse_networks([PROXY, "172.16.0.0/12"])
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"


def _request(remote: str, forwarded: str | None = None) -> Any:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        (PROXY, "203.0.113.7", "203.0.113.7"),
        # The client's own header entries are left of what the proxy appended: ignored.
        (PROXY, "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        # Two trusted hops (the outer proxy 172.16.1.1 appended the client): skipped from the right.
        (PROXY, "198.51.100.1, 203.0.113.7, 172.16.1.1", "203.0.113.7"),
        (PROXY, "203.0.113.7:51234", "203.0.113.7"),
        (PROXY, "[2001:db8::7]:443", "2001:db8::7"),
        # Garbage in the header: the proxy itself is the client, never the garbage.
        (PROXY, "not-an-address", PROXY),
        (PROXY, "", PROXY),
        (PROXY, None, PROXY),
        # From an address that is not a trusted proxy the header is a spoof: REMOTE_ADDR counts.
        ("198.51.100.9", "203.0.113.7", "198.51.100.9"),
        ("::ffff:198.51.100.9", "203.0.113.7", "198.51.100.9"),
    ],
)
def test_client_ip_reads_the_header_only_from_a_trusted_proxy(
    behind_proxy: None, remote: str, forwarded: str | None, expected: str
) -> None:
    assert client_ip(_request(remote, forwarded)) == expected


def test_without_trusted_proxies_the_header_is_never_believed(settings: Any) -> None:
    settings.TRUSTED_PROXY_NETWORKS = ()
    assert client_ip(_request("127.0.0.1", "203.0.113.7")) == "127.0.0.1"


def test_a_bad_trusted_proxy_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        parse_networks(["10.0.0.0/8", "proxy.example.org"])


# --- the lock-out -------------------------------------------------------------------------


@pytest.fixture
def staff(db: Any) -> tuple[User, User]:
    alice = User.objects.create_user("alice", password=PASSWORD, is_staff=True)
    bob = User.objects.create_user("bob", password=PASSWORD, is_staff=True)
    return alice, bob


def _login(username: str, password: str, *, remote: str, forwarded: str | None = None) -> int:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    response = Client().post("/admin/login/?next=/admin/", {"username": username, "password": password}, **extra)
    return response.status_code


def _signs_in(username: str, *, remote: str, forwarded: str | None = None) -> bool:
    # The admin answers a good login with a redirect, a wrong one with 200 (the form again),
    # and a locked-out one with axes' 429.
    return _login(username, PASSWORD, remote=remote, forwarded=forwarded) == 302


@pytest.mark.django_db
def test_one_user_mistyping_does_not_lock_out_a_colleague_behind_the_same_proxy(
    behind_proxy: None, staff: tuple[User, User]
) -> None:
    # given: alice mistypes five times from the ward's PC, all through the proxy
    for _ in range(5):
        _login("alice", "wrong", remote=PROXY, forwarded="192.0.2.10")
    # then: alice is locked out there...
    assert _login("alice", PASSWORD, remote=PROXY, forwarded="192.0.2.10") == 429
    # ...but bob, on the same PC and through the same proxy, signs in,
    assert _signs_in("bob", remote=PROXY, forwarded="192.0.2.10")
    # and so does alice from her office PC.
    assert _signs_in("alice", remote=PROXY, forwarded="192.0.2.20")


@pytest.mark.django_db
def test_an_anonymous_attacker_cannot_lock_out_everyone(behind_proxy: None, staff: tuple[User, User]) -> None:
    # given: an attacker tries every name (and invented ones) five times each through the proxy
    for username in ("alice", "bob", "admin", "root"):
        for _ in range(5):
            _login(username, "guess", remote=PROXY, forwarded="198.51.100.66")
    # then: the attacker is locked out for those names...
    assert _login("alice", PASSWORD, remote=PROXY, forwarded="198.51.100.66") == 429
    # ...and the staff, from their own addresses behind the same proxy, are not.
    assert _signs_in("alice", remote=PROXY, forwarded="192.0.2.10")
    assert _signs_in("bob", remote=PROXY, forwarded="192.0.2.11")


@pytest.mark.django_db
def test_a_spoofed_header_from_a_non_proxy_address_is_ignored(behind_proxy: None, staff: tuple[User, User]) -> None:
    # given: a client reaching gunicorn directly claims to be alice's PC (192.0.2.1) five times
    attacker = "198.51.100.66"
    for _ in range(5):
        _login("alice", "guess", remote=attacker, forwarded="192.0.2.1")
    # then: the attempts counted against its real address, which is locked out for alice,
    assert _login("alice", PASSWORD, remote=attacker, forwarded="192.0.2.99") == 429
    # and the address it named was not charged: alice at 192.0.2.1, behind the proxy, signs in.
    assert _signs_in("alice", remote=PROXY, forwarded="192.0.2.1")
