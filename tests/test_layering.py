"""The project's apps are floors: an app imports only its own floor and the ones below it, so no
import cycle can form and the registry never depends on a feature. The floors, from the bottom:
trialsite (the registry, and the shared plumbing such as transports and phrases), randomization,
schedules, dosing (reads the plan's cycles), reminders (reads plans and dose sheets). A higher
floor hears from a lower one by signal or by a query the lower floor lets it register
(schedules/dependants.py); it never needs a lazy import, so every import counts here, at the top
of a module or inside a function, and so do imports made only for type checking."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOORS = ("trialsite", "randomization", "schedules", "adverse_events", "dosing", "reminders", "exports")
FLOOR = {app: n for n, app in enumerate(FLOORS)}


def _modules(app: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / app).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module `module` imports (absolute and relative, wherever the statement is)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield ".".join([*base, node.module] if node.module else base), node.lineno
            else:
                yield node.module or "", node.lineno


def _app_edges() -> list[tuple[str, str, str]]:
    """(importing app, imported app, "path:line") for each import of another project app."""
    edges = []
    for app in FLOORS:
        for module, path in _modules(app):
            for name, line in _imports(module, path):
                target = name.split(".")[0]
                if target in FLOOR and target != app:
                    edges.append((app, target, f"{path.relative_to(ROOT)}:{line}"))
    return edges


def test_the_walker_sees_the_imports_it_must() -> None:
    # given the known downward imports, then the walker finds them (a walker that sees nothing
    # would pass every test below)
    edges = {(a, b) for a, b, _ in _app_edges()}
    assert ("reminders", "schedules") in edges
    assert ("reminders", "dosing") in edges
    assert ("dosing", "schedules") in edges


@pytest.mark.parametrize("lower", ["schedules", "dosing"])
def test_schedules_and_dosing_never_import_reminders(lower: str) -> None:
    found = [where for app, target, where in _app_edges() if app == lower and target == "reminders"]
    assert not found, f"{lower} imports reminders at {found}"


def test_no_app_imports_a_floor_above_it() -> None:
    upward = [f"{where}: {app} imports {target}" for app, target, where in _app_edges() if FLOOR[target] > FLOOR[app]]
    assert not upward, "imports upward:\n" + "\n".join(upward)


def test_no_import_cycle_among_the_apps() -> None:
    # Implied by the floors, and checked on its own so that a change of FLOORS cannot hide one.
    graph: dict[str, set[str]] = {app: set() for app in FLOORS}
    for app, target, _ in _app_edges():
        graph[app].add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or reaches(nxt, goal, seen | {nxt}) for nxt in graph[start] - seen)

    cycles = [app for app in FLOORS if reaches(app, app, set())]
    assert not cycles, f"apps in an import cycle: {cycles}"
