from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulesConfig(AppConfig):
    """Treatment plans, bookings and reminders."""

    name = "schedules"
    verbose_name = _("Schedules")

    def ready(self) -> None:
        from randomization import services as randomization_services
        from schedules import (  # noqa: F401  (connect the signal receivers, register the jobs)
            jobs,
            receivers,
            reminder_receivers,
            services,
            worklists,
        )

        # Randomize makes the plan by a direct call (randomization sits below schedules).
        randomization_services.plan_maker_register(services.treatment_plan_at_randomization)
