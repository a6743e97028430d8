from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RemindersConfig(AppConfig):
    """Reminder rules and rows, their dispatch and send, and the staff morning digests: the floor
    above schedules and dosing, which it reads through their selectors and hears from by signal."""

    name = "reminders"
    verbose_name = _("Reminders")

    def ready(self) -> None:
        from reminders import jobs, receivers  # noqa: F401  (connect the signal receivers, register the job)
