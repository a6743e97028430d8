"""The clock, read at the doors (views, admin, tasks, commands) and passed into services and pure
functions as `now`/`today`, so that they can be tested at any moment without patching."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone


def now() -> dt.datetime:
    return timezone.now()


def today() -> dt.date:
    """Today in the project's time zone (Asia/Shanghai), not the server's."""
    return timezone.localdate()


def local_date(moment: dt.datetime, tz: str) -> dt.date:
    return moment.astimezone(ZoneInfo(tz)).date()
