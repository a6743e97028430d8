"""The platform rule: a second trial with another regimen is a protocol file alone, so no code
names this trial's drugs or arms; they come from the protocol (trialsite/protocols/*.yaml).

Every string literal of the project's Python modules (docstrings and comments are free to cite
a drug) is checked against the codes the shipped protocols declare. Reference data transcribed
from a product label and the OpenAPI examples (sample requests for this trial) are the only
places allowed to name them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
APPS = ("trialsite", "randomization", "schedules", "adverse_events", "dosing", "reminders", "exports")
# file → why it may name a drug or an arm
ALLOWED = {
    "dosing/tables.py": "reference data transcribed from the product labels, keyed by table code",
    "dosing/api.py": "OpenAPI examples: sample requests and answers for this trial",
    "randomization/api.py": "OpenAPI examples",
    "adverse_events/api.py": "OpenAPI examples",
}
# (file, literal) that use a code's word for something else
ALLOWED_LITERALS = {
    ("trialsite/settings.py", "control"): "kombu's filesystem broker keeps its control messages in a folder so named",
    ("trialsite/settings.py", "control_folder"): "the kombu filesystem transport option",
}


def _codes() -> set[str]:
    codes: set[str] = set()
    for path in Path(settings.PROTOCOL_DIR).glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        codes |= set(data["drugs"]) | {arm["code"] for arm in data["arms"]}
    return codes


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _named(codes: set[str]) -> list[str]:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel or rel in ALLOWED:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            skip = _docstrings(tree)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in skip
                    and (rel, node.value) not in ALLOWED_LITERALS
                ):
                    text = node.value.lower()
                    hits = sorted(c for c in codes if c in text.replace("-", "_").split() or text == c)
                    hits += sorted(c for c in codes if f"{c}_" in text or f"_{c}" in text)
                    if hits:
                        found.append(f"{rel}:{node.lineno}: {node.value!r} names {', '.join(sorted(set(hits)))}")
    return found


def test_the_shipped_protocol_declares_the_codes_this_test_looks_for() -> None:
    # Xeloda, Eloxatin and serplulimab regimens of NCT06850103 (the registry record), two arms.
    assert {"capecitabine", "oxaliplatin", "serplulimab", "experimental", "control"} <= _codes()


def test_no_module_names_a_drug_or_an_arm_of_the_protocol() -> None:
    found = _named(_codes())
    assert not found, "\n".join(found)


@pytest.mark.parametrize("literal", ["capecitabine", "stop capecitabine on day 15", "capecitabine_stop"])
def test_the_scan_would_find_one(tmp_path: Path, literal: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = tmp_path / "dosing"
    app.mkdir()
    (app / "mod.py").write_text(f'"""Capecitabine in a docstring is fine."""\nKEY = {literal!r}\n', encoding="utf-8")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    found = _named({"capecitabine"})
    assert found == [f"dosing/mod.py:2: {literal!r} names capecitabine"]
