"""
WSGI config for trialsite project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialsite.settings")

application = get_wsgi_application()


def warm_up() -> None:
    """Do a server process's one-time work before it serves anyone rather than in its first
    requests: import every view, serializer and renderer (Django loads the URLconf lazily, on
    the first request) and the `holidays` package's country tables (loaded on the first booking
    or plan). Otherwise each new gunicorn worker's first requests, and those queued behind them,
    are slow (bench/README.md, mixed load, has the figures). Touches neither the database nor
    the broker, so it is safe in gunicorn's master before the workers fork (--preload)."""
    import holidays.countries  # noqa: F401
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the property imports the whole URLconf


warm_up()
