"""The Celery app. Settings come from Django settings (CELERY_* names); tasks are found in each
app's tasks.py. Start a worker with `celery -A trialsite worker -Q default,reminders` and beat with
`celery -A trialsite beat` (see README)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")

app = Celery("trialsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
