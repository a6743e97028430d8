"""Eligibility, schemes and participant_randomize on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.utils import DatabaseError, IntegrityError

from randomization import methods
from randomization import services as rs
from randomization.models import Allocation, AllocationState, RandomizationScheme, SchemeSecret, ScreeningAssessment
from tests.randomization.conftest import NOW, ParticipantMaker, good_findings
from tests.support.signatures import signed
from trialsite import services
from trialsite.errors import Conflict, InvalidInput, NotFound, NotPermitted, RuleViolation
from trialsite.models import Participant, Site, Trial

pytestmark = pytest.mark.django_db


# --- eligibility ---------------------------------------------------------------------------


def test_complete_assessment_makes_the_participant_eligible(make_eligible: ParticipantMaker) -> None:
    participant = make_eligible()
    assessment = ScreeningAssessment.objects.get(participant=participant)
    assert assessment.outcome == "eligible"
    assert participant.status == "eligible"
    # age at consent (born 1966-05-17, consent 2026-02-20) and CG: (140-59)·68/(72·80/88.4) = 84.5
    assert assessment.age_years == 59
    assert str(assessment.creatinine_clearance_ml_min) == "84.5"


def test_failed_criterion_makes_ineligible_with_reasons(make_eligible: ParticipantMaker) -> None:
    participant = make_eligible(ecog=2)
    assessment = ScreeningAssessment.objects.get(participant=participant)
    assert assessment.outcome == "not_eligible"
    assert participant.status == "ineligible"
    assert rs.eligibility_reasons(assessment, today=dt.date(2026, 3, 2)) == [
        "ECOG performance status 0–1: not met (ecog = 2)"
    ]


def test_missing_data_is_not_assessable_never_eligible(
    make_eligible: ParticipantMaker, trial: Trial, today: dt.date
) -> None:
    participant = make_eligible(assess=False)
    findings = good_findings(trial.definition)
    del findings["mss_or_pmmr"]
    assessment = rs.screening_assessment_record(
        participant=participant, assessed_on=today, findings=findings, by=None, today=today
    )
    assert assessment.outcome == "not_assessable"
    participant.refresh_from_db()
    assert participant.status == "screening"


def test_reasons_in_chinese(make_eligible: ParticipantMaker) -> None:
    from django.utils import translation

    participant = make_eligible(ecog=2)
    assessment = ScreeningAssessment.objects.get(participant=participant)
    with translation.override("zh-hans"):
        reasons = rs.eligibility_reasons(assessment, today=dt.date(2026, 3, 2))
    assert reasons[0].startswith("ECOG体力状态0–1分")


def test_unknown_finding_is_refused(make_eligible: ParticipantMaker, today: dt.date) -> None:
    participant = make_eligible(assess=False)
    with pytest.raises(InvalidInput) as info:
        rs.screening_assessment_record(
            participant=participant, assessed_on=today, findings={"ecgo": 1}, by=None, today=today
        )
    assert "ecgo" in info.value.errors


def test_pharmacist_cannot_screen(
    make_eligible: ParticipantMaker, pharmacist: User, trial: Trial, today: dt.date
) -> None:
    participant = make_eligible(assess=False)
    with pytest.raises(NotPermitted):
        rs.screening_assessment_record(
            participant=participant,
            assessed_on=today,
            findings=good_findings(trial.definition),
            by=pharmacist,
            today=today,
        )


def test_rescreening_keeps_old_assessments(make_eligible: ParticipantMaker, trial: Trial, today: dt.date) -> None:
    participant = make_eligible(ecog=2)
    rs.screening_assessment_record(
        participant=participant, assessed_on=today, findings=good_findings(trial.definition), by=None, today=today
    )
    assert ScreeningAssessment.objects.filter(participant=participant).count() == 2
    participant.refresh_from_db()
    assert participant.status == "eligible"


# --- schemes -------------------------------------------------------------------------------


def test_activation_publishes_a_commitment_that_matches_the_seed(scheme: RandomizationScheme) -> None:
    seed = SchemeSecret.objects.get(scheme=scheme).seed()
    assert len(seed) == 32
    assert scheme.commitment == methods.commitment(seed, methods.Config.from_canonical(scheme.config))
    assert scheme.commitment not in repr(SchemeSecret.objects.get(scheme=scheme))
    assert seed.hex() not in str(SchemeSecret.objects.get(scheme=scheme))


def test_only_the_statistician_creates_and_activates(trial: Trial, nurse: User, statistician: User) -> None:
    with pytest.raises(NotPermitted):
        rs.scheme_create(trial=trial, by=nurse)
    draft = rs.scheme_create(trial=trial, by=statistician)
    with pytest.raises(NotPermitted):
        rs.scheme_activate(scheme=draft, by=nurse, now=NOW)


def test_an_activated_scheme_is_frozen_in_the_database(scheme: RandomizationScheme) -> None:
    with pytest.raises(DatabaseError, match="frozen"), transaction.atomic():
        RandomizationScheme.objects.filter(pk=scheme.pk).update(config={"method": "simple"})


def test_amendment_is_a_new_version(scheme: RandomizationScheme, statistician: User, trial: Trial) -> None:
    draft = rs.scheme_create(trial=trial, by=statistician, overrides={"p": 0.9}, reason="DSMB request")
    new = rs.scheme_activate(scheme=draft, by=statistician, now=NOW)
    scheme.refresh_from_db()
    assert (new.version, new.status, scheme.status) == (2, "active", "superseded")
    assert new.commitment != scheme.commitment


def test_bad_override_is_refused(trial: Trial, statistician: User) -> None:
    with pytest.raises(InvalidInput):
        rs.scheme_create(trial=trial, by=statistician, overrides={"method": "blocks", "block_sizes": [3]})


# --- randomize -----------------------------------------------------------------------------


def test_randomize_allocates_and_updates_the_participant(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, plan_calls: list[dict[str, Any]]
) -> None:
    received = plan_calls
    participant = make_eligible()
    # The plan maker reads the clock to refuse past start dates.
    with time_machine.travel(NOW, tick=False):
        allocation = rs.participant_randomize(
            participant=participant,
            by=nurse,
            now=NOW,
            scrt_start_date=dt.date(2026, 3, 9),
            signature=signed(nurse, "randomize", at=NOW),
        )
    participant.refresh_from_db()
    assert allocation.sequence == 1 and allocation.prev_hash == rs.GENESIS_HASH
    assert (participant.status, participant.arm, participant.randomization_number) == (
        "randomized",
        allocation.arm,
        1,
    )
    assert allocation.factors == {"site": "ZJU1", "liver_only_metastases": "yes", "ecog": "1"}
    assert set(allocation.details["scores"]) == {"experimental", "control"}
    assert received[0]["scrt_start_date"] == dt.date(2026, 3, 9)
    assert received[0]["participant"].pk == participant.pk


def test_second_randomization_is_409_with_the_number(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User
) -> None:
    participant = make_eligible()
    rs.participant_randomize(participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW))
    with pytest.raises(Conflict) as info:
        rs.participant_randomize(
            participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    assert info.value.extra == {"randomization_number": 1}


def test_not_eligible_is_refused_with_reasons(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User
) -> None:
    participant = make_eligible(hiv=True)
    with pytest.raises(RuleViolation) as info:
        rs.participant_randomize(
            participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    assert info.value.code == "not_eligible"
    assert any("HIV" in m for m in info.value.errors["eligibility"])
    assert not Allocation.objects.exists()


def test_stale_assessment_does_not_count(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User
) -> None:
    participant = make_eligible()
    with pytest.raises(RuleViolation) as info:
        rs.participant_randomize(
            participant=participant,
            by=nurse,
            now=NOW + dt.timedelta(days=29),
            signature=signed(nurse, "randomize", at=NOW + dt.timedelta(days=29)),
        )
    assert "screening window" in info.value.errors["eligibility"][0]


def test_consent_is_required(scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User) -> None:
    participant = make_eligible()
    Participant.objects.filter(pk=participant.pk).update(consent_date=None)
    with pytest.raises(RuleViolation) as info:
        rs.participant_randomize(
            participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    assert "consent_date" in info.value.errors


def test_roles_that_may_not_randomize(
    scheme: RandomizationScheme,
    make_eligible: ParticipantMaker,
    pharmacist: User,
    statistician: User,
    other_nurse: User,
) -> None:
    participant = make_eligible()
    for user in (pharmacist, statistician):
        with pytest.raises(NotPermitted):
            rs.participant_randomize(
                participant=participant, by=user, now=NOW, signature=signed(user, "randomize", at=NOW)
            )
    # another site's participant does not exist for its nurse (404, as the API's read answers)
    with pytest.raises(NotFound):
        rs.participant_randomize(
            participant=participant, by=other_nurse, now=NOW, signature=signed(other_nurse, "randomize", at=NOW)
        )


def test_a_withdrawn_participant_is_a_conflict(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User
) -> None:
    participant = make_eligible()
    services.participant_withdraw(participant=participant, reason="moved away", by=nurse, now=NOW)
    with pytest.raises(Conflict) as info:
        rs.participant_randomize(
            participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    assert (info.value.code, info.value.http_status) == ("participant_withdrawn", 409)
    assert not Allocation.objects.filter(participant=participant).exists()


def test_no_plan_at_randomization_without_a_start_date(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, plan_calls: list[dict[str, Any]]
) -> None:
    from schedules.models import TreatmentPlan

    participant = make_eligible()
    rs.participant_randomize(participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW))
    assert plan_calls == []
    assert not TreatmentPlan.objects.filter(participant=participant).exists()


def test_no_active_scheme(make_eligible: ParticipantMaker, nurse: User, trial: Trial) -> None:
    with pytest.raises(RuleViolation) as info:
        rs.participant_randomize(
            participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    assert info.value.code == "randomization_not_active"


def test_enrollment_cap_is_hard_until_the_statistician_raises_it(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, trial: Trial, statistician: User
) -> None:
    Trial.objects.filter(pk=trial.pk).update(target_enrollment=2)
    for _ in range(2):
        rs.participant_randomize(
            participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    third = make_eligible()
    with pytest.raises(RuleViolation) as info:
        rs.participant_randomize(participant=third, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW))
    assert info.value.code == "enrollment_cap_reached"
    trial.refresh_from_db()
    services.trial_raise_enrollment_cap(trial=trial, new_target=3, by=statistician)
    assert (
        rs.participant_randomize(
            participant=third, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        ).sequence
        == 3
    )


def test_allocation_record_is_append_only_in_the_database(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User
) -> None:
    allocation = rs.participant_randomize(
        participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
    )
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Allocation.objects.filter(pk=allocation.pk).update(arm="control")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM randomization_allocation")
    assert Allocation.objects.count() == 1


def test_hash_chain_and_replay(
    scheme: RandomizationScheme,
    make_eligible: ParticipantMaker,
    investigator: User,
    site: Site,
    other_site: Site,
    trial: Trial,
) -> None:
    done = []
    for i in range(12):
        participant = make_eligible(site=(site, other_site)[i % 2], ecog=i % 2, liver_only_metastases=i % 3 == 0)
        done.append(
            rs.participant_randomize(
                participant=participant, by=investigator, now=NOW, signature=signed(investigator, "randomize", at=NOW)
            )
        )
    assert [a.sequence for a in done] == list(range(1, 13))
    for previous, current in itertools.pairwise(done):
        assert current.prev_hash == previous.entry_hash
    seed = scheme.secret.seed()
    final = methods.replay(seed, rs.replay_records(trial), config=methods.Config.from_canonical(scheme.config))
    assert sum(final.totals) == 12
    # the state every process allocates from is exactly what replaying the record gives
    row = AllocationState.objects.get(trial=trial)
    assert (row.sequence, row.last_hash, row.state) == (12, done[-1].entry_hash, final.as_data())


def test_randomize_writes_the_participant_and_its_history_in_the_same_transaction(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User
) -> None:
    participant = make_eligible()
    before = participant.history.count()
    allocation = rs.participant_randomize(
        participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
    )
    participant.refresh_from_db()
    assert (participant.status, participant.arm, participant.randomization_number, participant.randomized_at) == (
        "randomized",
        allocation.arm,
        1,
        NOW,
    )
    assert Allocation.objects.get(pk=allocation.pk).participant_id == participant.pk
    # the audit trail has the change, by the nurse, with every other field as it was
    assert participant.history.count() == before + 1
    entry = participant.history.order_by("-history_id").first()
    assert entry is not None
    assert (entry.history_type, entry.history_user_id, entry.history_date) == ("~", nurse.pk, NOW)
    assert (entry.status, entry.arm, entry.randomization_number) == ("randomized", allocation.arm, 1)
    assert (entry.full_name, entry.site_id, entry.birth_date) == (
        participant.full_name,
        participant.site_id,
        participant.birth_date,
    )


def test_a_null_state_suspends_randomization(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, trial: Trial
) -> None:
    # The services never write a null state (an amendment stores the replayed one): a null is a
    # tampered row, and randomizing would rebuild it and erase the evidence.
    rs.participant_randomize(
        participant=make_eligible(liver_only_metastases=True),
        by=nurse,
        now=NOW,
        signature=signed(nurse, "randomize", at=NOW),
    )
    AllocationState.objects.filter(trial=trial).update(state=None)
    participant = make_eligible(liver_only_metastases=False)
    with pytest.raises(RuleViolation) as caught:
        rs.participant_randomize(
            participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    assert caught.value.code == "allocation_record_corrupt"
    participant.refresh_from_db()
    assert participant.randomization_number is None and Allocation.objects.count() == 1


def test_an_amendment_stores_the_state_replayed_from_the_record(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, trial: Trial, statistician: User
) -> None:
    first = rs.participant_randomize(
        participant=make_eligible(liver_only_metastases=True),
        by=nurse,
        now=NOW,
        signature=signed(nurse, "randomize", at=NOW),
    )
    expected = AllocationState.objects.get(trial=trial).state
    draft = rs.scheme_create(trial=trial, by=statistician, reason="amendment")
    rs.scheme_activate(scheme=draft, by=statistician, now=NOW)
    assert AllocationState.objects.get(trial=trial).state == expected  # same method: the counts carry over
    second = rs.participant_randomize(
        participant=make_eligible(liver_only_metastases=False),
        by=nurse,
        now=NOW,
        signature=signed(nurse, "randomize", at=NOW),
    )
    assert (first.sequence, second.sequence) == (1, 2)
    state = AllocationState.objects.get(trial=trial).state
    assert sum(state["totals"]) == 2
    assert state["counts"]["liver_only_metastases"]["yes"] == expected["counts"]["liver_only_metastases"]["yes"]


def test_an_unusable_stored_state_is_rebuilt_not_trusted(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, trial: Trial
) -> None:
    from randomization.verification import verify_trial

    rs.participant_randomize(
        participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
    )
    AllocationState.objects.filter(trial=trial).update(state={"totals": [1]})  # wrong shape for 2 arms
    assert (
        rs.participant_randomize(
            participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        ).sequence
        == 2
    )
    assert sum(AllocationState.objects.get(trial=trial).state["totals"]) == 2
    assert verify_trial(trial).ok


def test_a_lock_row_that_disagrees_with_the_record_suspends_randomization(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, trial: Trial
) -> None:
    rs.participant_randomize(
        participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
    )
    AllocationState.objects.filter(trial=trial).update(sequence=5, state=None)
    participant = make_eligible()
    with pytest.raises(RuleViolation) as caught:
        rs.participant_randomize(
            participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    assert caught.value.code == "allocation_record_corrupt"
    participant.refresh_from_db()
    assert participant.randomization_number is None and Allocation.objects.count() == 1


def test_a_lock_row_behind_the_record_is_refused_by_the_database(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, trial: Trial
) -> None:
    # A lock row that lags the record (impossible through the service) would re-use number 1:
    # the database refuses the allocation and nothing is written.
    first = rs.participant_randomize(
        participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
    )
    AllocationState.objects.filter(trial=trial).update(sequence=0, last_hash=rs.GENESIS_HASH)
    participant = make_eligible()
    with pytest.raises(RuleViolation) as caught:
        rs.participant_randomize(
            participant=participant, by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
    assert caught.value.code == "allocation_record_corrupt"
    participant.refresh_from_db()
    assert participant.status == "eligible" and list(Allocation.objects.values_list("pk", flat=True)) == [first.pk]


@pytest.mark.parametrize("change", ["gap", "broken_link", "bad_genesis"])
def test_the_database_refuses_an_allocation_that_does_not_continue_the_chain(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, trial: Trial, change: str
) -> None:
    first = rs.participant_randomize(
        participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
    )
    fields = {"sequence": 2, "prev_hash": first.entry_hash}
    if change == "gap":
        fields["sequence"] = 3
    elif change == "broken_link":
        fields["prev_hash"] = "f" * 64
    else:
        fields = {"sequence": 1, "prev_hash": "f" * 64}  # the trigger speaks before the unique index
    forged = Allocation(
        trial=trial,
        scheme=scheme,
        participant=make_eligible(),
        arm="control",
        method="minimization",
        factors={},
        draws=[],
        details={},
        allocated_at=NOW,
        allocated_by=nurse,
        entry_hash="e" * 64,
        **fields,
    )
    with pytest.raises(IntegrityError, match=r"continue the record|start the chain"), transaction.atomic():
        forged.save()


def test_messages_have_a_chinese_translation() -> None:
    from django.utils import translation
    from django.utils.translation import gettext

    # The project catalogue (locale/) wins over the app's (randomization/locale/) where both
    # translate a string; either way the nurse reads Chinese.
    with translation.override("zh-hans"):
        for message in (
            "Your role does not allow this.",  # trialsite.roles.require, for every service
            "Randomization has not been activated for this trial.",
            "%(criterion)s: not assessable (missing data)",
        ):
            assert gettext(message) != message


def test_randomization_works_as_the_application_role(
    as_app_role: str, scheme: RandomizationScheme, make_eligible: ParticipantMaker, nurse: User, trial: Trial
) -> None:
    from randomization.verification import verify_trial

    # given the role production connects as (row privileges only): the scheme above was activated,
    # and these participants registered, screened and randomized, with its privileges
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == as_app_role
    done = [
        rs.participant_randomize(
            participant=make_eligible(), by=nurse, now=NOW, signature=signed(nurse, "randomize", at=NOW)
        )
        for _ in range(3)
    ]
    assert [a.sequence for a in done] == [1, 2, 3]
    assert verify_trial(trial).ok
