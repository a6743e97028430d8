"""Shared fixtures. The suite runs on PostgreSQL (select_for_update, triggers and concurrency
need it) and refuses SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import ParticipantFactory
from trialsite import roles, services
from trialsite.models import Participant, Site, SiteMembership, Trial

PROTOCOL_PATH = settings.PROTOCOL_DIR / "NCT06850103.yaml"


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = settings.DATABASES["default"]
    return [
        f"trialsite database: {db['ENGINE'].rsplit('.', 1)[-1]} {db.get('HOST') or ''}:{db.get('PORT') or ''} "
        f"(tests use test_{db.get('NAME')})",
        f"trialsite broker: {settings.CELERY_BROKER_URL}",
    ]


def pytest_configure(config: pytest.Config) -> None:
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.exit("The test suite runs on PostgreSQL only. Set DATABASE_URL=postgres://… (see README).", returncode=2)
    # Test users' passwords are hashed with a fast hasher: PBKDF2 at Django's production work
    # factor costs about 180 ms a user here, and the suite makes thousands of users (issue 16).
    # Production keeps Django's default hashers (settings.py); nothing in the suite measures them.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Every test user's password (the signed acts ask for it again).
TEST_PASSWORD = "pw-for-tests-1"


@pytest.fixture(scope="session", autouse=True)
def _end_stray_sessions(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """Threads of the concurrency, live-server and worker tests can leave a database session open;
    end them before pytest-django drops the test database, so that teardown is clean."""
    yield
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session")
def app_role(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """The application's database role (row privileges only) in the test database."""
    from tests.support.app_role import create_app_role, drop_app_role

    with django_db_blocker.unblock():
        role = create_app_role()
    yield role
    with django_db_blocker.unblock():
        drop_app_role(role)


@pytest.fixture
def as_app_role(db: Any, app_role: str) -> str:
    """The rest of the test's transaction runs with the application role's privileges (SET LOCAL
    ROLE: what a connection logged in as that role may do, in the test's own transaction; the
    rollback at the end of the test ends it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {connection.ops.quote_name(app_role)}")
    return app_role


@pytest.fixture(autouse=True)
def _chain_heads_in_tmp(settings: Any, tmp_path: Any) -> None:
    """Chain heads published on commit (transactional tests) go to the test's own file, not var/."""
    settings.ALLOCATION_HEAD_FILE = tmp_path / "allocation-heads.jsonl"


@pytest.fixture(autouse=True)
def _english_by_default() -> None:
    """The test client runs requests in this thread, and LocaleMiddleware leaves the last request's
    language active: start every test in the default language."""
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def trial(db: Any) -> Trial:
    version, _ = services.protocol_load(by=None, path=PROTOCOL_PATH)
    return version.trial


@pytest.fixture
def site(trial: Trial) -> Site:
    return Site.objects.get(code="ZJU1")


@pytest.fixture
def other_site(trial: Trial) -> Site:
    return Site.objects.get(code="NBH2")


UserMaker = Callable[..., User]


@pytest.fixture(scope="session")
def role_permissions(django_db_setup: Any, django_db_blocker: Any) -> dict[str, list[tuple[str, str]]]:
    """The roles' permissions as the migrations made them, read once. A transactional test's flush
    empties the groups, so make_user puts them back from this snapshot."""
    with django_db_blocker.unblock():
        return {
            g.name: list(g.permissions.values_list("content_type__app_label", "codename"))
            for g in Group.objects.filter(name__in=roles.ROLES)
        }


def _restore_role(group: Group, perms: list[tuple[str, str]]) -> None:
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Permission

    if not perms or group.permissions.exists():
        return
    if Permission.objects.count() == 0:
        for config in apps.get_app_configs():
            create_permissions(config, verbosity=0)
    for app_label, codename in perms:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


@pytest.fixture
def make_user(db: Any, role_permissions: dict[str, list[tuple[str, str]]]) -> UserMaker:
    counter = {"n": 0}

    def make(role: str, sites: Iterable[Site] = (), *, username: str | None = None) -> User:
        counter["n"] += 1
        user = User.objects.create_user(
            username=username or f"{role}{counter['n']}", password=TEST_PASSWORD, is_staff=role in roles.ADMIN_ROLES
        )
        group, _ = Group.objects.get_or_create(name=role)
        _restore_role(group, role_permissions.get(role, []))
        user.groups.add(group)
        for s in sites:
            SiteMembership.objects.create(user=user, site=s)
        Token.objects.create(user=user)
        return user

    return make


@pytest.fixture
def nurse(make_user: UserMaker, site: Site) -> User:
    return make_user(roles.RESEARCH_NURSE, [site], username="nurse")


@pytest.fixture
def other_nurse(make_user: UserMaker, other_site: Site) -> User:
    return make_user(roles.RESEARCH_NURSE, [other_site], username="nurse_b")


@pytest.fixture
def pharmacist(make_user: UserMaker, site: Site, other_site: Site) -> User:
    return make_user(roles.PHARMACIST, [site, other_site], username="pharmacist")


@pytest.fixture
def pharmacist2(make_user: UserMaker, site: Site, other_site: Site) -> User:
    return make_user(roles.PHARMACIST, [site, other_site], username="pharmacist2")


@pytest.fixture
def investigator(make_user: UserMaker, site: Site, other_site: Site) -> User:
    return make_user(roles.INVESTIGATOR, [site, other_site], username="investigator")


@pytest.fixture
def statistician(make_user: UserMaker, site: Site, other_site: Site) -> User:
    return make_user(roles.STATISTICIAN, [site, other_site], username="statistician")


@pytest.fixture
def api_client_user(make_user: UserMaker, site: Site) -> User:
    return make_user(roles.API_CLIENT, [site], username="his")


@pytest.fixture
def api() -> Callable[[User | None], APIClient]:
    """api(user) → an APIClient authenticated with the user's token (None: anonymous) that signs
    the signed acts with the test users' password (X-Signature-Password, trialsite.signatures;
    tests/trialsite/test_signatures.py calls without it)."""

    def client(user: User | None) -> APIClient:
        c = APIClient()
        if user is not None:
            c.credentials(
                HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}", HTTP_X_SIGNATURE_PASSWORD=TEST_PASSWORD
            )
        return c

    return client


@pytest.fixture
def today() -> dt.date:
    return dt.date(2026, 3, 2)


@pytest.fixture
def participant(trial: Trial, site: Site) -> Participant:
    return ParticipantFactory(trial=trial, site=site)
