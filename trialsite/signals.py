"""Signals the registry and the feature apps send so that other apps can react without importing
each other's models. All are sent inside the sender's transaction (receivers that enqueue Celery
work must do so with transaction.on_commit).

- `participant_withdrawn(sender, participant)`: schedules cancels future events, bookings and
  reminders; dosing voids unreleased dose sheets.
- `participant_withdrawal_effects(sender, participant)`: a read, for the confirmation page of a
  withdrawal or a death: each receiver returns a list of sentences in the reader's language saying
  what that app would stop, with counts from the data ("2 bookings cancelled"); nothing is
  written. schedules answers for events, bookings and reminders, dosing for dose sheets.
- `clinical_data_recorded(sender, participant, kind, record)`: a measurement (kind "height" /
  "weight") or lab result (kind "lab") was recorded or marked entered in error; dosing voids or
  supersedes the affected dose sheets.
- `cycle_rescheduled(sender, participant, phase, cycle_number, day1)`: schedules moved a treatment
  cycle's day 1 (delay, booking moved); dosing re-dates or voids the cycle's unreleased sheet.
- `plan_changed(sender, participant, events=None)`: schedules created, re-made or changed a
  participant's events or bookings, or the registry changed the participant's contact or reminder
  preferences (sent once at the end of each such service, inside its transaction); the reminders
  re-compute that participant's pending reminder rows in the same transaction. `events`, when
  given, lists the only event ids that changed (a booking and what its re-plan moved), so the
  reminders re-compute those events' rows alone.
"""

from django.dispatch import Signal

participant_withdrawn = Signal()
participant_withdrawal_effects = Signal()
clinical_data_recorded = Signal()
cycle_rescheduled = Signal()
plan_changed = Signal()
