"""A database outage (a restart, a failover, PostgreSQL down) is answered 503 with the code
`database_unavailable` and a Retry-After header, never `500 server_error`: a hospital system
must be able to tell "retry shortly" from a bug. The API's exception handler and the project's
500 handler (admin pages, and errors raised before a view runs) both ask `is_database_outage`."""

from __future__ import annotations

import logging

from django import db
from django.utils.translation import gettext_lazy

logger = logging.getLogger("trialsite.outage")

CODE = "database_unavailable"
# Seconds a client should wait before retrying: a PostgreSQL restart or a managed failover
# takes a few seconds to tens of seconds.
RETRY_AFTER_S = 10
MESSAGE = gettext_lazy("The database is unavailable at the moment; nothing was changed. Retry in a few seconds.")


def is_database_outage(exc: BaseException | None) -> bool:
    """The database could not be reached or the connection broke (Django's wrapped
    OperationalError and InterfaceError, or the driver's own). Constraint violations and
    programming errors are not outages."""
    while exc is not None:
        if isinstance(exc, db.OperationalError | db.InterfaceError):
            return True
        try:
            import psycopg
        except ImportError:  # pragma: no cover - psycopg is a requirement
            return False
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return True
        exc = exc.__cause__
    return False


def log_outage(exc: BaseException, path: str) -> None:
    logger.error("database unavailable while serving %s: %s", path, exc.__class__.__name__, exc_info=exc)
