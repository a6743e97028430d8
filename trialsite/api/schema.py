"""OpenAPI post-processing: every API operation documents the one error shape and the error
statuses it can answer with, so that clients (and schemathesis) can rely on the schema."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "detail", "errors"],
    "properties": {
        "code": {"type": "string", "description": "Stable machine-readable code.", "example": "invalid"},
        "detail": {"type": "string", "description": "Human-readable message in the request's language."},
        "errors": {
            "type": "object",
            "description": "Messages per field.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "example": {"weight_kg": ["Weight must be between 30 and 250 kg (got 720)."]},
        },
    },
    "additionalProperties": True,
}

STATUS_TEXT = {
    "400": "Malformed or out-of-range input; nothing was changed.",
    "401": "No or invalid credentials (`Authorization: Token <key>`).",
    "403": "The caller's role does not allow this operation.",
    "404": "No such object at the caller's sites.",
    "409": "Conflicts with the current state (already done, capacity full, …); nothing was changed.",
    "422": "Well-formed, but a clinical or workflow rule refuses it; nothing was changed.",
    "429": "Too many requests.",
    "503": "The database is unavailable (`database_unavailable`): retry after the `Retry-After` seconds; "
    "nothing was changed.",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = ["401", "403", "404", "429", "503"] if method in ("get", "head") else list(STATUS_TEXT)
            if method in ("get", "head") and operation.get("parameters"):
                statuses.append("400")  # bad query parameters (filters, dates)
            for status in statuses:
                operation["responses"].setdefault(
                    status, {"description": STATUS_TEXT[status], "content": {"application/json": {"schema": ref}}}
                )
    return result
