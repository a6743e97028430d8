"""Writes of the schedules app, one module per idea: `plans` (make, re-make, delay, stop and
re-check a treatment plan), `actual_dates` (record the day an event happened), `bookings`,
`closures` (site closures and national calendar notices) and `feeds` (calendar-feed keys); below
them `replanning` (the plan's rows follow the protocol's arithmetic), `chairs` (infusion-chair
capacity) and `locks`.

Lock order, everywhere: the participant first; then that participant's plan, events, bookings
and reminder rows, which are only ever locked under the participant's lock (the reminders'
dispatcher skips locked rows; the expiry and the send claim are single statements that hold no
other lock), so their order among themselves cannot make two transactions wait for each other in
a cycle; the site-day rows last of all, in (site, date) order. A site-day row (one site's
infusion chairs on one day) is shared by every booking of that site and day, so it is taken just
before commit — after the re-plan and the reminders' sync — and held for as little as possible.
Withdrawal (trialsite.services.participant_withdraw) locks the participant first too, so a
booking racing a withdrawal waits and then sees the withdrawn status."""
