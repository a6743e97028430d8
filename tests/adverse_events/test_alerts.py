"""An SAE reaches the site's investigators at once: with the real parts (a Celery worker on the
real Redis broker, the test database, an SMTP server on loopback) the alert written with the SAE
is sent after its commit, once; and the send itself, called directly: a claimed alert is not sent
twice, a temporary failure leaves it pending (retried), a permanent one marks it failed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import translation

from adverse_events import notify, services
from adverse_events.models import SaeAlert
from adverse_events.worklists import saes_to_acknowledge
from tests.adverse_events.conftest import NOW, TODAY, record
from tests.support.smtp import SmtpSink
from tests.support.worker import Worker, wait_for
from trialsite import worklists
from trialsite.models import Participant, StaffProfile


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def worker(django_db_setup: Any, django_db_blocker: Any, sink: SmtpSink) -> Iterator[Worker]:
    w = Worker(name="sae-alerts", queues="default", EMAIL_URL=sink.url).start()
    yield w
    w.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_sae_is_emailed_to_the_sites_investigators_once_by_the_worker(
    worker: Worker, sink: SmtpSink, nurse: User, investigator: User, treated: Participant, terms: Any
) -> None:
    investigator.email = "pi@example.org"
    investigator.save()
    StaffProfile.objects.create(user=investigator, language="zh-hans")
    sink.clear()

    sae = record(treated, terms["Febrile neutropenia"], nurse, grade=3, serious=True)

    wait_for(lambda: len(sink.received) == 1, timeout=60, message="the SAE alert email")
    wait_for(lambda: SaeAlert.objects.filter(status="sent").count() == 1, timeout=30, message="the alert marked sent")
    [message] = sink.received
    assert message.rcpt_tos == ["pi@example.org"]
    assert treated.screening_number in message.subject and "发热性中性粒细胞减少" in message.subject
    assert treated.full_name not in message.subject + message.body  # no identity in an email
    alert = SaeAlert.objects.get()
    assert (alert.adverse_event_id, alert.attempts) == (sae.pk, 1)
    # Listed on the investigator's worklist until acknowledged.
    scope = worklists.scope_for(investigator, today=TODAY)
    assert [ae.pk for ae in saes_to_acknowledge(scope).items] == [sae.pk]
    services.ae_acknowledge(adverse_event=sae, by=investigator, now=NOW)
    assert saes_to_acknowledge(scope).items == []


@pytest.fixture
def alert(
    nurse: User, investigator: User, treated: Participant, terms: Any, django_capture_on_commit_callbacks: Any
) -> SaeAlert:
    """The pending alert of an SAE, its send not enqueued (the test sends it)."""
    investigator.email = "pi@example.org"
    investigator.save()
    with django_capture_on_commit_callbacks(execute=False):
        record(treated, terms["Febrile neutropenia"], nurse, grade=3, serious=True)
    return SaeAlert.objects.get()


@pytest.mark.django_db
def test_the_send_claims_the_row_and_owns_its_outcome(alert: SaeAlert) -> None:
    sent: list[tuple[str, ...]] = []

    def flaky(*args: str) -> str:
        raise notify.TemporaryError("421 try later")

    with pytest.raises(notify.TemporaryError):
        services.sae_alert_send(alert_id=alert.pk, now=lambda: NOW, send=flaky)
    alert.refresh_from_db()
    assert (alert.status, alert.attempts, alert.detail) == ("pending", 1, "421 try later")
    assert services.sae_alerts_due(now=NOW) == [alert.pk]

    def ok(*args: str) -> str:
        sent.append(args)
        return "mid-1"

    with translation.override("en"):
        assert services.sae_alert_send(alert_id=alert.pk, now=lambda: NOW, send=ok) == "sent"
        assert services.sae_alert_send(alert_id=alert.pk, now=lambda: NOW, send=ok) == "sent"  # not sent again
    assert len(sent) == 1 and sent[0][0] == "email" and sent[0][1] == "pi@example.org"
    assert "grade 3" in sent[0][2]
    assert services.sae_alerts_due(now=NOW) == []


@pytest.mark.django_db
def test_a_permanent_failure_marks_the_alert_failed(alert: SaeAlert) -> None:
    def refused(*args: str) -> str:
        raise notify.PermanentError("550 no such user")

    assert services.sae_alert_send(alert_id=alert.pk, now=lambda: NOW, send=refused) == "failed"
    alert.refresh_from_db()
    assert (alert.status, alert.detail) == ("failed", "550 no such user")
