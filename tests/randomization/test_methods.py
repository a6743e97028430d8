"""The pure randomization methods and their deterministic generator."""

from __future__ import annotations

import hashlib
import hmac
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from randomization import methods
from randomization.methods import Config, Factor, HmacDraws, Recorded, State

SEED = bytes(range(32))
# The arm codes of the trial's protocol (trialsite/protocols/NCT06850103.yaml).
ARMS = ("experimental", "control")
FACTORS = (Factor("site", 1.0), Factor("liver", 1.0, ("yes", "no")), Factor("ecog", 1.0, ("0", "1")))


def test_hmac_stream_is_the_documented_construction() -> None:
    # given the construction in HmacDraws' docstring, computed independently
    msg = b"trialsite/randomization/v1|" + (7).to_bytes(8, "big") + (0).to_bytes(8, "big")
    block = int.from_bytes(hmac.new(SEED, msg, hashlib.sha256).digest()[:8], "big")
    # then the first uniform of position 7 is its top 53 bits
    assert HmacDraws(SEED, 7).uniform() == (block >> 11) / 2**53


def test_hmac_stream_is_keyed_by_seed_and_position() -> None:
    a = [HmacDraws(SEED, 1).uniform() for _ in range(1)]
    assert a == [HmacDraws(SEED, 1).uniform()]
    assert HmacDraws(SEED, 1).uniform() != HmacDraws(SEED, 2).uniform()
    assert HmacDraws(SEED, 1).uniform() != HmacDraws(b"another seed", 1).uniform()


def test_hmac_stream_values_are_pinned() -> None:
    # Pinned outputs: if these change, every recorded allocation would no longer replay.
    draws = HmacDraws(b"pinned-seed", 1)
    values = [draws.uniform(), draws.randbelow(6), draws.randbelow(2)]
    assert values == [0.8223852752945435, 3, 1]
    assert draws.used == values


@given(st.integers(min_value=1, max_value=1000), st.integers(min_value=1, max_value=10_000))
def test_randbelow_is_in_range(n: int, position: int) -> None:
    assert 0 <= HmacDraws(SEED, position).randbelow(n) < n


def test_randbelow_is_roughly_uniform() -> None:
    counts = Counter(HmacDraws(SEED, pos).randbelow(3) for pos in range(3000))
    assert all(900 < counts[k] < 1100 for k in range(3))


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (dict(method="nope"), "unknown method"),
        (dict(method="minimization", ratios=(2, 1)), "equal allocation ratios"),
        (dict(method="blocks", block_sizes=(3,)), "not a multiple"),
        (dict(method="efron", arms=("a", "b", "c"), ratios=(1, 1, 1)), "exactly two arms"),
        (dict(method="minimization", p=0.5), "p must be above 0.5"),
        (dict(method="minimization", imbalance="max"), "imbalance measure"),
    ],
)
def test_bad_configurations_are_refused(config: dict, problem: str) -> None:
    with pytest.raises(methods.ConfigurationError, match=problem):
        Config(**{"arms": ARMS, **config})


def test_canonical_round_trip_and_commitment() -> None:
    config = Config(arms=ARMS, method="minimization", factors=FACTORS)
    assert Config.from_canonical(config.canonical()) == config
    c1 = methods.commitment(SEED, config)
    assert len(c1) == 64
    assert c1 != methods.commitment(SEED, Config(arms=ARMS, method="minimization", factors=FACTORS, p=0.9))
    assert c1 != methods.commitment(b"x" * 32, config)


def test_config_from_protocol_definition(trial_definition: dict) -> None:
    config = Config.from_definition(trial_definition)
    assert config.method == "minimization"
    assert config.p == 0.8
    assert [f.code for f in config.factors] == ["site", "liver_only_metastases", "ecog"]
    assert config.arms == ("experimental", "control")


class FixedDraws:
    """Draws chosen by the test."""

    def __init__(self, uniforms: list[float], ints: list[int] | None = None) -> None:
        self.uniforms = list(uniforms)
        self.ints = list(ints or [])

    def uniform(self) -> float:
        return self.uniforms.pop(0)

    def randbelow(self, n: int) -> int:
        return self.ints.pop(0) % n


def _levels(site: str, liver: str, ecog: str) -> dict[str, str]:
    return {"site": site, "liver": liver, "ecog": ecog}


def test_minimization_worked_example() -> None:
    # Pocock & Simon's procedure by hand: 3 participants so far.
    config = Config(arms=ARMS, method="minimization", factors=FACTORS, p=0.8)
    state = State(config=config)
    state.apply(_levels("A", "yes", "0"), "experimental")
    state.apply(_levels("A", "no", "1"), "control")
    state.apply(_levels("B", "yes", "0"), "experimental")
    new = _levels("A", "yes", "1")
    # site A: exp 1, ctl 1; liver yes: exp 2, ctl 0; ecog 1: exp 0, ctl 1.
    # joining experimental: |2-1| + |3-0| + |1-1| = 4; joining control: |1-2| + |2-1| + |0-2| = 4.
    scores = methods.minimization_scores(state, new)
    assert scores == [1 + 3 + 0, 1 + 1 + 2]
    # a tie across all arms: the choice is at random (a uniform and then an integer draw)
    decision = methods.allocate(state, new, FixedDraws([0.99], [1]))
    assert decision.arm == "control"
    assert decision.details["chose_minimizing"] is True
    assert decision.details["minimizing_arms"] == ["experimental", "control"]


