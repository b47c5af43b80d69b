"""Shared fixtures: the shipped scenarios, compiled once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialog_rl.domain import load_domain

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
#: ../shared/data beside the checkout (or beside the folder of a worktree)
SHARED_DATA = next(
    (p / "shared" / "data" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()),
    ROOT.parent / "shared" / "data",
)


@pytest.fixture(scope="session")
def domains():
    return {p.stem: load_domain(str(p)) for p in SCENARIOS}


@pytest.fixture(scope="session")
def restaurant(domains):
    return domains["restaurant"]


@pytest.fixture(scope="session")
def multiwoz() -> Path:
    """The folder of MultiWOZ's validation dialogues; tests that need real turns skip without."""
    folder = SHARED_DATA / "multiwoz"
    if not (folder / "restaurant_val_dialogues.json").is_file():
        pytest.skip(f"no MultiWOZ validation dialogues in {folder}")
    return folder
