"""The `web` service's gunicorn arguments in docker-compose.yml, shared by the benchmarks that run
gunicorn (bench/load.py, bench/randomize.py), so that they measure production's server shape."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def production_gunicorn_args() -> list[str]:
    """The `web` service's gunicorn arguments in docker-compose.yml, without the app and --bind."""
    import yaml

    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    assert command[:2] == ["gunicorn", "trialsite.wsgi:application"], command
    args, rest = [], iter(command[2:])
    for arg in rest:
        if arg in ("--bind", "-b"):
            next(rest)
        else:
            args.append(arg)
    return args
