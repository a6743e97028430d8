"""Every admin door, generated from the admin's URL resolver (issue 12 §1, §2, §7): for every
registered model, every URL name its ModelAdmin serves (the package-added ones too: the history
list, a version's page, the password form, the custom views) and every action (POST to the
changelist with `action=`), as every role of each of two sites, GET and POST:

- another site's record is not found (403, 404, or the admin's redirect "does not exist"), its
  marker never shows, and a POST changes nothing of site A;
- a role without any write permission on a model (read-only there) changes nothing at all through
  that model's pages (every project table compared, `values()` before and after);
- a version's page in the history is read-only for everyone: a POST is refused (403) and the row
  stays as it was;
- actions are offered exactly to the roles the table below names, and a role that is not offered
  an action cannot run it by posting its name.

The world (one randomized participant of site A with every kind of record) is built once per role
of the parametrization, in the test's own transaction."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import Model
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import URLPattern, reverse

from adverse_events import services as ae_services
from adverse_events.models import Term
from dosing import services as dosing
from randomization import services as rs
from randomization.models import RandomizationScheme
from reminders import services as reminder_services
from schedules.models import ScheduledEvent
from schedules.services.bookings import booking_create
from schedules.services.closures import site_closure_create
from schedules.services.plans import treatment_plan_create
from tests.factories import ParticipantFactory, record_labs
from tests.randomization.conftest import GOOD_LABS, good_findings
from tests.support.signatures import signed
from trialsite import roles, services
from trialsite.admin import SiteScopedAdminMixin
from trialsite.errors import ApplicationError
from trialsite.models import Participant, Site, Trial

PROJECT_APPS = ("trialsite", "randomization", "dosing", "schedules", "reminders", "adverse_events")
MARKER = "SITEA-DOORS-01"
MARKER_NAME = "甲院门禁患者"
NOW = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)  # 10:00 in Asia/Shanghai
TODAY = dt.date(2026, 3, 2)

# Who is offered which action (a new action fails the test until it is added here).
ACTION_ROLES: dict[str, set[str]] = {
    "withdraw_selected": {roles.RESEARCH_NURSE, roles.INVESTIGATOR},
    "mark_entered_in_error": {roles.RESEARCH_NURSE, roles.INVESTIGATOR},
    "activate": {roles.STATISTICIAN},
    "cancel_selected": {roles.RESEARCH_NURSE, roles.INVESTIGATOR},
    "resend": {roles.RESEARCH_NURSE, roles.INVESTIGATOR},
    "acknowledge_selected": {roles.INVESTIGATOR},
}


@pytest.fixture
def frozen() -> Iterator[None]:
    import time_machine

    with time_machine.travel(NOW, tick=False):
        yield


def build_world(trial: Trial, site: Site, other_site: Site, make_user: Any) -> dict[str, Any]:
    """Site A's records of every kind the admin shows, written through the services."""
    builder = make_user(roles.RESEARCH_NURSE, [site], username="world_nurse")
    decider = make_user(roles.INVESTIGATOR, [site], username="world_investigator")
    scheme = rs.scheme_activate(scheme=rs.scheme_create(trial=trial, by=None), by=None, now=NOW - dt.timedelta(days=30))
    p = ParticipantFactory(
        trial=trial,
        site=site,
        screening_number=MARKER,
        full_name=MARKER_NAME,
        email="patient@example.org",
        reminders_by_email=True,
    )
    record_labs(p, GOOD_LABS, on=TODAY)
    services.measurement_record(participant=p, kind="height", value="170", measured_on=TODAY, by=None, today=TODAY)
    services.measurement_record(participant=p, kind="weight", value="68", measured_on=TODAY, by=None, today=TODAY)
    rs.screening_assessment_record(
        participant=p, assessed_on=TODAY, findings=good_findings(trial.definition), by=builder, today=TODAY
    )
    rs.participant_randomize(participant=p, by=builder, now=NOW, signature=signed(builder, "randomize", at=NOW))
    start = TODAY + dt.timedelta(days=7)
    for _ in range(30):
        try:
            treatment_plan_create(participant=p, scrt_start_date=start, by=builder, now=NOW)
            break
        except ApplicationError:
            start += dt.timedelta(days=1)
    p.refresh_from_db()
    # A later creatinine puts the clearance in the 30–50 mL/min band (Cockcroft–Gault: about
    # 41 mL/min at 165 µmol/L for this 68 kg man of 59), where capecitabine needs an
    # investigator's renal decision: the world then has one of every kind.
    record_labs(p, {"creatinine": "165"}, on=TODAY)
    sheet = dosing.dose_sheet_prepare(
        participant=p, phase="neoadjuvant", cycle_number=1, day1=TODAY + dt.timedelta(days=1), by=None, now=NOW
    )
    cycle1 = ScheduledEvent.objects.filter(participant=p, kind="cycle_day1").order_by("planned_date").first()
    assert cycle1 is not None
    booking_create(event=cycle1, date=cycle1.planned_date, time=dt.time(9, 0), by=builder, today=TODAY)
    site_closure_create(site=site, date=TODAY + dt.timedelta(days=200), reason="audit", by=None)
    dosing.renal_decision_record(
        participant=p,
        phase="neoadjuvant",
        cycle_number=1,
        drug="capecitabine",
        decision="confirm",
        reason="creatinine clearance",
        by=decider,
        now=NOW,
        signature=signed(decider, "renal_decision", at=NOW),
    )
    reminder_services.reminders_sync(participant=p, now=NOW)
    # A serious toxicity (with its alert to the site's investigator) that nobody acknowledged.
    decider.email = "pi@example.org"
    decider.save()
    ae_services.ae_record(
        participant=p,
        term=Term.objects.get(term="Febrile neutropenia"),
        grade=3,
        onset_date=TODAY,
        serious=True,
        by=builder,
        now=NOW,
        today=TODAY,
    )
    return {"participant": p, "sheet": sheet, "scheme": scheme, "site": site, "other_site": other_site}


