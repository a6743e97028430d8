from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DosingConfig(AppConfig):
    """Dose calculations, regimens and dose sheets."""

    name = "dosing"
    verbose_name = _("Dosing")

    def ready(self) -> None:
        from dosing import (
            receivers,  # noqa: F401 - connects the signal receivers
            wording,  # noqa: F401 - registers the kinds of code a stored phrase names
            worklists,  # noqa: F401 - the pharmacist's worklist sections
        )
