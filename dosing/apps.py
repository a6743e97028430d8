from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DosingConfig(AppConfig):
    """Dose calculations, regimens and dose sheets."""

    name = "dosing"
    verbose_name = _("Dosing")

    def ready(self) -> None:
        from dosing import (
            receivers,  # noqa: F401 - connects the signal receivers
            selectors,
            wording,  # noqa: F401 - registers the kinds of code a stored phrase names
            worklists,  # noqa: F401 - the pharmacist's worklist sections
        )
        from schedules import dependants

        dependants.register(selectors.released_sheet_dependants)
