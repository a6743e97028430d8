"""The reminders' tests start from a randomized participant with a plan: the schedules tests'
fixtures, shared rather than copied."""

from tests.schedules.conftest import make_randomized, now, plan, randomized  # noqa: F401
