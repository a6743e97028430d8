"""Randomization methods and their deterministic random source. Pure Python, no Django.

Every allocation is a function of (configuration, the allocations before it, the new
participant's factor levels, a stream of draws). In production the draws come from
:class:`HmacDraws`, keyed by the trial's secret seed and the participant's position in the
sequence, so the whole record can be replayed exactly (``replay``) on any Python version: the
stream is HMAC-SHA256 in counter mode and every number is derived from its bytes with integer
arithmetic (no ``random`` module, whose algorithms may change between versions).

Methods:
- ``minimization``: Pocock & Simon, Biometrics 1975;31:103–115, with a random element: the arm
  with the smallest weighted marginal imbalance (range or variance) is chosen with probability p,
  ties broken at random; when every arm scores the same the choice is uniform.
- ``blocks``: stratified permuted blocks, each block's size drawn at random from a set.
- ``efron``: Efron's biased coin, Biometrika 1971;58:403–417 (two arms; p, default 2/3).
- ``simple``: independent draws in the arms' ratio.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

METHODS = ("minimization", "blocks", "efron", "simple")
IMBALANCE_MEASURES = ("range", "variance")
_TWO_53 = 1 << 53
_TWO_64 = 1 << 64


class ConfigurationError(ValueError):
    """A randomization configuration that cannot be used."""


class ReplayMismatch(ValueError):
    """A recorded allocation differs from what the seed and configuration give."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"position {position}: {message}")
        self.position = position


# --- Random sources ------------------------------------------------------------------------


class Draws(Protocol):
    """A stream of random numbers for one allocation."""

    def uniform(self) -> float: ...

    def randbelow(self, n: int) -> int: ...


