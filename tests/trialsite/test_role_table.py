"""The role table (trialsite.roles.PERMISSIONS) is the only place a role's rights are written:
after `migrate`, every role's group holds exactly the table's permissions, no more and no less,
and the role-migration generator writes the migration that makes a database agree with it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from trialsite import roles


def held(role: str) -> set[str]:
    return {
        f"{label}.{codename}"
        for label, codename in Group.objects.get(name=role).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


@pytest.mark.django_db
@pytest.mark.parametrize("role", roles.ROLES)
def test_every_role_holds_exactly_the_tables_permissions_after_migrate(role: str) -> None:
    table = set(roles.role_permissions(role))
    assert held(role) - table == set(), f"{role} holds permissions the table does not give"
    assert table - held(role) == set(), f"{role} lacks permissions the table gives"


@pytest.mark.django_db
def test_every_permission_in_the_table_exists() -> None:
    existing = {
        f"{label}.{codename}"
        for label, codename in Permission.objects.values_list("content_type__app_label", "codename")
    }
    assert set(roles.PERMISSIONS) - existing == set()
    assert all(holders <= roles.EVERY_ROLE for holders in roles.PERMISSIONS.values())


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("generated_role_migration", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_the_generated_migration_grants_exactly_the_table_for_its_app(tmp_path: Path) -> None:
    # given a group that drifted from the table in dosing (one right too many, one missing)
    nurse = Group.objects.get(name=roles.RESEARCH_NURSE)
    nurse.permissions.add(Permission.objects.get(content_type__app_label="dosing", codename="verify_dosesheet"))
    nurse.permissions.remove(Permission.objects.get(content_type__app_label="dosing", codename="view_dosesheet"))
    # when the generated migration's operation runs
    call_command("role_migration", "dosing", directory=str(tmp_path), verbosity=0)
    [path] = tmp_path.glob("*_role_permissions.py")
    module = _load(path)
    assert {role: sorted(roles.role_permissions(role, "dosing")) for role in roles.ROLES} == module.PERMISSIONS
    from django.apps import apps
    from django.db import connection

    with connection.schema_editor() as editor:
        module.Migration.operations[0].code(apps, editor)
    # then the app's permissions are the table's again, and other apps' are untouched
    for role in roles.ROLES:
        assert held(role) == set(roles.role_permissions(role)), role
    assert ("dosing", "0002_role_permissions") in module.Migration.dependencies  # after the app's latest


def test_api_writes_are_open_to_the_holders_of_a_permission_of_the_table() -> None:
    """A write endpoint's roles are read from the table (the holders of the permission its
    service checks), never a hand-kept set; a read is open to a role set of trialsite.roles."""
    from tests.security.test_endpoints import api_endpoints

    holders = set(roles.PERMISSIONS.values())
    computes = {"api/v1/dose-calculations/"}  # a POST that writes nothing: a calculator
    for route, view in api_endpoints():
        for method, allowed in view.required_roles.items():
            if method in ("GET", "HEAD") or route in computes:
                assert allowed in holders | {roles.EVERY_ROLE, roles.STAFF_ROLES}, (route, method)
            else:
                assert allowed in holders | {roles.STAFF_ROLES}, (route, method)
