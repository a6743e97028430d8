"""The allocation record in the audit log: the statistician's only (issue 17)."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth.models import User

from randomization import services as rs
from randomization.models import RandomizationScheme
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import signed
from trialsite import audit_log

pytestmark = pytest.mark.django_db


def test_allocations_are_in_the_statisticians_log_only(
    nurse: User,
    investigator: User,
    statistician: User,
    scheme: RandomizationScheme,
    make_eligible: ParticipantMaker,
) -> None:
    with time_machine.travel(NOW, tick=False):
        participant = make_eligible()
        allocation = rs.participant_randomize(
            participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    only = audit_log.Filters(model="randomization.allocation")
    seen = audit_log.audit_entries(user=statistician, filters=only)
    assert [(e.object_text, e.participant) for e in seen] == [(f"R{allocation.sequence}", participant.screening_number)]
    assert audit_log.audit_entries(user=investigator, filters=only) == []
    everything = audit_log.audit_entries(user=investigator, filters=audit_log.Filters(), page_size=500)
    assert all(e.model != "randomization.allocation" for e in everything)
    assert "randomization.allocation" not in dict(audit_log.entry_models(investigator))
