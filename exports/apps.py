from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExportsConfig(AppConfig):
    """CSV and Excel exports of the registry, schedules, dosing and reminders, and the
    statistician's allocation record (CSV and CDISC ODM): reads only, through each app's data."""

    name = "exports"
    verbose_name = _("exports")
