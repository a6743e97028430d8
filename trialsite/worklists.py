"""The landing page's worklists: per role, a list of sections, each a selector (what needs doing
at the user's sites, `today` passed in) and a template fragment that shows it.

A feature app adds a section with `register(Section(...))` from its AppConfig.ready(), so a new
feature (an adverse-event log) adds its section without editing the page or this module; the
registry's own sections (participants waiting for screening or randomization) are below.

Every selector is bounded: a fixed number of queries whatever the number of rows (joins and
prefetches, never a query per row), and at most `limit` rows with the total beside them, so the
landing page stays fast at a busy site."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, QuerySet, Window
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise

from trialsite import roles, selectors
from trialsite.models import Participant, ParticipantStatus

# Rows shown per section; the section says how many there are in all and links to the full list.
LIMIT = 25


@dataclass(frozen=True)
class Scope:
    """Who asks and when: the user's sites (all sites for a superuser) and today's date."""

    user: Any
    site_ids: frozenset[int] | None  # None: every site (superuser)
    today: dt.date

    def filter_sites(self, qs: QuerySet[Any], lookup: str = "site_id") -> QuerySet[Any]:
        return qs if self.site_ids is None else qs.filter(**{f"{lookup}__in": self.site_ids})


@dataclass(frozen=True)
class Rows:
    """What a selector returns: the first `LIMIT` rows and how many there are in all."""

    items: Sequence[Any]
    total: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Section:
    key: str
    title: StrPromise
    roles: frozenset[str]
    selector: Callable[[Scope], Rows]
    template: str
    order: int = 100
    # An admin URL name (and query) for "see all", resolved when the page renders.
    more_url: str = ""
    more_query: str = ""


_REGISTRY: dict[str, Section] = {}


def register(section: Section) -> Section:
    """Add (or replace, by key: re-imports in tests and autoreload) a section."""
    _REGISTRY[section.key] = section
    return section


def sections_for(user: Any) -> list[Section]:
    """The sections of the user's roles, in order; a superuser sees every section."""
    mine = roles.user_roles(user)
    return sorted(
        (s for s in _REGISTRY.values() if getattr(user, "is_superuser", False) or s.roles & mine),
        key=lambda s: (s.order, s.key),
    )


def scope_for(user: Any, *, today: dt.date) -> Scope:
    site_ids = None if getattr(user, "is_superuser", False) else selectors.user_site_ids(user)
    return Scope(user=user, site_ids=site_ids, today=today)


def build(user: Any, *, today: dt.date) -> list[tuple[Section, Rows]]:
    """Each of the user's sections with its rows."""
    scope = scope_for(user, today=today)
    return [(section, section.selector(scope)) for section in sections_for(user)]


def bounded(qs: QuerySet[Any] | Iterable[Any], limit: int = LIMIT) -> Rows:
    """The first `limit` rows and the total, in one query: the total is a window count over the
    whole filtered set (`COUNT(*) OVER ()`, computed before the LIMIT). A second COUNT query only
    when the list overflows would make the page's query count grow with the data (issue 16)."""
    if isinstance(qs, QuerySet):
        items = list(qs.annotate(worklist_total=Window(Count("pk")))[:limit])
        return Rows(items=items, total=items[0].worklist_total if items else 0)
    items = list(qs)
    return Rows(items=items[:limit], total=len(items))


# The registry's own sections -------------------------------------------------------------


def waiting_for_screening(scope: Scope) -> Rows:
    """Consented participants not yet assessed eligible (status screening), oldest first."""
    qs = scope.filter_sites(
        Participant.objects.filter(status=ParticipantStatus.SCREENING).select_related("site")
    ).order_by("created_at", "pk")
    return bounded(qs)


def waiting_for_randomization(scope: Scope) -> Rows:
    """Participants assessed eligible and not randomized yet."""
    qs = scope.filter_sites(
        Participant.objects.filter(status=ParticipantStatus.ELIGIBLE).select_related("site")
    ).order_by("created_at", "pk")
    return bounded(qs)


register(
    Section(
        key="waiting_screening",
        title=_("Waiting for a screening assessment"),
        roles=roles.CLINICAL_ROLES,
        selector=waiting_for_screening,
        template="admin/worklists/participants.html",
        order=30,
        more_url="admin:trialsite_participant_changelist",
        more_query="?status__exact=screening",
    )
)
register(
    Section(
        key="waiting_randomization",
        title=_("Eligible, waiting for randomization"),
        roles=roles.CLINICAL_ROLES,
        selector=waiting_for_randomization,
        template="admin/worklists/randomize.html",
        order=31,
        more_url="admin:trialsite_participant_changelist",
        more_query="?status__exact=eligible",
    )
)
