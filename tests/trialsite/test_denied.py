"""The 403 page (issue 14): translated, inside the admin's frame, and naming the role the refused
page needs (read from the roles' permissions as the migrations granted them)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tests.factories import ParticipantFactory
from tests.support.i18n import english_words, visible_text
from trialsite import denied
from trialsite.models import Site, StaffProfile, Trial


def test_recording_a_death_names_the_roles_that_may(trial: Trial, site: Site, pharmacist: User, client: Client) -> None:
    # given a pharmacist at the participant's site (who may read, not record a death)
    participant = ParticipantFactory(trial=trial, site=site)
    client.force_login(pharmacist)
    # when she opens the death form
    response = client.get(reverse("admin:trialsite_participant_death", args=[participant.pk]))
    # then the answer is 403 and says that a research nurse or an investigator may
    assert response.status_code == 403
    body = response.content.decode()
    assert "It needs one of the roles: research nurse, investigator." in body
    assert "You are signed in as pharmacist (pharmacist)." in body
    assert 'id="site-name"' in body  # the admin's frame, with a way back


def test_a_model_page_names_its_role(nurse: User, client: Client) -> None:
    # the nurse opens the randomization schemes' add page (statisticians' work)
    client.force_login(nurse)
    response = client.get(reverse("admin:randomization_randomizationscheme_add"))
    assert response.status_code == 403
    assert "It needs the role: statistician." in response.content.decode()
    assert denied.roles_with_permission("randomization.add_randomizationscheme") == ["statistician"]


def test_the_403_page_is_in_the_readers_language(trial: Trial, site: Site, pharmacist: User, client: Client) -> None:
    StaffProfile.objects.create(user=pharmacist, language="zh-hans")
    participant = ParticipantFactory(trial=trial, site=site)
    client.force_login(pharmacist)
    response = client.get(reverse("admin:trialsite_participant_death", args=[participant.pk]))
    assert response.status_code == 403
    text = visible_text(response.content.decode())
    assert "研究护士" in text and "研究者" in text
    assert not english_words(text)


def test_the_api_keeps_its_json_403(client: Client) -> None:
    from django.core.exceptions import PermissionDenied
    from django.test import RequestFactory

    from trialsite.views import permission_denied

    response = permission_denied(RequestFactory().get("/api/v1/anything/"), PermissionDenied())
    assert response.status_code == 403 and response["Content-Type"] == "application/json"


def test_an_admin_error_names_fields_in_the_readers_language(rf: Any) -> None:
    from django.contrib.messages.storage.fallback import FallbackStorage

    from trialsite.admin_forms import show_error
    from trialsite.errors import InvalidInput

    request = rf.post("/admin/")
    request.session = {}
    request._messages = FallbackStorage(request)
    with translation.override("zh-hans"):
        exc = InvalidInput("请检查表单。", errors={"consent_date": ["不能晚于今天。"], "__all__": ["另一项。"]})
        show_error(request, exc)
    (message,) = [str(m) for m in request._messages]
    assert message == "请检查表单。 (知情同意日期: 不能晚于今天。; 另一项。)"
    assert not english_words(message)
