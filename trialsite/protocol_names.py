"""The short names of a protocol's codes (arms, phases, drugs) as readers see them, from the
protocol definitions: each arm, phase or drug may give `label` (English) and `label_zh`
(Simplified Chinese); a code without a label is shown as it is.

Pages name codes many times (every row of a list), so the names are held per process and a
lookup never reads the database: they come from the protocol files (trialsite/protocols/*.yaml,
read once), from every protocol version this process saves or loads (signals connected in
TrialsiteConfig.ready) and from a trial saved with its current protocol at hand. Where two
definitions label one code, the one met last wins; a definition that gives no label for a code
leaves the name it has."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

KINDS = ("arm", "phase", "drug")
PROTOCOLS_DIR = Path(__file__).resolve().parent / "protocols"

# kind → code → (English, Chinese); None until first used.
_names: dict[str, dict[str, tuple[str, str]]] | None = None
_seen: set[int] = set()  # ProtocolVersion ids already merged
_lock = threading.Lock()


def _entries(definition: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(kind, code, entry) of each arm, phase and drug of a definition."""
    out: list[tuple[str, str, Mapping[str, Any]]] = []
    for arm in definition.get("arms") or []:
        out.append(("arm", str(arm.get("code", "")), arm))
    for phase in definition.get("phases") or []:
        out.append(("phase", str(phase.get("code", "")), phase))
    drugs = definition.get("drugs") or {}
    for code in drug_order(definition):
        drug = drugs[code]
        out.append(("drug", str(code), drug if isinstance(drug, Mapping) else {}))
    return out


def drug_order(definition: Mapping[str, Any]) -> list[str]:
    """The definition's drug codes in the order its regimens list them (arms in order), then any
    other drug by code. (A definition read from the database has its mappings' keys in jsonb
    order, not the file's: the lists keep the protocol's order.)"""
    drugs = definition.get("drugs") or {}
    regimens = definition.get("regimens") or {}
    order: dict[str, None] = {}
    for arm in definition.get("arms") or []:
        for listed in (regimens.get(arm.get("code")) or {}).values():
            order.update((code, None) for code in listed if code in drugs)
    order.update((code, None) for code in sorted(drugs))
    return list(order)


def _merge(names: dict[str, dict[str, tuple[str, str]]], definition: Mapping[str, Any], *, override: bool) -> None:
    for kind, code, entry in _entries(definition):
        label, label_zh = entry.get("label"), entry.get("label_zh")
        if not code or not (label or label_zh):
            continue
        if not override and code in names[kind]:
            continue
        english = str(label or code)
        names[kind][code] = (english, str(label_zh or english))


def _from_files() -> dict[str, dict[str, tuple[str, str]]]:
    names: dict[str, dict[str, tuple[str, str]]] = {kind: {} for kind in KINDS}
    for path in sorted(PROTOCOLS_DIR.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue  # an unreadable file is refused when loaded; here it names nothing
        if isinstance(data, Mapping):
            _merge(names, data, override=True)
    return names


def _table() -> dict[str, dict[str, tuple[str, str]]]:
    global _names
    if _names is None:
        with _lock:
            if _names is None:
                _names = _from_files()
    return _names


def learn(definition: Mapping[str, Any], *, override: bool = True) -> None:
    """Take the labels of a definition (a protocol version saved or read by this process)."""
    table = _table()
    with _lock:
        _merge(table, definition, override=override)


def reset() -> None:
    """Forget everything learnt (tests); the next lookup reads the protocol files again."""
    global _names
    with _lock:
        _names = None
        _seen.clear()


def name(kind: str, code: str, language: str | None) -> str:
    """The code's short name for a reader of `language` ("zh-hans": the Chinese label), or the
    code itself when no protocol labels it."""
    pair = _table()[kind].get(code)
    if pair is None:
        return code
    return pair[1] if language == "zh-hans" else pair[0]


def codes(kind: str) -> list[str]:
    """Every code of `kind` that a known protocol labels, in the order met."""
    return list(_table()[kind])


# Signal receivers (connected in TrialsiteConfig.ready).


def on_protocol_version_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if isinstance(instance.definition, Mapping):
        learn(instance.definition)
        if instance.pk is not None:
            _seen.add(instance.pk)


def on_protocol_version_loaded(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A version read from the database (not deferred): its labels for codes not yet named."""
    pk = instance.__dict__.get("id")
    if pk is None or pk in _seen or not isinstance(instance.__dict__.get("definition"), Mapping):
        return
    _seen.add(pk)
    learn(instance.__dict__["definition"], override=False)


def on_trial_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A trial saved with its current protocol at hand (protocol_load): that version's labels."""
    field = type(instance)._meta.get_field("current_protocol")
    if field.is_cached(instance) and instance.current_protocol is not None:
        learn(instance.current_protocol.definition)


def current_definitions() -> list[dict[str, Any]]:
    """The current protocol definition of every loaded trial (one query), for a form's choices;
    their labels are learnt on the way."""
    from trialsite.models import Trial

    definitions = list(
        Trial.objects.exclude(current_protocol=None)
        .order_by("registry_id")
        .values_list("current_protocol__definition", flat=True)
    )
    for definition in definitions:
        learn(definition, override=False)
    return definitions


def choices(
    kind: str,
    language: str | None,
    *,
    phase_kind: str | None = None,
    definitions: list[dict[str, Any]] | None = None,
) -> list[tuple[str, str]]:
    """(code, name) of the loaded trials' arms, phases (of `phase_kind` only, when given) or
    drugs (of `definitions`, read when not given), in protocol order, each code once."""
    out: dict[str, str] = {}
    for definition in current_definitions() if definitions is None else definitions:
        for entry_kind, code, entry in _entries(definition):
            if entry_kind == kind and (phase_kind is None or entry.get("kind") == phase_kind):
                out.setdefault(code, name(kind, code, language))
    return list(out.items())
