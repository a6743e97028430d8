"""The bench tests start from randomized participants: the schedules tests' fixture, shared."""

from tests.schedules.conftest import make_randomized  # noqa: F401
