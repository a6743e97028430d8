from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RandomizationConfig(AppConfig):
    """Eligibility and allocation."""

    name = "randomization"
    verbose_name = _("Randomization")

    def ready(self) -> None:
        from randomization import audit_source

        # The allocation record has no history table: it joins the audit log as a source.
        audit_source.register()
