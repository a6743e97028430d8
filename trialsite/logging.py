"""Logging filter that keeps credentials out of log lines.

Calendar apps cannot send a token, so a staff feed's secret key is part of its URL; Django logs
the path of every 4xx (`django.request`), which would write the key into the logs."""

from __future__ import annotations

import logging
import re

SECRET_PATHS = re.compile(r"(/calendar-feeds/)[^/\s]+?(\.ics)")


def redact(text: str) -> str:
    return SECRET_PATHS.sub(r"\1<redacted>\2", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True
