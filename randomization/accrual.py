"""Accrual and balance: cumulative enrolment against the target and the planned accrual (the
protocol's `trial.planned_accrual`), per site; and, for whoever may read the allocation record
(the statistician), arm balance overall and per stratification factor level. Everyone else sees
accrual without arms. Aggregates only: no participant is named.

Charts are SVG drawn with matplotlib (as the simulation report) and kept in the shared cache
under a key that changes with every enrolment, so a page costs a few aggregate queries."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db.models import Count, Max
from django.db.models.fields.json import KT
from django.db.models.functions import TruncMonth
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from randomization import readable
from randomization.models import Allocation
from trialsite import i18n, roles
from trialsite.cache import cache_get, cache_set
from trialsite.models import Participant, Site, Trial

BALANCE_PERMISSION = "randomization.view_allocation"


@dataclass
class Accrual:
    trial: Trial
    target: int
    enrolled: int
    planned_start: dt.date | None
    planned_end: dt.date | None
    planned_source: str
    months: list[tuple[dt.date, int, int]]  # (first day of month, enrolled that month, cumulative)
    per_site: list[tuple[str, str, int]]  # (code, name, enrolled)
    planned_by_now: int | None
    with_arms: bool
    arms: list[tuple[str, str, int]] = field(default_factory=list)  # (code, name, n)
    factors: list[dict[str, Any]] = field(default_factory=list)  # [{label, levels: [(level, {arm: n})]}]
    version: str = ""


def _arm_names(definition: dict[str, Any]) -> dict[str, str]:
    chinese = get_language() == "zh-hans"
    return {
        a["code"]: str((a.get("name_zh") if chinese else None) or a.get("name") or i18n.arm_name(a["code"]))
        for a in definition.get("arms", [])
    }


def planned_by(day: dt.date, start: dt.date, end: dt.date, target: int) -> int:
    """Participants the even plan expects by `day` (0 before the start, the target after the end)."""
    if day <= start:
        return 0
    if day >= end:
        return target
    return round(target * (day - start).days / (end - start).days)


def accrual(*, trial: Trial, user: User, today: dt.date) -> Accrual:
    roles.require(user, "trialsite.view_trial")
    definition = trial.definition
    plan = definition.get("trial", {}).get("planned_accrual") or {}
    start = dt.date.fromisoformat(plan["start"]) if plan.get("start") else None
    end = dt.date.fromisoformat(plan["end"]) if plan.get("end") else None
    zone = ZoneInfo(definition.get("trial", {}).get("time_zone") or "Asia/Shanghai")
    randomized = Participant.objects.filter(trial=trial, randomized_at__isnull=False)
    by_month = (
        randomized.annotate(month=TruncMonth("randomized_at", tzinfo=zone))
        .values("month")
        .annotate(n=Count("id"))
        .order_by("month")
    )
    months, total = [], 0
    for row in by_month:
        total += row["n"]
        months.append((row["month"].date() if isinstance(row["month"], dt.datetime) else row["month"], row["n"], total))
    counts = dict(randomized.values_list("site_id").annotate(n=Count("id")).values_list("site_id", "n"))
    language = get_language()
    per_site = [
        (s.code, s.name_in(language), counts.get(s.pk, 0)) for s in Site.objects.filter(trials=trial).order_by("code")
    ]
    newest = randomized.aggregate(m=Max("randomized_at"))["m"]
    with_arms = user.is_superuser or user.has_perm(BALANCE_PERMISSION)
    result = Accrual(
        trial=trial,
        target=trial.target_enrollment,
        enrolled=total,
        planned_start=start,
        planned_end=end,
        planned_source=str(plan.get("source", "")),
        months=months,
        per_site=per_site,
        planned_by_now=planned_by(today, start, end, trial.target_enrollment) if start and end else None,
        with_arms=with_arms,
        version=f"{total}:{newest.isoformat() if newest else '-'}",
    )
    if with_arms:
        _balance(result, definition)
    return result


def _balance(result: Accrual, definition: dict[str, Any]) -> None:
    allocations = Allocation.objects.filter(trial=result.trial)
    names = _arm_names(definition)
    counts = dict(allocations.values_list("arm").annotate(n=Count("id")).values_list("arm", "n"))
    result.arms = [(code, name, counts.get(code, 0)) for code, name in names.items()]
    for factor in definition.get("randomization", {}).get("factors", []):
        code = factor["code"]
        rows = allocations.values("arm", level=KT(f"factors__{code}")).annotate(n=Count("id"))
        table: dict[str, dict[str, int]] = {}
        for row in rows:
            table.setdefault(str(row["level"]), {})[row["arm"]] = row["n"]
        label = _("site") if code == "site" else (readable.wording(factor) or readable.question_label(definition, code))
        levels = [str(v) for v in factor.get("levels", [])] or sorted(table)
        shown = {"yes": _("yes"), "no": _("no")}
        result.factors.append(
            {"code": code, "label": label, "levels": [(shown.get(lv, lv), table.get(lv, {})) for lv in levels]}
        )


def as_json(data: Accrual) -> dict[str, Any]:
    out: dict[str, Any] = {
        "trial": data.trial.registry_id,
        "target": data.target,
        "enrolled": data.enrolled,
        "planned": {
            "start": data.planned_start.isoformat() if data.planned_start else None,
            "end": data.planned_end.isoformat() if data.planned_end else None,
            "by_today": data.planned_by_now,
            "source": data.planned_source,
        },
        "months": [{"month": m.isoformat()[:7], "enrolled": n, "cumulative": c} for m, n, c in data.months],
        "sites": [{"site": code, "enrolled": n} for code, _name, n in data.per_site],
    }
    if data.with_arms:
        out["arms"] = [{"arm": code, "n": n} for code, _name, n in data.arms]
        out["factors"] = [
            {"factor": f["code"], "levels": [{"level": lv, "arms": arms} for lv, arms in f["levels"]]}
            for f in data.factors
        ]
    return out


def charts(data: Accrual, *, today: dt.date) -> dict[str, str]:
    """{"accrual": svg, "balance": svg (with arms only)}, cached per enrolment state and language."""
    key = (
        "accrual-charts:"
        + hashlib.sha256(
            json.dumps([data.trial.pk, data.version, data.with_arms, get_language(), today.isoformat()]).encode()
        ).hexdigest()[:32]
    )
    cached = cache_get(key, what="accrual charts")
    if cached is not None:
        return dict(cached)
    out = {"accrual": _accrual_svg(data, today)}
    if data.with_arms and data.factors:
        out["balance"] = _balance_svg(data)
    cache_set(key, out, timeout=86400, what="accrual charts")
    return out


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.sans-serif"] = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans"]
    plt.rcParams["svg.fonttype"] = "none"  # text stays text (searchable, translatable)
    return plt


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    _figure().close(fig)
    return buffer.getvalue()


def _accrual_svg(data: Accrual, today: dt.date) -> str:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    if data.months:
        xs = [m for m, _n, _c in data.months] + [today]
        ys = [c for _m, _n, c in data.months] + [data.enrolled]
        ax.step(xs, ys, where="post", color="#1f5fa8", linewidth=2, label=_("enrolled"))
    if data.planned_start and data.planned_end:
        ax.plot(
            [data.planned_start, data.planned_end],
            [0, data.target],
            color="#888",
            linestyle="--",
            label=_("planned accrual"),
        )
    ax.axhline(data.target, color="#b00", linewidth=1, label=_("target (%(n)s)") % {"n": data.target})
    ax.set_xlabel(_("month"))
    ax.set_ylabel(_("participants randomized (cumulative)"))
    ax.legend(loc="upper left", frameon=False)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _svg(fig)


def _balance_svg(data: Accrual) -> str:
    plt = _figure()
    groups = [(f["label"], lv, arms) for f in data.factors for lv, arms in f["levels"]]
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * max(len(groups), 1)))
    height = 0.8 / max(len(data.arms), 1)
    colours = ["#1f5fa8", "#e08a1e", "#3a9a4a", "#8a3ab9"]
    for i, (code, name, _n) in enumerate(data.arms):
        ax.barh(
            [g + i * height for g in range(len(groups))],
            [arms.get(code, 0) for _label, _lv, arms in groups],
            height=height,
            color=colours[i % len(colours)],
            label=name,
        )
    ax.set_yticks([g + height * (len(data.arms) - 1) / 2 for g in range(len(groups))])
    ax.set_yticklabels([f"{label}: {lv}" for label, lv, _arms in groups])
    ax.invert_yaxis()
    ax.set_xlabel(_("participants"))
    ax.legend(loc="lower right", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)