class HmacDraws:
    """Deterministic draws for one sequence position: block i is HMAC-SHA256(seed, domain ‖
    position ‖ i) (NIST SP 800-108 counter-mode style). Each number consumes one block; the
    values used are kept in ``used`` for the allocation record."""

    DOMAIN = b"trialsite/randomization/v1"

    def __init__(self, seed: bytes, position: int) -> None:
        if not seed:
            raise ConfigurationError("The seed is empty.")
        self._seed = seed
        self._position = position
        self._counter = 0
        self.used: list[Any] = []

    def _next_block(self) -> int:
        msg = self.DOMAIN + b"|" + self._position.to_bytes(8, "big") + self._counter.to_bytes(8, "big")
        self._counter += 1
        digest = hmac.new(self._seed, msg, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big")

    def uniform(self) -> float:
        """A float in [0, 1) with 53 random bits (exact in IEEE double on every platform)."""
        value = (self._next_block() >> 11) / _TWO_53
        self.used.append(value)
        return value

    def randbelow(self, n: int) -> int:
        """An integer in [0, n), unbiased (rejection sampling on 64-bit blocks)."""
        if n < 1:
            raise ValueError("n must be positive")
        limit = _TWO_64 - (_TWO_64 % n)
        while True:
            block = self._next_block()
            if block < limit:
                value = block % n
                self.used.append(value)
                return value


class RandomDraws:
    """Draws from a ``random.Random`` (for simulations only: fast, seedable, not a secret)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def uniform(self) -> float:
        return self._rng.random()

    def randbelow(self, n: int) -> int:
        return self._rng.randrange(n)


def commitment(seed: bytes, config: Config) -> str:
    """SHA-256 commitment to the seed and the canonical configuration (published before use)."""
    return hashlib.sha256(
        b"trialsite-commitment-v1|" + seed.hex().encode() + b"|" + config.canonical_bytes()
    ).hexdigest()


# --- Configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Factor:
    code: str
    weight: float = 1.0
    levels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Config:
    method: str
    arms: tuple[str, ...]  # the protocol's arm codes, in its order
    ratios: tuple[int, ...] = (1, 1)
    p: float = 0.8
    imbalance: str = "range"
    factors: tuple[Factor, ...] = ()
    block_sizes: tuple[int, ...] = (4, 6)
    efron_p: float = 2 / 3

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigurationError("; ".join(problems))

    def problems(self) -> list[str]:
        out: list[str] = []
        if self.method not in METHODS:
            out.append(f"unknown method {self.method!r}")
        if len(self.arms) < 2 or len(set(self.arms)) != len(self.arms):
            out.append("at least two distinct arms are needed")
        if len(self.ratios) != len(self.arms) or any(r < 1 for r in self.ratios):
            out.append("one positive ratio per arm is needed")
        if self.method in ("minimization", "efron") and len(set(self.ratios)) != 1:
            out.append(f"{self.method} needs equal allocation ratios")
        if self.method == "efron" and len(self.arms) != 2:
            out.append("Efron's biased coin needs exactly two arms")
        if not 0.5 < self.p <= 1:
            out.append("p must be above 0.5 and at most 1")
        if not 0.5 < self.efron_p <= 1:
            out.append("efron_p must be above 0.5 and at most 1")
        if self.imbalance not in IMBALANCE_MEASURES:
            out.append(f"unknown imbalance measure {self.imbalance!r}")
        total = sum(self.ratios)
        if self.method == "blocks":
            if not self.block_sizes:
                out.append("block_sizes is empty")
            for size in self.block_sizes:
                if size < 2 or size % total:
                    out.append(f"block size {size} is not a multiple of the ratio total {total}")
        codes = [f.code for f in self.factors]
        if len(set(codes)) != len(codes):
            out.append("factor codes must be unique")
        if any(f.weight <= 0 for f in self.factors):
            out.append("factor weights must be positive")
        return out

    def canonical(self) -> dict[str, Any]:
        """A JSON-safe description; equal configurations give equal canonical bytes."""
        return {
            "method": self.method,
            "arms": list(self.arms),
            "ratios": list(self.ratios),
            "p": self.p,
            "imbalance": self.imbalance,
            "factors": [
                {"code": f.code, "weight": f.weight, "levels": list(f.levels) if f.levels is not None else None}
                for f in self.factors
            ],
            "block_sizes": list(self.block_sizes),
            "efron_p": self.efron_p,
        }

    def canonical_bytes(self) -> bytes:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> Config:
        return cls(
            method=data["method"],
            arms=tuple(data["arms"]),
            ratios=tuple(int(r) for r in data["ratios"]),
            p=float(data["p"]),
            imbalance=data["imbalance"],
            factors=tuple(
                Factor(f["code"], float(f["weight"]), tuple(f["levels"]) if f.get("levels") is not None else None)
                for f in data["factors"]
            ),
            block_sizes=tuple(int(b) for b in data["block_sizes"]),
            efron_p=float(data["efron_p"]),
        )

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any], **overrides: Any) -> Config:
        """The configuration in a protocol definition (its `arms` and `randomization` sections)."""
        spec = definition.get("randomization", {})
        # A protocol always has its arms (the schema requires them); without a trial (the
        # simulation command on its own) two arms, 1:1.
        arms = definition.get("arms") or [{"code": "A", "ratio": 1}, {"code": "B", "ratio": 1}]
        values: dict[str, Any] = {
            "method": spec.get("method", "minimization"),
            "arms": tuple(a["code"] for a in arms),
            "ratios": tuple(int(a.get("ratio", 1)) for a in arms),
            "p": float(spec.get("p", 0.8)),
            "imbalance": spec.get("imbalance", "range"),
            "factors": tuple(
                Factor(f["code"], float(f.get("weight", 1)), tuple(f["levels"]) if f.get("levels") else None)
                for f in spec.get("factors", [])
            ),
            "block_sizes": tuple(spec.get("block_sizes", (4, 6))),
            "efron_p": float(spec.get("efron_p", 2 / 3)),
        }
        values.update(overrides)
        return cls(**values)


# --- State and decisions -------------------------------------------------------------------


@dataclass
class Decision:
    arm: str
    details: dict[str, Any]


@dataclass
class State:
    """What the allocations so far imply: arm totals, counts per factor level, open blocks."""

    config: Config
    totals: list[int] = field(default_factory=list)
    # counts[factor_code][level] = per-arm counts
    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    # stratum key -> arms still to hand out in the stratum's current block
    blocks: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.totals:
            self.totals = [0] * len(self.config.arms)

    def with_config(self, config: Config) -> State:
        """Continue the sequence under an amended scheme: counts carry over, open blocks do not
        (a new scheme starts new blocks)."""
        counts = {code: {level: list(row) for level, row in rows.items()} for code, rows in self.counts.items()}
        return State(config=config, totals=list(self.totals), counts=counts)

    def as_data(self) -> dict[str, Any]:
        """A JSON-safe copy (the configuration is not included: it belongs to the scheme)."""
        return {
            "totals": list(self.totals),
            "counts": {code: {level: list(row) for level, row in rows.items()} for code, rows in self.counts.items()},
            "blocks": {key: list(arms) for key, arms in self.blocks.items()},
        }

    @classmethod
    def from_data(cls, config: Config, data: Mapping[str, Any]) -> State:
        """The inverse of `as_data` under `config`; ConfigurationError if the data does not fit it."""
        narms = len(config.arms)
        try:
            totals = [int(n) for n in data["totals"]]
            counts = {
                str(code): {str(level): [int(n) for n in row] for level, row in rows.items()}
                for code, rows in data["counts"].items()
            }
            blocks = {str(key): [str(arm) for arm in arms] for key, arms in data["blocks"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigurationError(f"unusable allocation state ({exc})") from exc
        rows = [totals, *(row for per_level in counts.values() for row in per_level.values())]
        if any(len(row) != narms or min(row) < 0 for row in rows):
            raise ConfigurationError("allocation state does not match the configuration's arms")
        if any(arm not in config.arms for arms in blocks.values() for arm in arms):
            raise ConfigurationError("allocation state names an arm the configuration does not have")
        return cls(config=config, totals=totals, counts=counts, blocks=blocks)

    def apply(self, factors: Mapping[str, str], arm: str) -> None:
        index = self.config.arms.index(arm)
        self.totals[index] += 1
        for factor in self.config.factors:
            level = factors[factor.code]
            per_level = self.counts.setdefault(factor.code, {})
            row = per_level.get(level)
            if row is None:
                row = per_level[level] = [0] * len(self.config.arms)
            row[index] += 1


def check_factors(config: Config, factors: Mapping[str, str]) -> dict[str, str]:
    """The participant's level of every configured factor, as strings; ValueError if missing."""
    out: dict[str, str] = {}
    for factor in config.factors:
        value = factors.get(factor.code)
        if value is None or value == "":
            raise ConfigurationError(f"missing stratification factor {factor.code!r}")
        level = str(value)
        if factor.levels is not None and level not in factor.levels:
            raise ConfigurationError(f"{factor.code}={level!r} is not one of {list(factor.levels)}")
        out[factor.code] = level
    return out


def _imbalance(counts: Sequence[int], measure: str) -> int:
    if measure == "range":
        return max(counts) - min(counts)
    # k² × population variance = k·Σx² − (Σx)²: an integer, so ties are exact.
    k = len(counts)
    return k * sum(c * c for c in counts) - sum(counts) ** 2


def minimization_scores(state: State, factors: Mapping[str, str]) -> list[float]:
    """G(a) = Σ_f w_f · imbalance of the participant's level of f if they joined arm a."""
    config = state.config
    narms = len(config.arms)
    scores: list[float] = []
    for arm_index in range(narms):
        total = 0.0
        for factor in config.factors:
            row = state.counts.get(factor.code, {}).get(factors[factor.code]) or [0] * narms
            hypothetical = list(row)
            hypothetical[arm_index] += 1
            total += factor.weight * _imbalance(hypothetical, config.imbalance)
        if not config.factors:
            # Unstratified minimization balances the totals.
            hypothetical = list(state.totals)
            hypothetical[arm_index] += 1
            total = float(_imbalance(hypothetical, config.imbalance))
        scores.append(total)
    return scores


def _allocate_minimization(state: State, factors: Mapping[str, str], draws: Draws) -> Decision:
    config = state.config
    scores = minimization_scores(state, factors)
    best = min(scores)
    minimizing = [i for i, s in enumerate(scores) if s == best]
    others = [i for i in range(len(config.arms)) if i not in minimizing]
    u = draws.uniform()
    if not others:
        chose_minimizing = True
        pool = minimizing
    else:
        chose_minimizing = u < config.p
        pool = minimizing if chose_minimizing else others
    pick = pool[draws.randbelow(len(pool))] if len(pool) > 1 else pool[0]
    return Decision(
        config.arms[pick],
        {
            "scores": dict(zip(config.arms, scores, strict=True)),
            "minimizing_arms": [config.arms[i] for i in minimizing],
            "chose_minimizing": chose_minimizing,
        },
    )


def stratum_key(config: Config, factors: Mapping[str, str]) -> str:
    return "|".join(f"{f.code}={factors[f.code]}" for f in config.factors) or "all"


def _allocate_blocks(state: State, factors: Mapping[str, str], draws: Draws) -> Decision:
    config = state.config
    key = stratum_key(config, factors)
    block = state.blocks.get(key)
    new_block = not block
    if not block:
        size = config.block_sizes[draws.randbelow(len(config.block_sizes))]
        per_unit = size // sum(config.ratios)
        block = [arm for arm, ratio in zip(config.arms, config.ratios, strict=True) for _ in range(ratio * per_unit)]
        # Fisher–Yates with unbiased integer draws.
        for i in range(len(block) - 1, 0, -1):
            j = draws.randbelow(i + 1)
            block[i], block[j] = block[j], block[i]
        state.blocks[key] = block
    arm = block.pop(0)
    return Decision(arm, {"stratum": key, "new_block": new_block, "left_in_block": len(block)})


def _allocate_efron(state: State, factors: Mapping[str, str], draws: Draws) -> Decision:
    config = state.config
    difference = state.totals[0] - state.totals[1]
    u = draws.uniform()
    if difference == 0:
        index = 0 if u < 0.5 else 1
    else:
        behind = 1 if difference > 0 else 0
        index = behind if u < config.efron_p else 1 - behind
    return Decision(config.arms[index], {"imbalance": difference})


def _allocate_simple(state: State, factors: Mapping[str, str], draws: Draws) -> Decision:
    config = state.config
    slot = draws.randbelow(sum(config.ratios))
    for arm, ratio in zip(config.arms, config.ratios, strict=True):
        if slot < ratio:
            return Decision(arm, {})
        slot -= ratio
    raise AssertionError("unreachable")


_ALLOCATORS = {
    "minimization": _allocate_minimization,
    "blocks": _allocate_blocks,
    "efron": _allocate_efron,
    "simple": _allocate_simple,
}


def allocate(state: State, factors: Mapping[str, str], draws: Draws) -> Decision:
    """Allocate the next participant and update `state`. `factors` must hold every factor."""
    levels = check_factors(state.config, factors)
    decision = _ALLOCATORS[state.config.method](state, levels, draws)
    state.apply(levels, decision.arm)
    return decision


# --- Replay --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One allocation of the record, as replay needs it."""

    position: int
    factors: Mapping[str, str]
    arm: str
    config: Config
    draws: Sequence[Any] | None = None
    details: Mapping[str, Any] | None = None
    # The seed of the scheme this allocation was made under (an amended scheme has a new seed);
    # None means the seed passed to replay.
    seed: bytes | None = None


def replay(seed: bytes, records: Iterable[Recorded], *, config: Config) -> State:
    """Re-derive every allocation from the seed; raise ReplayMismatch at the first difference.

    Positions must run 1, 2, … without gaps. A change of configuration between records is a
    scheme amendment: the state continues under the new configuration."""
    state = State(config=config)
    expected_position = 1
    for record in records:
        if record.position != expected_position:
            raise ReplayMismatch(record.position, f"expected sequence position {expected_position}")
        if state.config != record.config:
            state = state.with_config(record.config)
        draws = HmacDraws(record.seed or seed, record.position)
        try:
            decision = allocate(state, record.factors, draws)
        except ConfigurationError as exc:
            raise ReplayMismatch(record.position, str(exc)) from exc
        if decision.arm != record.arm:
            raise ReplayMismatch(record.position, f"recorded arm {record.arm!r}, replay gives {decision.arm!r}")
        if record.draws is not None and list(record.draws) != draws.used:
            raise ReplayMismatch(record.position, "recorded draws differ from the replayed draws")
        if record.details is not None and dict(record.details) != decision.details:
            raise ReplayMismatch(record.position, "recorded decision details differ from the replay")
        expected_position += 1
    return state
