from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from trialsite import audit_views, views
from trialsite.api import views as api
from trialsite.api.docs import DocsView, SchemaView

admin.site.site_header = "TrialSite"
admin.site.site_title = "TrialSite"
admin.site.index_title = "NCT06850103"
# The service has no public site: the admin header links nowhere outside the admin.
admin.site.site_url = None

api_v1: list[URLPattern | URLResolver] = [
    path("trials/", api.TrialList.as_view(), name="trial-list"),
    path("sites/", api.SiteList.as_view(), name="site-list"),
    path("participants/", api.ParticipantListCreate.as_view(), name="participant-list"),
    path("participants/<int:pk>/", api.ParticipantDetail.as_view(), name="participant-detail"),
    path("participants/<int:pk>/consent/", api.ParticipantConsent.as_view(), name="participant-consent"),
    path("participants/<int:pk>/withdraw/", api.ParticipantWithdraw.as_view(), name="participant-withdraw"),
    path("participants/<int:pk>/death/", api.ParticipantDeath.as_view(), name="participant-death"),
    path("participants/<int:pk>/measurements/", api.MeasurementListCreate.as_view(), name="participant-measurements"),
    path("participants/<int:pk>/labs/", api.LabResultListCreate.as_view(), name="participant-labs"),
    path("audit-log/", audit_views.AuditLogList.as_view(), name="audit-log"),
    path("", include("randomization.urls")),
    path("", include("dosing.urls")),
    path("", include("schedules.urls")),
    path("", include("exports.urls")),
    path("", include("adverse_events.urls")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("account/language/", views.set_user_language, name="set-user-language"),
    # The audit log is an admin page of no single model (admin_view: staff login, CSRF, no cache).
    path("admin/audit-log/", admin.site.admin_view(audit_views.audit_log_view), name="admin-audit-log"),
    path("admin/accrual/", include("randomization.admin_urls")),
    path("admin/", admin.site.urls),
    # Behind login unless API_DOCS_PUBLIC (the development default).
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
]

handler403 = "trialsite.views.permission_denied"
handler404 = "trialsite.views.not_found"
handler500 = "trialsite.views.server_error"
