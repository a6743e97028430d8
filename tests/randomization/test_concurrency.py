"""Exactly once under concurrency, with real threads on PostgreSQL: many distinct participants
across strata plus duplicate requests for the same participants, all at once."""

from __future__ import annotations

import contextlib
import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from randomization import services as rs
from randomization.models import Allocation, RandomizationScheme
from randomization.verification import verify_trial
from tests.conftest import TEST_PASSWORD
from tests.randomization.conftest import NOW, ParticipantMaker
from tests.support.signatures import signed
from trialsite import roles
from trialsite.errors import Conflict
from trialsite.models import Participant, Site, Trial

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        try:
            return fn()
        finally:
            connection.close()  # each thread has its own connection; give it back

    return run


@pytest.fixture
def everywhere_nurse(make_user: Callable[..., User], trial: Trial) -> User:
    return make_user(roles.RESEARCH_NURSE, list(Site.objects.all()), username="roving_nurse")


def test_concurrent_randomizations_are_exactly_once_and_replayable(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, everywhere_nurse: User, trial: Trial
) -> None:
    # given 60 eligible participants spread over 7 sites, both ECOG levels and liver-only yes/no
    rng = random.Random(7)
    sites = list(Site.objects.order_by("code"))
    participants = [
        make_eligible(site=rng.choice(sites), ecog=rng.choice([0, 1]), liver_only_metastases=rng.random() < 0.5)
        for _ in range(60)
    ]
    # and 40 of them requested twice (two nurses clicking at the same moment)
    requests = [p.pk for p in participants] + [p.pk for p in participants[:40]]
    rng.shuffle(requests)
    barrier = threading.Barrier(16)

    def randomize(pk: int) -> tuple[int, str, int]:
        participant = Participant.objects.get(pk=pk)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)
        try:
            allocation = rs.participant_randomize(
                participant=participant,
                by=everywhere_nurse,
                now=NOW,
                signature=signed(everywhere_nurse, "randomize", at=NOW),
            )
            return pk, "created", allocation.sequence
        except Conflict as exc:
            return pk, "conflict", int(exc.extra["randomization_number"])  # type: ignore[call-overload]

    # when 16 threads send all 100 requests
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda pk: _in_thread(lambda: randomize(pk))(), requests))

    # then every participant is randomized once, duplicates get 409 with the same number
    created = [r for r in results if r[1] == "created"]
    conflicts = [r for r in results if r[1] == "conflict"]
    assert len(created) == 60 and len(conflicts) == 40
    number_of = {pk: n for pk, _, n in created}
    assert all(number_of[pk] == n for pk, _, n in conflicts)
    assert Counter(pk for pk, _, _ in created).most_common(1)[0][1] == 1
    # no duplicates and no gaps in the sequence
    assert sorted(Allocation.objects.values_list("sequence", flat=True)) == list(range(1, 61))
    # every minimization decision is what the replay from the seed gives, and the chain holds
    report = verify_trial(trial)
    assert report.ok, report.problem
    assert report.allocations == 60


def test_same_idempotency_key_concurrently_gives_one_answer(
    scheme: RandomizationScheme, make_eligible: ParticipantMaker, everywhere_nurse: User
) -> None:
    participant = make_eligible()
    token = Token.objects.get(user=everywhere_nurse).key
    barrier = threading.Barrier(6)

    def call() -> tuple[int, Any]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}", HTTP_X_SIGNATURE_PASSWORD=TEST_PASSWORD)
        barrier.wait(timeout=5)
        response = client.post(
            f"/api/v1/participants/{participant.pk}/randomize/", {}, format="json", HTTP_IDEMPOTENCY_KEY="same-key"
        )
        return response.status_code, response.json()

    # the API reads the clock; time-machine's travel applies to every thread
    with time_machine.travel(NOW, tick=False), ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(_in_thread(call)) for _ in range(6)]
        answers = [f.result() for f in futures]
    assert {status for status, _ in answers} == {201}
    assert all(body == answers[0][1] for _, body in answers)
    assert Allocation.objects.count() == 1
