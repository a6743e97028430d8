"""The five staff roles as Django groups, with the registry's permissions.

Feature apps grant their own models' permissions in their own migrations, with
trialsite.roles.grant_permissions, so that a role is fully defined by migrations."""

from typing import Any

from django.db import migrations

from trialsite.roles import ROLES, grant_permissions

CLINICAL_EDIT = [
    "trialsite.view_participant",
    "trialsite.add_participant",
    "trialsite.change_participant",
    "trialsite.withdraw_participant",
    "trialsite.view_measurement",
    "trialsite.add_measurement",
    "trialsite.change_measurement",
    "trialsite.view_labresult",
    "trialsite.add_labresult",
    "trialsite.change_labresult",
    "trialsite.view_site",
    "trialsite.view_sitereferencerange",
    "trialsite.view_trial",
]
READ_CLINICAL = [
    "trialsite.view_participant",
    "trialsite.view_measurement",
    "trialsite.view_labresult",
    "trialsite.view_site",
    "trialsite.view_sitereferencerange",
    "trialsite.view_trial",
]

PERMISSIONS = {
    "research_nurse": CLINICAL_EDIT,
    "investigator": CLINICAL_EDIT + ["trialsite.change_sitereferencerange", "trialsite.add_sitereferencerange"],
    "pharmacist": READ_CLINICAL,
    "statistician": READ_CLINICAL + ["trialsite.view_protocolversion", "trialsite.raise_enrollment_cap"],
    "api_client": [],
}


def create_roles(apps: Any, schema_editor: Any) -> None:
    Group = apps.get_model("auth", "Group")
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    grant_permissions(apps, PERMISSIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("trialsite", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
