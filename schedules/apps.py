from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulesConfig(AppConfig):
    """Treatment plans, bookings, closures and calendar feeds."""

    name = "schedules"
    verbose_name = _("Schedules")

    def ready(self) -> None:
        from randomization import services as randomization_services
        from schedules import jobs, receivers, worklists  # noqa: F401  (connect the receivers, register the jobs)
        from schedules.services import plans

        # Randomize makes the plan by a direct call (randomization sits below schedules).
        randomization_services.plan_maker_register(plans.treatment_plan_at_randomization)
