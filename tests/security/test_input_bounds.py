"""Input that PostgreSQL or Python would choke on is refused at the door (issue 12 §3): NUL
characters in paths, query strings, headers and cookies (RefuseNulMiddleware), and every number
an API client sends goes through a bounded field (trialsite/api/fields.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from trialsite.api.fields import DecimalIn, IntegerIn


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/calendar-feeds/%00.ics",
        "/api/v1/trials/%00/randomization/",
        "/api/v1/trials/NCT%0006850103/allocations.csv",
        "/api/v1/participants/1%00/",
    ],
)
def test_a_nul_in_an_api_path_is_a_400(path: str, api: Any, nurse: Any) -> None:
    response = api(nurse).get(path)
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid",
        "detail": "The request's path contains a NUL character.",
        "errors": {"path": ["The request's path contains a NUL character."]},
    }


def test_a_nul_in_a_feed_key_without_login_is_a_400() -> None:
    # The calendar feed is read without a token (its key is the secret): the database lookup of
    # the key was the 500.
    assert Client().get("/api/v1/calendar-feeds/%00.ics").status_code == 400


def test_a_nul_in_the_query_string_headers_or_cookies_is_a_400(api: Any, nurse: Any, client: Client) -> None:
    assert api(nurse).get("/api/v1/participants/?screening_number=%00").json()["errors"].keys() == {"query"}
    assert api(nurse).get("/api/v1/dose-sheets/", HTTP_IDEMPOTENCY_KEY="a\x00").json()["errors"].keys() == {"headers"}
    client.cookies["sessionid"] = "abcdefgh\x00"
    response = client.get("/admin/")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")


def test_a_nul_in_an_admin_path_or_search_is_a_400(client: Client, nurse: Any) -> None:
    client.force_login(nurse, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/admin/trialsite/participant/?q=%00").status_code == 400
    assert client.get("/admin/trialsite/participant/%00/change/").status_code == 400


def _request_serializers() -> dict[str, type[serializers.Serializer[Any]]]:
    """The serializer class of every request body the API documents, by component name."""
    generator = SchemaGenerator()
    generator.get_schema(request=None, public=True)
    out: dict[str, type[serializers.Serializer[Any]]] = {}
    for _path, _regex, method, view in generator._get_paths_and_endpoints():
        if method in ("POST", "PUT", "PATCH"):
            found = view.schema.get_request_serializer()
            if found is not None:
                cls = found if isinstance(found, type) else type(found)
                out[f"{view.__class__.__name__} {method}"] = cls
    return out


def test_every_number_a_client_sends_is_a_bounded_field() -> None:
    """A plain DecimalField or IntegerField converts before it checks (IntegerField has no bounds
    unless given): every input number is DecimalIn or IntegerIn, and no input is a float."""
    checked = 0
    for where, cls in _request_serializers().items():
        for name, field in cls().fields.items():
            if field.read_only:
                continue
            if isinstance(field, serializers.DecimalField):
                assert isinstance(field, DecimalIn), f"{where}.{name}"
            elif isinstance(field, serializers.IntegerField):
                assert isinstance(field, IntegerIn), f"{where}.{name}"
            assert not isinstance(field, serializers.FloatField), f"{where}.{name}"
            if isinstance(field, serializers.DictField | serializers.JSONField | serializers.ListField):
                # Free-form values are typed by their service: the screening findings only.
                assert (cls.__name__, name) == ("AssessmentIn", "findings"), f"{where}.{name}"
            checked += 1
    assert checked > 40
