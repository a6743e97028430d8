"""Fixtures of the randomization tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PROTOCOL_PATH
from trialsite import protocol


@pytest.fixture(scope="session")
def trial_definition() -> dict[str, Any]:
    return protocol.read(PROTOCOL_PATH)
