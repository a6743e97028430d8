from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdverseEventsConfig(AppConfig):
    """The toxicity (adverse-event) log: CTCAE terms, toxicities, SAE alerts."""

    name = "adverse_events"
    verbose_name = _("Adverse events")

    def ready(self) -> None:
        from adverse_events import worklists  # noqa: F401 - the investigators' SAE worklist section
