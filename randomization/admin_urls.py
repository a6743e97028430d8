"""Admin pages of randomization that belong to no single model (mounted by trialsite.urls)."""

from django.contrib import admin
from django.urls import URLPattern, path

from randomization import accrual_views

urlpatterns: list[URLPattern] = [
    path("", admin.site.admin_view(accrual_views.accrual_view), name="admin-accrual"),
]
