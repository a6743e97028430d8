from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class TrialsiteConfig(AppConfig):
    """The trial registry: trials, protocol versions, sites, staff, participants."""

    name = "trialsite"
    verbose_name = _("Trial registry")

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.auth.signals import user_logged_in

        from trialsite import admin_jobs, audit, middleware, worklists  # noqa: F401  (worklists: the registry's own sections)
        from trialsite.admin_guard import guard_site

        # After every migrate, whichever app it migrated: the audit trail tables are append-only.
        post_migrate.connect(audit.on_post_migrate, dispatch_uid="trialsite.audit.on_post_migrate")
        # Signing in starts the session's clocks afresh (inactivity and maximum age).
        user_logged_in.connect(middleware.start_session_clock, dispatch_uid="trialsite.start_session_clock")
        # The admin modules are loaded (django.contrib.admin comes first in INSTALLED_APPS).
        guard_site(admin.site)
