"""The API's JSON parser: DRF's, with a nesting limit and no NUL characters.

`[` × 100,000 made the json module raise RecursionError, which DRF does not catch (a 500); a NUL
character reaches PostgreSQL, which refuses it in text (another 500). Both are refused here, for
every API route, before any view reads the body (settings.REST_FRAMEWORK's parser classes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

# The deepest body of the API is two levels ({"findings": {"ecog": 1}}).
MAX_DEPTH = 16


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(too_deep()) from None
        check_body(data)
        return data


def too_deep() -> str:
    return _("The JSON body is nested too deeply (at most %(n)s levels).") % {"n": MAX_DEPTH}


def check_body(data: Any) -> None:
    """Refuse nesting beyond MAX_DEPTH and NUL characters in keys and strings (iteratively: the
    check itself must not recurse)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            raise ParseError(too_deep())
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if "\x00" in key:
                    _refuse_nul(path or "non_field_errors")
                stack.append((item, depth + 1, child))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, str) and "\x00" in value:
            _refuse_nul(path or "non_field_errors")


def _refuse_nul(field: str) -> None:
    raise ValidationError({field.replace("\x00", "\\x00"): [_("Null characters are not allowed.")]})
