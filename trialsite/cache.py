"""The shared cache as an optimisation only: a cache server that is down or slow means the
work is done again, never a failed request (logged at warning level once per call)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)


def cache_get(key: str, *, what: str) -> Any:
    """The cached value, or None when it is missing or the cache can't be reached."""
    try:
        return cache.get(key)
    except Exception as exc:  # any cache backend error: the caller computes the value
        logger.warning("%s cache unavailable (%s); computing without it", what, exc.__class__.__name__)
        return None


def cache_set(key: str, value: Any, *, timeout: int, what: str) -> None:
    try:
        cache.set(key, value, timeout=timeout)
    except Exception as exc:  # any cache backend error: the value was computed anyway
        logger.warning("%s cache unavailable (%s); not stored", what, exc.__class__.__name__)
