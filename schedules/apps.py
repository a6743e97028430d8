from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulesConfig(AppConfig):
    """Treatment plans, bookings, closures and calendar feeds."""

    name = "schedules"
    verbose_name = _("Schedules")

    def ready(self) -> None:
        from schedules import receivers, worklists  # noqa: F401  (connect the signal receivers)
