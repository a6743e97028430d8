"""The base classes every project admin is built on, so that a door a package adds is guarded as
the admin's own pages are (issue 12 §1, §2).

- `GuardedAdmin`: an action is offered only if it declares `permissions=` (an action without is
  dropped, never offered to whoever can see the list); Django then offers it only to a user with
  each permission (`has_<name>_permission`).
- `GuardedHistoryAdmin`: django-simple-history's pages (the history list and a version's detail)
  look the record up through the admin's own `get_queryset` (scoped to the user's sites) and need
  the role's view permission; a version's detail is shown read-only and a POST to it is refused
  (403). Reverting is off here and in settings (SIMPLE_HISTORY_REVERT_DISABLED,
  SIMPLE_HISTORY_EDIT=False): the package's revert saves the posted form without the services.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin

SAFE_METHODS = frozenset({"GET", "HEAD"})


def declares_permissions(action: Any) -> bool:
    return bool(getattr(action, "allowed_permissions", ()))


class GuardedAdmin(admin.ModelAdmin[Any]):
    """A ModelAdmin whose actions all declare their permissions (fail closed)."""

    # Display callables (trialsite.admin.code_column, stored_json) sit among the field names.
    readonly_fields: ClassVar[Any] = ()

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        return {name: entry for name, entry in actions.items() if entry and declares_permissions(entry[0])}


class GuardedHistoryAdmin(GuardedAdmin, SimpleHistoryAdmin):
    """SimpleHistoryAdmin behind the admin's site-scoped queryset and view permission, read-only."""

    def history_object(self, request: HttpRequest, object_id: str) -> Any:
        """The record through `get_queryset` (another site's record: 404), if the role may see it."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        self.history_object(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> HttpResponse:
        if request.method not in SAFE_METHODS:
            raise PermissionDenied  # a past version is read, never saved back
        current = self.history_object(request, object_id)
        # The page's form shows every field read-only: a copy of this admin for this request
        # (the registered instance is shared between requests) whose readonly fields are all.
        fieldsets = self.get_fieldsets(request, current)
        every_field = list(dict.fromkeys([*flatten_fieldsets(fieldsets), *self.get_readonly_fields(request, current)]))
        reader: Any = copy.copy(self)
        reader.get_readonly_fields = lambda request, obj=None: every_field
        reader.get_fieldsets = lambda request, obj=None: fieldsets
        reader.get_inlines = lambda request, obj=None: []
        return SimpleHistoryAdmin.history_form_view(reader, request, object_id, version_id, extra_context)

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def has_view_history_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_view_or_change_permission(request, obj)

    def has_change_history_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_history_or_change_history_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_view_history_permission(request, obj)


def guard_site(site: admin.AdminSite) -> None:
    """Put every admin a package registered (auth's groups, DRF's tokens, axes' logs) on
    GuardedAdmin too, so that no registered page offers an action without its permissions.
    Called once the admin modules are loaded (TrialsiteConfig.ready)."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, GuardedAdmin):
            continue
        cls = type(model_admin)
        guarded = type(f"Guarded{cls.__name__}", (GuardedAdmin, cls), {"__module__": __name__})
        site.unregister(model)
        site.register(model, guarded)
