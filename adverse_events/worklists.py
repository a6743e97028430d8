"""The toxicity log's section of the investigator's worklist (trialsite/worklists.py): SAEs of
the user's sites that no investigator has acknowledged yet, oldest first."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from adverse_events.selectors import saes_awaiting_acknowledgement
from trialsite import roles
from trialsite.worklists import Rows, Scope, Section, bounded, register


def saes_to_acknowledge(scope: Scope) -> Rows:
    return bounded(saes_awaiting_acknowledgement(scope.site_ids))


register(
    Section(
        key="saes_to_acknowledge",
        title=_("Serious adverse events to acknowledge"),
        roles=frozenset({roles.INVESTIGATOR}),
        selector=saes_to_acknowledge,
        template="admin/worklists/saes.html",
        order=10,
        more_url="admin:adverse_events_adverseevent_changelist",
        more_query="?serious__exact=1&acknowledged=no",
    )
)
