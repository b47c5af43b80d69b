"""The scenarios that ship inside the package, by name (no YAML parsed: cheap to import)."""

from __future__ import annotations

from pathlib import Path

#: where the shipped scenarios live (in a checkout, a symlink to the top-level ``scenarios/``)
SHIPPED_DIR = Path(__file__).resolve().parent / "scenarios"


def shipped_scenarios() -> dict[str, Path]:
    """The scenarios that ship with dialog-rl, by name (``restaurant``: its YAML file)."""
    if not SHIPPED_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.yaml"))}
