"""Monte Carlo operating characteristics of a randomization method (balance and predictability),
as the statistician checks them before go-live. Pure Python, no Django.

Each run draws n participants' factor levels from the given distributions and allocates them
with the same code as production (``methods.allocate``), using a seeded ``random.Random`` (a
simulation needs speed, not secrecy). Reported:

- balance: |difference between the arms| at the end of each run and its maximum during the
  run (overall), and at the end within each factor level (per site when site is a factor);
- predictability: the probability that the convergence-strategy guesser (Blackwell & Hodges,
  Ann Math Stat 1957;28:449) guesses the next arm, for a guesser who sees every earlier
  allocation of the trial and for one who sees only their own site's; a tie counts one half.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from randomization import methods


@dataclass(frozen=True)
class FactorDistribution:
    code: str
    levels: tuple[str, ...]
    probabilities: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.levels) != len(self.probabilities) or not self.levels:
            raise ValueError(f"{self.code}: one probability per level is needed")
        if any(p < 0 for p in self.probabilities) or abs(sum(self.probabilities) - 1) > 1e-6:
            raise ValueError(f"{self.code}: probabilities must be ≥ 0 and add up to 1")


@dataclass
class Summary:
    method: str
    n: int
    runs: int
    seed: int
    stratified_by: list[str]
    mean_abs_final_imbalance: float
    mean_max_abs_imbalance: float
    p_final_imbalance_gt_2: float
    correct_guess_probability: float
    correct_guess_probability_site: float | None
    # factor code → level → mean |imbalance| at the end
    per_level_mean_abs_final_imbalance: dict[str, dict[str, float]] = field(default_factory=dict)
    final_imbalance_histogram: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "n": self.n,
            "runs": self.runs,
            "seed": self.seed,
            "stratified_by": self.stratified_by,
            "mean_abs_final_imbalance": round(self.mean_abs_final_imbalance, 6),
            "mean_max_abs_imbalance": round(self.mean_max_abs_imbalance, 6),
            "p_final_imbalance_gt_2": round(self.p_final_imbalance_gt_2, 6),
            "correct_guess_probability": round(self.correct_guess_probability, 6),
            "correct_guess_probability_site": None
            if self.correct_guess_probability_site is None
            else round(self.correct_guess_probability_site, 6),
            "per_level_mean_abs_final_imbalance": {
                code: {level: round(v, 6) for level, v in levels.items()}
                for code, levels in self.per_level_mean_abs_final_imbalance.items()
            },
            "final_imbalance_histogram": {str(k): v for k, v in sorted(self.final_imbalance_histogram.items())},
            "seconds": round(self.seconds, 2),
        }


def _spread(counts: Sequence[int]) -> int:
    return max(counts) - min(counts)


def _guess_credit(counts: Sequence[int], actual: int) -> float:
    """Convergence strategy: guess an arm with the fewest so far; credit 1/ties if right."""
    low = min(counts)
    ties = [i for i, c in enumerate(counts) if c == low]
    return 1.0 / len(ties) if actual in ties else 0.0


def simulate(
    config: methods.Config,
    distributions: Sequence[FactorDistribution],
    *,
    n: int,
    runs: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    now: Callable[[], float] | None = None,
) -> Summary:
    """Simulate `runs` trials of `n` participants. Factor levels are drawn for every factor of
    `distributions` (the configuration's factors must be among them); `site`, when present, also
    drives the site-level guesser."""
    dist_by_code = {d.code: d for d in distributions}
    missing = [f.code for f in config.factors if f.code not in dist_by_code]
    if missing:
        raise ValueError(f"no distribution for factor(s) {', '.join(missing)}")
    started = now() if now else 0.0
    rng = random.Random(seed)  # noqa: S311 — a simulation needs speed and a seed, not secrecy
    draws = methods.RandomDraws(rng)
    narms = len(config.arms)
    arm_index = {arm: i for i, arm in enumerate(config.arms)}
    codes = [d.code for d in distributions]
    cum_weights = [list(accumulate(d.probabilities)) for d in distributions]
    level_lists = [list(d.levels) for d in distributions]
    has_site = "site" in dist_by_code

    total_final = 0
    total_max = 0
    over_2 = 0
    guess_all = 0.0
    guess_site = 0.0
    histogram: dict[int, int] = {}
    level_sums: dict[str, dict[str, int]] = {d.code: dict.fromkeys(d.levels, 0) for d in distributions}
    choices = rng.choices

    for run in range(runs):
        state = methods.State(config=config)
        totals = state.totals
        site_totals: dict[str, list[int]] = {}
        level_counts: dict[str, dict[str, list[int]]] = {c: {} for c in codes}
        max_spread = 0
        for _ in range(n):
            levels = {
                code: choices(level_list, cum_weights=cw)[0]
                for code, level_list, cw in zip(codes, level_lists, cum_weights, strict=True)
            }
            before = list(totals)
            decision = methods.allocate(state, levels, draws)
            actual = arm_index[decision.arm]
            guess_all += _guess_credit(before, actual)
            if has_site:
                at_site = site_totals.setdefault(levels["site"], [0] * narms)
                guess_site += _guess_credit(at_site, actual)
                at_site[actual] += 1
            for code in codes:
                row = level_counts[code].setdefault(levels[code], [0] * narms)
                row[actual] += 1
            spread = _spread(totals)
            if spread > max_spread:
                max_spread = spread
        final = _spread(totals)
        total_final += final
        total_max += max_spread
        over_2 += final > 2
        histogram[final] = histogram.get(final, 0) + 1
        for code in codes:
            for level, row in level_counts[code].items():
                level_sums[code][level] += _spread(row)
        if progress is not None:
            progress(run + 1)

    allocations = runs * n
    return Summary(
        method=config.method,
        n=n,
        runs=runs,
        seed=seed,
        stratified_by=[f.code for f in config.factors],
        mean_abs_final_imbalance=total_final / runs,
        mean_max_abs_imbalance=total_max / runs,
        p_final_imbalance_gt_2=over_2 / runs,
        correct_guess_probability=guess_all / allocations,
        correct_guess_probability_site=(guess_site / allocations) if has_site else None,
        per_level_mean_abs_final_imbalance={
            code: {level: total / runs for level, total in sums.items()} for code, sums in level_sums.items()
        },
        final_imbalance_histogram=histogram,
        seconds=(now() - started) if now else 0.0,
    )


def parse_distribution(text: str) -> FactorDistribution:
    """`ecog=0:0.6,1:0.4` → FactorDistribution("ecog", ("0", "1"), (0.6, 0.4))."""
    code, _, spec = text.partition("=")
    if not code or not spec:
        raise ValueError(f"{text!r}: write FACTOR=LEVEL:P,LEVEL:P")
    levels, probabilities = [], []
    for part in spec.split(","):
        level, _, p = part.partition(":")
        levels.append(level.strip())
        probabilities.append(float(p))
    return FactorDistribution(code.strip(), tuple(levels), tuple(probabilities))


def distributions_from_definition(
    definition: Mapping[str, Any], factor_codes: Sequence[str]
) -> list[FactorDistribution]:
    """The protocol's assumed factor distributions (randomization.simulation.distributions);
    sites equally likely and other factors uniform over their levels where none is given."""
    spec = definition.get("randomization", {}).get("simulation", {}).get("distributions", {})
    levels_of = {f["code"]: f.get("levels") for f in definition.get("randomization", {}).get("factors", [])}
    out = []
    for code in factor_codes:
        given = spec.get(code)
        if given:
            out.append(FactorDistribution(code, tuple(str(k) for k in given), tuple(float(v) for v in given.values())))
            continue
        levels = [s["code"] for s in definition.get("sites", [])] if code == "site" else levels_of.get(code) or []
        if not levels:
            raise ValueError(f"no levels known for factor {code!r}")
        out.append(FactorDistribution(code, tuple(levels), tuple(1 / len(levels) for _ in levels)))
    return out
