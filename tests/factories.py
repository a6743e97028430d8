"""factory_boy factories for test data. Participants are built through the model (factories are
for arranging state quickly); tests of the rules call the services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

import factory

from trialsite import labs, services
from trialsite.models import Participant


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    screening_number = factory.Sequence(lambda n: f"S{n:04d}")
    full_name = factory.Sequence(lambda n: f"测试患者{n}")
    sex = "male"
    birth_date = dt.date(1966, 5, 17)
    consent_date = dt.date(2026, 2, 20)
    protocol_version = factory.LazyAttribute(lambda o: o.trial.current_protocol)
    phone = "+86 138 0000 0000"


def record_labs(participant: Participant, values: Mapping[str, Decimal | str], *, on: dt.date) -> None:
    """Record lab values, each in its analyte's canonical unit (trialsite/labs.py), through the
    registry's service, collected and recorded on `on`."""
    for analyte, value in values.items():
        services.lab_result_record(
            participant=participant,
            analyte=analyte,
            value=value,
            unit=labs.ANALYTES[analyte].unit,
            collected_on=on,
            by=None,
            today=on,
        )
