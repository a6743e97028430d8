from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrialsiteConfig(AppConfig):
    """The trial registry: trials, protocol versions, sites, staff, participants."""

    name = "trialsite"
    verbose_name = _("Trial registry")
