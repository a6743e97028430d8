"""Role permissions of the toxicity log, and the CTCAE v5.0 terms shipped with the project
(adverse_events/data, source in its README): nurses and investigators record and change
toxicities, investigators acknowledge SAEs, pharmacists (for dosing) and statisticians read."""

from typing import Any

from django.db import migrations

from trialsite.roles import grant_permissions

READ = ["adverse_events.view_adverseevent", "adverse_events.view_term"]
WRITE = ["adverse_events.add_adverseevent", "adverse_events.change_adverseevent"]
PERMISSIONS = {
    "research_nurse": [*READ, *WRITE],
    "investigator": [*READ, *WRITE, "adverse_events.acknowledge_adverseevent", "adverse_events.view_saealert"],
    "pharmacist": READ,
    "statistician": READ,
}


def grant(apps: Any, schema_editor: Any) -> None:
    grant_permissions(apps, PERMISSIONS)


def load_terms(apps: Any, schema_editor: Any) -> None:
    from adverse_events import ctcae

    Term = apps.get_model("adverse_events", "Term")
    for spec in ctcae.read(ctcae.SHIPPED):
        Term.objects.update_or_create(
            term=spec.term,
            defaults={
                "term_zh": spec.term_zh,
                "meddra_code": spec.meddra_code,
                "soc": spec.soc,
                "grades": spec.grades,
                "source": ctcae.SHIPPED.name,
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("adverse_events", "0001_initial"),
        ("trialsite", "0002_roles"),
    ]

    operations = [
        migrations.RunPython(grant, migrations.RunPython.noop),
        migrations.RunPython(load_terms, migrations.RunPython.noop),
    ]