# Tables a read adds to by design: the log of printings of a randomization confirmation (the
# first printing is the original, later ones copies), written by whoever may open the page.
READ_LOGS = {"randomization.ConfirmationPrint"}


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every project table (history tables included: a write leaves a row there)."""
    return {
        m._meta.label: list(m.objects.order_by("pk").values())  # type: ignore[attr-defined]
        for m in apps.get_models()
        if m._meta.app_label in PROJECT_APPS
        and not m._meta.proxy
        and m._meta.managed
        and m._meta.label not in READ_LOGS
    }


def site_a_snapshot(site: Site) -> dict[str, list[dict[str, Any]]]:
    """The rows of site A that a site-scoped admin shows (another site's user must change none)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for model, model_admin in admin.site._registry.items():
        if model._meta.proxy:
            continue
        if isinstance(model_admin, SiteScopedAdminMixin):
            rows = model._default_manager.filter(**{model_admin.site_lookup: site})
        elif model is Site:
            rows = Site.objects.filter(pk=site.pk)
        else:
            continue
        out[model._meta.label] = list(rows.order_by("pk").values())
    return out


def site_scoped(model: type[Model]) -> bool:
    return model is Site or isinstance(admin.site._registry[model], SiteScopedAdminMixin)


def sample(model: type[Model], site: Site) -> Model | None:
    """A record of site A for this model (any record for trial-wide or staff models)."""
    model_admin = admin.site._registry[model]
    qs = model._default_manager.order_by("pk")
    if isinstance(model_admin, SiteScopedAdminMixin):
        qs = qs.filter(**{model_admin.site_lookup: site})
    elif model is Site:
        qs = qs.filter(pk=site.pk)
    return qs.first()


def door_urls(model: type[Model], obj: Model | None) -> list[tuple[str, str, bool]]:
    """(URL name, URL, of the record?) of every named view the model's admin serves, filled with
    `obj`."""
    model_admin = admin.site._registry[model]
    out = []
    for pattern in model_admin.get_urls():
        if not isinstance(pattern, URLPattern) or not pattern.name:
            continue
        regex = pattern.pattern.regex
        kwargs_names = list(regex.groupindex)
        positional = regex.groups - len(kwargs_names)
        if regex.groups and obj is None:
            continue
        try:
            if positional == 2:  # simple-history's version page: object id, history id
                version = obj.history.order_by("-history_id").first()  # type: ignore[union-attr]
                if version is None:
                    continue
                url = reverse(f"admin:{pattern.name}", args=[obj.pk, version.history_id])  # type: ignore[union-attr]
            elif kwargs_names:
                values = {
                    name: (getattr(obj, "participant_id", None) or obj.pk) if name == "participant_id" else obj.pk  # type: ignore[union-attr]
                    for name in kwargs_names
                }
                url = reverse(f"admin:{pattern.name}", kwargs=values)
            else:
                url = reverse(f"admin:{pattern.name}")
        except Exception as exc:  # a pattern this generator cannot fill is a failure, not a skip
            raise AssertionError(f"cannot build {pattern.name} for {model._meta.label}: {exc}") from exc
        out.append((pattern.name, url, bool(regex.groups)))
    return out


def post_data(obj: Model | None) -> dict[str, Any]:
    """What an attacker posts: the record's own values with its text changed, plus empty inline
    management forms (so that a change form would validate)."""
    data: dict[str, Any] = {}
    if obj is not None:
        for name, value in model_to_dict(obj).items():
            if value is None or isinstance(value, (list, dict)):
                continue
            data[name] = value.pk if isinstance(value, Model) else value
        for name in ("email", "name", "title", "reason", "full_name", "city"):
            if name in data:
                data[name] = "attacker@example.org" if name == "email" else "HACKED"
        for name in ("infusion_chairs_per_day",):
            if name in data:
                data[name] = 1
        if "time_zone" in data:
            data["time_zone"] = "Pacific/Kiritimati"
    for prefix in ("measurements", "lab_results", "reference_ranges", "site_memberships", "sitereferencerange_set"):
        data[f"{prefix}-TOTAL_FORMS"] = "0"
        data[f"{prefix}-INITIAL_FORMS"] = "0"
    return data


def model_permissions(user: User, model: type[Model]) -> set[str]:
    """The user's permissions on this model other than view."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(model, for_concrete_model=False)
    names = set(Permission.objects.filter(content_type=ct).values_list("codename", flat=True))
    held = {p.split(".", 1)[1] for p in user.get_all_permissions() if p.startswith(f"{model._meta.app_label}.")}
    return {n for n in names & held if not n.startswith("view_")}


def offered_actions(html: str) -> set[str]:
    select = re.search(r'<select name="action"[^>]*>(.*?)</select>', html, re.S)
    return set(re.findall(r'<option value="([^"]+)"', select.group(1))) - {""} if select else set()


# Inputs of every admin page, not of the record: the CSRF token and the header's language switch.
PAGE_INPUTS = {"csrfmiddlewaretoken", "next", "language"}

ROLES = [roles.RESEARCH_NURSE, roles.PHARMACIST, roles.INVESTIGATOR, roles.STATISTICIAN, roles.API_CLIENT]


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_every_admin_door_as_every_role_of_two_sites(
    role: str, trial: Trial, site: Site, other_site: Site, make_user: Any, frozen: None
) -> None:
    world = build_world(trial, site, other_site, make_user)
    own = make_user(role, [site], username=f"{role}_a")
    other = make_user(role, [other_site], username=f"{role}_b")
    failures: list[str] = []
    checked = {"urls": 0, "actions": 0}

    for user, at_site_a in ((own, True), (other, False)):
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        for model, model_admin in admin.site._registry.items():
            obj = sample(model, site)
            foreign = not at_site_a and site_scoped(model) and obj is not None
            read_only = not user.is_superuser and not model_permissions(user, model)
            before_all = snapshot() if read_only else None
            before_a = site_a_snapshot(site) if foreign else None
            for name, url, of_record in door_urls(model, obj):
                checked["urls"] += 1
                got = client.get(url)
                body = got.content.decode("utf-8", "replace") if got.get("Content-Type", "").startswith("text") else ""
                if not at_site_a and (MARKER in body or MARKER_NAME in body):
                    failures.append(f"{user} GET {url} shows site A's participant")
                if name.endswith("_simple_history") and got.status_code == 200:
                    editable = set(re.findall(r'<(?:input|select|textarea)[^>]*name="([^"]+)"', body)) - PAGE_INPUTS
                    if editable or 'name="_save"' in body:
                        failures.append(f"{user} GET {url}: a version's page offers {sorted(editable) or ['Revert']}")
                if foreign and of_record and got.status_code not in (302, 403, 404):
                    failures.append(f"{user} GET {url} (site A's {model._meta.label}): {got.status_code}")
                row_before = list(type(obj)._default_manager.filter(pk=obj.pk).values()) if obj is not None else None
                posted = client.post(url, post_data(obj))
                if name.endswith("_simple_history"):
                    if posted.status_code not in (403, 404) and not (posted.status_code == 302 and not user.is_staff):
                        failures.append(f"{user} POST {url} (a version's page): {posted.status_code}")
                    if obj is not None and list(type(obj)._default_manager.filter(pk=obj.pk).values()) != row_before:
                        failures.append(f"{user} POST {url} changed the record")
                if foreign and posted.status_code == 200 and name.endswith("_simple_history"):
                    failures.append(f"{user} POST {url} answered 200 for another site's record")
            # Actions: offered to exactly the roles of ACTION_ROLES; posting one not offered does nothing.
            changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            listing = client.get(changelist)
            shown = offered_actions(listing.content.decode("utf-8", "replace")) if listing.status_code == 200 else set()
            # Django shows no action menu over an empty list (another site's user sees no rows),
            # except on lists that skip the full count (the site-scoped ones, issue 16): there the
            # menu is shown and running it on another site's record must change nothing.
            visible = listing.status_code == 200 and (
                (obj is not None and not foreign) or not model_admin.show_full_result_count
            )
            for action in model_admin.actions or ():
                action_name = action if isinstance(action, str) else action.__name__
                func = getattr(model_admin, action_name) if isinstance(action, str) else action
                if not getattr(func, "allowed_permissions", ()):
                    # A package's action without permissions (axes' clean-up) is never offered.
                    allowed: set[str] = set()
                elif action_name.startswith("export_"):
                    # An export reads what the list shows: whoever may view the model (the role table).
                    allowed = set(roles.roles_holding(f"{model._meta.app_label}.view_{model._meta.model_name}"))
                elif action_name not in ACTION_ROLES:
                    failures.append(f"{model._meta.label}.{action_name}: say in ACTION_ROLES who may run it")
                    continue
                else:
                    allowed = ACTION_ROLES[action_name]
                checked["actions"] += 1
                expected = user.is_staff and role in allowed and visible
                if (action_name in shown) != expected:
                    failures.append(f"{user}: {action_name} offered={action_name in shown}, expected {expected}")
                if obj is None or (expected and not foreign):
                    continue  # (an offered action is left alone: it would change the world for the rest)
                before = snapshot()
                client.post(changelist, {"action": action_name, "_selected_action": [obj.pk], "index": "0"})
                if snapshot() != before:
                    failures.append(f"{user} ran {action_name} on {model._meta.label} without being offered it")
            if before_all is not None and snapshot() != before_all:
                failures.append(f"{user} (read-only on {model._meta.label}) changed rows through its pages")
            if before_a is not None and site_a_snapshot(site) != before_a:
                failures.append(f"{user} (site B) changed site A's rows through {model._meta.label}'s pages")

    assert not failures, "\n".join(failures)
    assert checked["urls"] >= 100 and checked["actions"] >= 7
    assert RandomizationScheme.objects.filter(pk=world["scheme"].pk).exists()
    if role not in (roles.RESEARCH_NURSE, roles.INVESTIGATOR):  # the roles that may edit contact details
        assert Participant.objects.get(pk=world["participant"].pk).email == "patient@example.org"