def test_minimization_takes_the_minimizing_arm_with_probability_p() -> None:
    config = Config(arms=ARMS, method="minimization", factors=FACTORS, p=0.8)
    state = State(config=config)
    state.apply(_levels("A", "yes", "0"), "experimental")
    new = _levels("A", "yes", "0")  # control minimizes
    assert (
        methods.allocate(
            State(config=config, totals=list(state.totals), counts=state.counts), new, FixedDraws([0.79])
        ).arm
        == "control"
    )
    state2 = State(config=config)
    state2.apply(_levels("A", "yes", "0"), "experimental")
    decision = methods.allocate(state2, new, FixedDraws([0.8]))
    assert decision.arm == "experimental"
    assert decision.details["chose_minimizing"] is False


def test_variance_measure_scores() -> None:
    config = Config(arms=ARMS, method="minimization", factors=(Factor("site"),), imbalance="variance")
    state = State(config=config)
    state.apply({"site": "A"}, "experimental")
    # counts after joining experimental: (2, 0) → 2·4 − 4 = 4; control: (1, 1) → 0.
    assert methods.minimization_scores(state, {"site": "A"}) == [4.0, 0.0]


def test_missing_factor_is_refused() -> None:
    with pytest.raises(methods.ConfigurationError, match="ecog"):
        methods.allocate(
            State(config=Config(arms=ARMS, method="minimization", factors=FACTORS)),
            {"site": "A", "liver": "yes"},
            FixedDraws([0.1]),
        )


def test_unknown_level_is_refused() -> None:
    with pytest.raises(methods.ConfigurationError, match="not one of"):
        methods.check_factors(Config(arms=ARMS, method="minimization", factors=FACTORS), _levels("A", "maybe", "0"))


@pytest.mark.parametrize("sizes", [(4,), (4, 6), (2, 4, 8)])
def test_blocks_are_balanced_at_every_block_end(sizes: tuple[int, ...]) -> None:
    config = Config(arms=ARMS, method="blocks", block_sizes=sizes, factors=(Factor("site"),))
    state = State(config=config)
    seen_sizes = set()
    per_site: dict[str, list[str]] = {"A": [], "B": []}
    for position in range(1, 201):
        site = "A" if position % 3 else "B"
        decision = methods.allocate(state, {"site": site}, HmacDraws(SEED, position))
        per_site[site].append(decision.arm)
        if decision.details["new_block"]:
            seen_sizes.add(decision.details["left_in_block"] + 1)
        if decision.details["left_in_block"] == 0:
            arms = per_site[site]
            assert arms.count("experimental") == arms.count("control")
    assert seen_sizes == set(sizes)


def test_blocks_with_unequal_ratio() -> None:
    config = Config(arms=ARMS, method="blocks", ratios=(2, 1), block_sizes=(3, 6))
    state = State(config=config)
    arms = [methods.allocate(state, {}, HmacDraws(SEED, p)).arm for p in range(1, 31)]
    assert state.totals[0] - 2 * state.totals[1] == 0 or not any(state.blocks.values())
    assert arms.count("experimental") == 20


def test_efron_prefers_the_arm_behind() -> None:
    config = Config(arms=ARMS, method="efron", efron_p=2 / 3)
    state = State(config=config, totals=[3, 1])
    assert methods.allocate(state, {}, FixedDraws([0.6])).arm == "control"
    state = State(config=config, totals=[3, 1])
    assert methods.allocate(state, {}, FixedDraws([0.7])).arm == "experimental"
    state = State(config=config, totals=[2, 2])
    assert methods.allocate(state, {}, FixedDraws([0.49])).arm == "experimental"


def test_simple_follows_the_ratio() -> None:
    config = Config(arms=ARMS, method="simple", ratios=(2, 1))
    state = State(config=config)
    for position in range(1, 3001):
        methods.allocate(state, {}, HmacDraws(SEED, position))
    assert 1900 < state.totals[0] < 2100


@pytest.mark.parametrize("method", methods.METHODS)
def test_replay_reproduces_and_detects_tampering(method: str) -> None:
    config = Config(arms=ARMS, method=method, factors=FACTORS if method != "efron" else ())
    rng = random.Random(5)
    state = State(config=config)
    records = []
    for position in range(1, 61):
        levels = _levels(rng.choice("ABC"), rng.choice(["yes", "no"]), rng.choice("01"))
        draws = HmacDraws(SEED, position)
        decision = methods.allocate(state, levels, draws)
        records.append(Recorded(position, levels, decision.arm, config, draws.used, decision.details))
    final = methods.replay(SEED, records, config=config)
    assert final.totals == state.totals
    # a flipped arm is found at its position
    bad = list(records)
    other = "control" if bad[41].arm == "experimental" else "experimental"
    bad[41] = Recorded(42, bad[41].factors, other, config)
    with pytest.raises(methods.ReplayMismatch) as info:
        methods.replay(SEED, bad, config=config)
    assert info.value.position == 42
    # a gap in the sequence is found
    with pytest.raises(methods.ReplayMismatch, match="expected sequence position 10"):
        methods.replay(SEED, records[:9] + records[10:], config=config)
    # another seed does not replay
    with pytest.raises(methods.ReplayMismatch):
        methods.replay(b"wrong seed", records, config=config)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ABC"), st.sampled_from(["yes", "no"]), st.sampled_from("01")),
        min_size=1,
        max_size=80,
    )
)
def test_minimization_with_p_1_keeps_every_margin_within_one_for_a_single_factor(seq: list) -> None:
    # With p = 1 and one factor, minimization is deterministic balancing of that factor.
    config = Config(arms=ARMS, method="minimization", factors=(Factor("site"),), p=1.0)
    state = State(config=config)
    for position, (site, _liver, _ecog) in enumerate(seq, start=1):
        methods.allocate(state, {"site": site}, HmacDraws(SEED, position))
        for row in state.counts["site"].values():
            assert abs(row[0] - row[1]) <= 1
