"""Dose arithmetic, pure Python (no Django models or settings): every input is an argument, every
amount a Decimal. What a sheet says about a number (a rounding rule, a level's reason) is a stored
phrase built with trialsite.phrases (plain JSON; only its rendering translates).

- formulas: rounding, measurement checks, BSA and creatinine clearance (and the error and
  warning types the calculations raise and return);
- drug_doses: one drug of the protocol as typed values, and its dose at a dose level;
- modifications: the toxicity and renal rules, and which investigator decisions fit them;
- regimen_doses: a person's doses for one cycle (dose basis, renal rules, day-1 criteria).
"""
