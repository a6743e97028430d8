from django.apps import AppConfig
from django.db.models.signals import post_init, post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class TrialsiteConfig(AppConfig):
    """The trial registry: trials, protocol versions, sites, staff, participants."""

    name = "trialsite"
    verbose_name = _("Trial registry")

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.auth.signals import user_logged_in

        from trialsite import admin_jobs, audit, middleware, protocol_names, worklists  # noqa: F401  (worklists: the registry's own sections)
        from trialsite.admin_guard import guard_site
        from trialsite.models import ProtocolVersion, Trial

        # After every migrate, whichever app it migrated: the audit trail tables are append-only.
        post_migrate.connect(audit.on_post_migrate, dispatch_uid="trialsite.audit.on_post_migrate")
        # Signing in starts the session's clocks afresh (inactivity and maximum age).
        user_logged_in.connect(middleware.start_session_clock, dispatch_uid="trialsite.start_session_clock")
        # The names of the protocols' codes (arms, phases, drugs) learn each definition saved or read.
        post_save.connect(
            protocol_names.on_protocol_version_saved, sender=ProtocolVersion, dispatch_uid="trialsite.names.pv_saved"
        )
        post_init.connect(
            protocol_names.on_protocol_version_loaded, sender=ProtocolVersion, dispatch_uid="trialsite.names.pv_loaded"
        )
        post_save.connect(protocol_names.on_trial_saved, sender=Trial, dispatch_uid="trialsite.names.trial_saved")
        # The admin modules are loaded (django.contrib.admin comes first in INSTALLED_APPS).
        guard_site(admin.site)
